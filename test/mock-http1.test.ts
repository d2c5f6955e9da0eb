/**
 * End to end: traffic recorded with the real recorder against real origins (plain HTTP and
 * HTTPS), the origins stopped, then served by the responder to real clients (curl through the
 * HTTP proxy, CONNECT and SOCKS, Node fetch through undici's ProxyAgent, python urllib, raw
 * sockets): recorded answers with headers in order, sequences, explained misses, passthrough,
 * --map with TLS, latency, faults with a fixed seed, hot reload and malformed requests.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { fetch, ProxyAgent } from 'undici';
import { startResponder, type Responder, type ResponderOptions } from '../src/mock/responder.ts';
import { CA_CERT_FILE } from '../src/protocols/tls/ca.ts';
import { openStore } from '../src/store/fs/index.ts';
import { cleanEnv, curl, curlResponseHeaders, needTool, python3, SocketReader } from './helpers/forward.ts';
import { run, startOrigin } from './helpers/peers.ts';
import { startTestRecording } from './helpers/recording.ts';
import { makeOriginPki, startHttpsOrigin, type OriginPki } from './helpers/tls-peers.ts';

const noCurl = needTool('curl');

describe('tapwire mock: HTTP/1 from recorded traffic', () => {
  let pki: OriginPki;
  let caDir: string;
  let caFile: string;
  let storeDir: string;
  let snapshotId: string;
  let plainPort: number;
  let httpsPort: number;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tapwire-mock-test-'));
  const responders: Responder[] = [];

  async function start(extra: Partial<ResponderOptions> = {}): Promise<Responder> {
    const r = await startResponder({
      snapshots: [snapshotId],
      store: openStore(storeDir),
      outPort: 0,
      adminPort: 0,
      caDir,
      logger: pino({ level: 'silent' }),
      watch: false,
      ...extra,
    });
    responders.push(r);
    return r;
  }

  const proxy = (r: Responder) => `http://127.0.0.1:${r.outbound.port}`;

  before(async () => {
    pki = await makeOriginPki();
    caDir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-ca-'));
    caFile = path.join(caDir, CA_CERT_FILE);
    let seq = 0;
    const plain = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = req.url ?? '';
        if (url === '/users/7') {
          res.setHeader('X-Zulu', 'z');
          res.setHeader('Content-Type', 'application/json');
          res.setHeader('Set-Cookie', ['a=1', 'b=2']);
          res.setHeader('X-Alpha', 'a');
          res.end('{"id":7,"name":"ada"}');
        } else if (url === '/seq') {
          res.end(++seq === 1 ? 'first' : 'second');
        } else if (url === '/chunked') {
          res.write('a');
          res.write('b');
          res.end('c');
        } else if (url === '/slow') {
          setTimeout(() => res.end('slow'), 300);
        } else if (url === '/echo') {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ got: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
        } else {
          res.statusCode = 418;
          res.end('teapot');
        }
      });
    });
    const secure = await startHttpsOrigin(await pki.issue('localhost'), (req, res) => {
      res.setHeader('X-Secure', '1');
      res.end(`secret ${req.url}`);
    });
    plainPort = plain.port;
    httpsPort = secure.port;
    const rec = await startTestRecording({ proxyType: 'forward', upstreamCa: [pki.caFile] }, { caDir });
    try {
      const p = rec.outProxy;
      const base = `http://127.0.0.1:${plainPort}`;
      for (const u of ['/users/7', '/seq', '/seq', '/chunked', '/slow'])
        assert.equal((await curl(['-x', p, base + u])).code, 0);
      const post = await curl([
        '-x',
        p,
        '-H',
        'Content-Type: application/json',
        '--data-binary',
        '{"b":2,"a":1}',
        base + '/echo',
      ]);
      assert.equal(post.code, 0);
      const s = await curl(['-x', p, '--cacert', caFile, `https://localhost:${httpsPort}/secure?x=1`]);
      assert.equal(s.stdout, 'secret /secure?x=1', s.stderr);
      snapshotId = rec.recording.snapshotId;
      storeDir = rec.storeDir;
      await rec.stopAndRead();
    } finally {
      // The origins go: from here on every answer comes from the snapshot.
      await Promise.all([plain.close(), secure.close()]);
    }
  });

  after(async () => {
    await Promise.all(responders.map((r) => r.stop()));
    pki.cleanup();
    for (const d of [caDir, storeDir, tmp]) rmSync(d, { recursive: true, force: true });
  });

  it('answers curl -x with the recorded status, headers in order and body', { skip: noCurl }, async () => {
    const r = await start();
    const out = await curl(['-x', proxy(r), '-D', '-', `http://127.0.0.1:${plainPort}/users/7`]);
    assert.equal(out.code, 0, out.stderr);
    const { status, headers } = curlResponseHeaders(out.stdout);
    assert.equal(status, 200);
    const names = headers.map(([n]) => n.toLowerCase());
    assert.deepEqual(
      names.filter((n) => ['x-zulu', 'content-type', 'set-cookie', 'x-alpha'].includes(n)),
      ['x-zulu', 'content-type', 'set-cookie', 'set-cookie', 'x-alpha'],
    );
    assert.ok(out.stdout.endsWith('{"id":7,"name":"ada"}'));
    // A recorded chunked response is served with a Content-Length instead.
    const chunked = await curl(['-x', proxy(r), '-D', '-', `http://127.0.0.1:${plainPort}/chunked`]);
    const h = curlResponseHeaders(chunked.stdout).headers.map(([n, v]) => [n.toLowerCase(), v]);
    assert.ok(!h.some(([n]) => n === 'transfer-encoding'));
    assert.deepEqual(
      h.find(([n]) => n === 'content-length'),
      ['content-length', '3'],
    );
    assert.ok(chunked.stdout.endsWith('\r\n\r\nabc'));
  });

  it('answers a HEAD from a recorded GET: the same head, no body', { skip: noCurl }, async () => {
    const r = await start();
    const out = await curl(['-x', proxy(r), '-I', `http://127.0.0.1:${plainPort}/users/7`]);
    assert.equal(out.code, 0, out.stderr);
    const { status, headers } = curlResponseHeaders(out.stdout);
    assert.equal(status, 200);
    assert.deepEqual(
      headers.find(([n]) => n.toLowerCase() === 'content-length'),
      ['Content-Length', String('{"id":7,"name":"ada"}'.length)],
    );
    assert.ok(out.stdout.endsWith('\r\n\r\n'), 'no body after the head');
    assert.equal(r.stats().matched, 1);
  });

  it('answers repeated requests in recorded order, then repeats the last', { skip: noCurl }, async () => {
    const r = await start();
    const url = `http://127.0.0.1:${plainPort}/seq`;
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await curl(['-x', proxy(r), url])).stdout);
    assert.deepEqual(got, ['first', 'second', 'second']);
  });

  it('explains a miss: 404, X-Tapwire-Mock: miss, JSON with the closest candidates', { skip: noCurl }, async () => {
    const r = await start();
    const out = await curl(['-x', proxy(r), '-D', '-', `http://127.0.0.1:${plainPort}/users/8`]);
    const { status, headers } = curlResponseHeaders(out.stdout);
    assert.equal(status, 404);
    assert.ok(headers.some(([n, v]) => n === 'X-Tapwire-Mock' && v === 'miss'));
    const body = JSON.parse(out.stdout.slice(out.stdout.indexOf('\r\n\r\n') + 4)) as {
      error: string;
      explanation: string;
      request: string;
      candidates: Array<{ request: string; differences: Array<{ part: string }> }>;
    };
    assert.equal(body.request, `GET http://127.0.0.1:${plainPort}/users/8`);
    assert.ok(body.explanation.length > 0);
    assert.ok(
      body.candidates.some((c) => c.request.includes('/users/7')),
      JSON.stringify(body.candidates),
    );
    const stats = r.stats();
    assert.equal(stats.missed, 1);
    assert.equal(stats.misses[0]?.request, body.request);
    // The admin endpoint tells the same story.
    const matches = (await (await fetch(`${r.admin.url}/matches`)).json()) as { missed: number; misses: unknown[] };
    assert.equal(matches.missed, 1);
    const metrics = await (await fetch(`${r.admin.url}/metrics`)).text();
    assert.match(metrics, /tapwire_mock_requests_total\{outcome="missed"\} 1/);
    assert.equal((await fetch(`${r.admin.url}/readyz`)).status, 200);
  });

  it('matches a JSON body whatever its key order', { skip: noCurl }, async () => {
    const r = await start();
    const out = await curl([
      '-x',
      proxy(r),
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '{"a":1,"b":2}',
      `http://127.0.0.1:${plainPort}/echo`,
    ]);
    assert.deepEqual(JSON.parse(out.stdout), { got: { b: 2, a: 1 } });
  });

  it('serves HTTPS through CONNECT and SOCKS with a leaf of the local CA', { skip: noCurl }, async () => {
    const r = await start();
    const url = `https://localhost:${httpsPort}/secure?x=1`;
    const connect = await curl(['-x', proxy(r), '--cacert', caFile, url]);
    assert.equal(connect.stdout, 'secret /secure?x=1', connect.stderr);
    const socks = await curl(['--proxy', `socks5h://127.0.0.1:${r.outbound.port}`, '--cacert', caFile, url]);
    assert.equal(socks.stdout, 'secret /secure?x=1', socks.stderr);
    const socks4 = await curl([
      '--proxy',
      `socks4a://127.0.0.1:${r.outbound.port}`,
      `http://127.0.0.1:${plainPort}/users/7`,
    ]);
    assert.equal(socks4.stdout, '{"id":7,"name":"ada"}', socks4.stderr);
  });

  it('answers Node fetch (undici ProxyAgent: CONNECT, keep-alive) and python urllib', async () => {
    const r = await start();
    const agent = new ProxyAgent({ uri: proxy(r), connections: 1, requestTls: { ca: readCa(caFile) } });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`http://127.0.0.1:${plainPort}/users/7`, { dispatcher: agent });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-alpha'), 'a');
        assert.equal(await res.text(), '{"id":7,"name":"ada"}');
      }
      const s = await fetch(`https://localhost:${httpsPort}/secure?x=1`, { dispatcher: agent });
      assert.equal(await s.text(), 'secret /secure?x=1');
    } finally {
      await agent.close();
    }
    const script = 'import urllib.request,sys\nprint(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")';
    const py = await run(python3(), ['-c', script, `http://127.0.0.1:${plainPort}/users/7`], {
      env: cleanEnv({ http_proxy: proxy(r) }),
    });
    assert.equal(py.stdout, '{"id":7,"name":"ada"}', py.stderr);
  });

  it('--map serves TLS with a leaf for its host, and plain HTTP on the same port', { skip: noCurl }, async () => {
    const r = await start({
      maps: [
        { listenPort: 0, host: 'localhost', port: httpsPort },
        { listenPort: 0, host: '127.0.0.1', port: plainPort },
      ],
    });
    const [tlsMap, plainMap] = r.maps;
    const out = await curl(['--cacert', caFile, `https://localhost:${tlsMap?.port}/secure?x=1`]);
    assert.equal(out.stdout, 'secret /secure?x=1', out.stderr);
    const plain = await curl([`http://127.0.0.1:${plainMap?.port}/users/7`]);
    assert.equal(plain.stdout, '{"id":7,"name":"ada"}');
  });

  it('serves pipelined requests in order, Expect: 100-continue with a chunked body', async () => {
    const r = await start();
    const host = `127.0.0.1:${plainPort}`;
    const socket = net.connect(r.outbound.port, '127.0.0.1');
    const reader = new SocketReader(socket);
    socket.write(
      `GET http://${host}/users/7 HTTP/1.1\r\nHost: ${host}\r\n\r\n` +
        `GET http://${host}/nope HTTP/1.1\r\nHost: ${host}\r\n\r\n` +
        `POST http://${host}/echo HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        'Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    const first = await readResponse(reader);
    assert.match(first.head, /^HTTP\/1\.1 200 /);
    assert.equal(first.body, '{"id":7,"name":"ada"}');
    const second = await readResponse(reader);
    assert.match(second.head, /^HTTP\/1\.1 404 /);
    const cont = await readHead(reader);
    assert.match(cont, /^HTTP\/1\.1 100 Continue/);
    socket.write('5\r\n{"a":\r\n8\r\n1,"b":2}\r\n0\r\n\r\n');
    const third = await readResponse(reader);
    assert.match(third.head, /^HTTP\/1\.1 200 /);
    assert.deepEqual(JSON.parse(third.body), { got: { b: 2, a: 1 } });
    socket.destroy();
  });

  it('answers a malformed request 400 and keeps serving', { skip: noCurl }, async () => {
    const r = await start();
    const socket = net.connect(r.outbound.port, '127.0.0.1');
    const reader = new SocketReader(socket);
    socket.write(`GET http://127.0.0.1:${plainPort}/users/7 HTTP/1.1\r\nBad Header\r\n\r\n`);
    const bad = await readResponse(reader);
    assert.match(bad.head, /^HTTP\/1\.1 400 /);
    assert.match(bad.head, /X-Tapwire-Error: TW_HTTP_BAD_HEADER/);
    const out = await curl(['-x', proxy(r), `http://127.0.0.1:${plainPort}/users/7`]);
    assert.equal(out.stdout, '{"id":7,"name":"ada"}');
    assert.equal(r.stats().malformed, 1);
  });

  it('--latency recorded waits as long as the dependency took', { skip: noCurl }, async () => {
    const none = await start();
    const t0 = performance.now();
    await curl(['-x', proxy(none), `http://127.0.0.1:${plainPort}/slow`]);
    const fast = performance.now() - t0;
    const r = await start({ latency: 'recorded' });
    const t1 = performance.now();
    const out = await curl(['-x', proxy(r), `http://127.0.0.1:${plainPort}/slow`]);
    const slow = performance.now() - t1;
    assert.equal(out.stdout, 'slow');
    assert.ok(slow >= 280, `answered in ${slow} ms, recorded ~300 ms`);
    assert.ok(fast < slow, `without latency ${fast} ms`);
  });

  it('injects faults by host, path and method: status, delay, reset, stall', { skip: noCurl }, async () => {
    const config = path.join(tmp, 'faults.yaml');
    writeFileSync(
      config,
      [
        'seed: 7',
        'faults:',
        '  - { name: boom, path: /users/*, method: GET, status: 503 }',
        '  - { name: slowdown, path: /chunked, delayMs: 200 }',
        '  - { name: cut, path: /seq, reset: true }',
        '  - { name: hang, path: /echo, stall: true }',
        '  - { name: coin, host: "127.0.0.1", path: /slow, probability: 0.5, status: 500 }',
      ].join('\n'),
    );
    const r = await start({ configFile: config });
    const base = `http://127.0.0.1:${plainPort}`;
    const boom = await curl(['-x', proxy(r), '-D', '-', `${base}/users/7`]);
    const h = curlResponseHeaders(boom.stdout);
    assert.equal(h.status, 503);
    assert.ok(h.headers.some(([n, v]) => n === 'X-Tapwire-Fault' && v === 'boom'));

    const t0 = performance.now();
    const slow = await curl(['-x', proxy(r), '-D', '-', `${base}/chunked`]);
    assert.ok(performance.now() - t0 >= 190);
    assert.ok(curlResponseHeaders(slow.stdout).headers.some(([n, v]) => n === 'X-Tapwire-Fault' && v === 'slowdown'));
    assert.ok(slow.stdout.endsWith('abc'));

    const cut = await curl(['-x', proxy(r), `${base}/seq`]);
    assert.notEqual(cut.code, 0, 'a reset connection is an error for curl');
    assert.match(cut.stderr, /reset|empty reply|Recv failure/i);

    // A stalled request is never answered: the client gives up (its own timeout) with nothing.
    const socket = net.connect(r.outbound.port, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.setTimeout(300);
    socket.write(`POST ${base}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`);
    await new Promise<void>((resolve) => socket.once('timeout', resolve));
    assert.equal(got, '');
    assert.equal(socket.destroyed, false, 'the mock keeps a stalled connection open');
    socket.destroy();

    // Probability draws come from the seed: the same seed gives the same faults.
    const draws = async (resp: Responder) => {
      const out: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await curl(['-x', proxy(resp), '-o', '/dev/null', '-w', '%{http_code}', `${base}/slow`]);
        out.push(Number(res.stdout));
      }
      return out;
    };
    const a = await draws(await start({ configFile: config, latency: 'none' }));
    const b = await draws(await start({ configFile: config, latency: 'none' }));
    assert.deepEqual(a, b);
    assert.ok(a.includes(500) && a.includes(200), `a fair coin over 8 draws: ${a.join(',')}`);
    assert.equal(r.stats().faults['boom'], 1);
  });

  it('--passthrough sends a miss to the live host (TLS verified) and counts it', { skip: noCurl }, async () => {
    const live = await startOrigin((req, res) => res.end(`live ${req.url}`));
    const liveTls = await startHttpsOrigin(await pki.issue('localhost'), (req, res) => res.end(`live tls ${req.url}`));
    try {
      const r = await start({ passthrough: true, upstreamCa: [pki.caFile] });
      const out = await curl(['-x', proxy(r), '-D', '-', `http://127.0.0.1:${live.port}/fresh`]);
      assert.ok(out.stdout.endsWith('live /fresh'));
      assert.ok(
        curlResponseHeaders(out.stdout).headers.some(([n, v]) => n === 'X-Tapwire-Mock' && v === 'passthrough'),
      );
      const tls = await curl(['-x', proxy(r), '--cacert', caFile, `https://localhost:${liveTls.port}/t`]);
      assert.equal(tls.stdout, 'live tls /t', tls.stderr);
      // Recorded requests are still answered from the snapshot.
      const rec = await curl(['-x', proxy(r), `http://127.0.0.1:${plainPort}/users/7`]);
      assert.equal(rec.stdout, '{"id":7,"name":"ada"}');
      const s = r.stats();
      assert.equal(s.passedThrough, 2);
      assert.equal(s.missed, 0);
      assert.equal(s.matched, 1);
    } finally {
      await Promise.all([live.close(), liveTls.close()]);
    }
  });

  it('reloads a new snapshot recorded into a watched directory, and an edited config', { skip: noCurl }, async () => {
    // A directory of snapshots: what is recorded into it later is served without a restart.
    const collection = path.join(tmp, 'snaps');
    cpSync(path.join(storeDir, 'snapshots'), collection, { recursive: true });
    const config = path.join(tmp, 'reload.yaml');
    writeFileSync(config, 'latency: none\n');
    const r = await start({ snapshots: [collection], configFile: config, watch: true, reloadDebounceMs: 50 });
    const fresh = await startOrigin((_req, res) => res.end('recorded later'));
    const rec = await startTestRecording({ proxyType: 'forward' });
    try {
      assert.equal((await curl(['-x', rec.outProxy, `http://127.0.0.1:${fresh.port}/later`])).stdout, 'recorded later');
      await rec.stopAndRead();
    } finally {
      await fresh.close();
    }
    const before = await curl([
      '-x',
      proxy(r),
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${fresh.port}/later`,
    ]);
    assert.equal(before.stdout, '404');
    const reloaded = r.nextReload();
    cpSync(path.join(rec.storeDir, 'snapshots'), collection, { recursive: true });
    assert.equal((await reloaded).ok, true);
    await rec.cleanup();
    const after = await curl(['-x', proxy(r), `http://127.0.0.1:${fresh.port}/later`]);
    assert.equal(after.stdout, 'recorded later');

    // A broken config keeps the old state; a fixed one is picked up.
    let next = r.nextReload();
    writeFileSync(config, 'latency: none\nbogus: 1\n');
    const broken = await next;
    assert.equal(broken.ok, false);
    assert.match(broken.error ?? '', /bogus/);
    assert.equal(
      (await curl(['-x', proxy(r), `http://127.0.0.1:${plainPort}/users/7`])).stdout,
      '{"id":7,"name":"ada"}',
    );
    next = r.nextReload();
    writeFileSync(config, 'faults:\n  - { name: now-failing, path: /users/7, status: 502 }\n');
    assert.equal((await next).ok, true);
    const faulted = await curl([
      '-x',
      proxy(r),
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${plainPort}/users/7`,
    ]);
    assert.equal(faulted.stdout, '502');
  });
});

function readCa(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Reads one response head (up to CRLFCRLF) from the reader, byte by byte. */
async function readHead(reader: SocketReader): Promise<string> {
  let head = '';
  while (!head.endsWith('\r\n\r\n')) {
    const b = await reader.read(1);
    if (b.length === 0) throw new Error(`connection closed after ${JSON.stringify(head)}`);
    head += b.toString('latin1');
  }
  return head;
}

async function readResponse(reader: SocketReader): Promise<{ head: string; body: string }> {
  const head = await readHead(reader);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const body = (await reader.read(length)).toString('utf8');
  return { head, body };
}
