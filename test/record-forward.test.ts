/**
 * End to end: real clients (curl, python3 urllib, Node fetch through undici's ProxyAgent, raw
 * sockets) → tapwire's outbound port as an HTTP proxy (absolute-form), through CONNECT, and
 * through SOCKS4/4a/5 → a real origin; each test checks what the client got and what was
 * recorded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetch, ProxyAgent } from 'undici';
import { decodeBody } from '../src/model/body.ts';
import type { HttpExchange } from '../src/model/exchange.ts';
import {
  cleanEnv,
  connectTo,
  curl,
  curlResponseHeaders,
  httpExchanges,
  needTool,
  onlyHttp,
  pairs,
  python3,
  SocketReader,
  startEchoOrigin,
  withoutProxyHeaders,
  type Echo,
  withRecording,
} from './helpers/forward.ts';
import { run, type Origin } from './helpers/peers.ts';

const noCurl = needTool('curl');
const noPython = needTool(python3(), ['-c', 'import urllib.request']);

/** Splits curl's `-D -` output into the last response head and the body. */
function splitDump(stdout: string): { status: number; headers: [string, string][]; body: string } {
  const end = stdout.lastIndexOf('\r\n\r\n');
  const { status, headers } = curlResponseHeaders(stdout.slice(0, end + 4));
  return { status, headers, body: stdout.slice(end + 4) };
}

/** The checks every proxied HTTP exchange passes: the record matches what both ends saw. */
function assertRecordedAsSeen(
  x: HttpExchange,
  echo: Echo,
  client: { status: number; headers: [string, string][]; body: string },
  url: string,
  dst: string,
): void {
  assert.equal(x.direction, 'outbound');
  assert.equal(x.protocol, 'http');
  assert.equal(x.request.url, url);
  assert.equal(x.request.method, echo.method);
  assert.equal(x.dst, dst);
  assert.match(x.src ?? '', /^127\.0\.0\.1:\d+$/);
  // The request headers, in order and case, are what reached the origin (less proxy-only ones).
  assert.deepEqual(withoutProxyHeaders(x.request.headers), pairs(echo.rawHeaders));
  assert.equal(decodeBody(x.request.body).toString('utf8'), echo.body);
  assert.equal(x.response?.status, client.status);
  // The response headers, in order and case, are what reached the client.
  assert.deepEqual(x.response?.headers, client.headers);
  assert.equal(decodeBody(x.response?.body).toString('utf8'), client.body);
  assert.equal(x.error, undefined);
  assert.equal(x.tags?.['proxyType'], 'forward');
}

describe('record: outbound forward proxy with real clients', { skip: noCurl }, () => {
  let origin: Origin;
  let other: Origin;
  let scratch: string;

  before(async () => {
    origin = await startEchoOrigin('a');
    other = await startEchoOrigin('b');
    scratch = mkdtempSync(path.join(os.tmpdir(), 'tapwire-forward-'));
  });

  after(async () => {
    await origin.close();
    await other.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('curl -x: absolute-form GET, forwarded in origin-form, headers kept in order', async () => {
    await withRecording(async (rec) => {
      const url = `${origin.url}/abs/path?q=1&r=2`;
      const res = await curl([
        '-D',
        '-',
        '-x',
        rec.outProxy,
        '-H',
        'X-First: 1',
        '-H',
        'x-MiXeD-case: yes',
        '-H',
        'X-First: 2',
        url,
      ]);
      assert.equal(res.code, 0, res.stderr);
      const client = splitDump(res.stdout);
      assert.equal(client.status, 200);
      const echo = JSON.parse(client.body) as Echo;
      assert.equal(echo.url, '/abs/path?q=1&r=2', 'the origin gets origin-form');
      assert.ok(!echo.rawHeaders.some((h) => /^proxy-/i.test(h)), 'headers meant for the proxy stay at the proxy');
      assert.deepEqual(
        pairs(echo.rawHeaders).filter(([n]) => /^x-/i.test(n)),
        [
          ['X-First', '1'],
          ['x-MiXeD-case', 'yes'],
          ['X-First', '2'],
        ],
      );
      assert.deepEqual(
        client.headers.filter(([n]) => /^(x-|set-cookie)/i.test(n)).map(([n]) => n),
        ['X-Zulu', 'Set-Cookie', 'Set-Cookie', 'X-Alpha'],
      );

      const xs = await rec.stopAndRead();
      assert.equal(xs.length, 1);
      const x = onlyHttp(xs, '/abs/path?q=1&r=2');
      assertRecordedAsSeen(x, echo, client, url, `127.0.0.1:${origin.port}`);
      assert.equal(x.request.httpVersion, '1.1');
      assert.equal(x.tags?.['tunnel'], undefined);
      assert.equal(x.response?.body?.contentType, 'application/json');
    });
  });

  it('curl -p -x: CONNECT carrying plain HTTP is proxied and recorded as HTTP', async () => {
    await withRecording(async (rec) => {
      const url = `${origin.url}/via/connect`;
      const res = await curl(['-D', '-', '-p', '-x', rec.outProxy, '-H', 'X-Tunnel: yes', url]);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^HTTP\/1\.1 200 Connection Established\r\n/);
      const client = splitDump(res.stdout);
      const echo = JSON.parse(client.body) as Echo;
      assert.equal(echo.url, '/via/connect');

      const xs = await rec.stopAndRead();
      assert.equal(xs.length, 1, 'the CONNECT itself is not an exchange; what it carried is');
      const x = onlyHttp(xs, '/via/connect');
      assertRecordedAsSeen(x, echo, client, url, `127.0.0.1:${origin.port}`);
      assert.equal(x.tags?.['tunnel'], 'connect');
    });
  });

  const socksCases = [
    { scheme: 'socks4', host: '127.0.0.1', tunnel: 'socks4' },
    { scheme: 'socks4a', host: 'localhost', tunnel: 'socks4' },
    { scheme: 'socks5', host: '127.0.0.1', tunnel: 'socks5' },
    { scheme: 'socks5h', host: 'localhost', tunnel: 'socks5' },
  ] as const;
  for (const c of socksCases) {
    it(`curl --proxy ${c.scheme}:// to http://${c.host}: recorded with tags.tunnel ${c.tunnel}`, async () => {
      await withRecording(async (rec) => {
        const url = `http://${c.host}:${origin.port}/via/${c.scheme}?n=1`;
        const res = await curl(['-D', '-', '--proxy', `${c.scheme}://127.0.0.1:${rec.outPort}`, url]);
        assert.equal(res.code, 0, res.stderr);
        const client = splitDump(res.stdout);
        assert.equal(client.status, 200);
        const echo = JSON.parse(client.body) as Echo;
        assert.equal(echo.url, `/via/${c.scheme}?n=1`);

        const xs = await rec.stopAndRead();
        assert.equal(xs.length, 1);
        const x = onlyHttp(xs, `/via/${c.scheme}?n=1`);
        // A domain form (4a, 5h) reaches the proxy as the name, and is dialled and recorded so.
        assertRecordedAsSeen(x, echo, client, url, `${c.host}:${origin.port}`);
        assert.equal(x.tags?.['tunnel'], c.tunnel);
        assert.equal(x.tags?.['socksUser'], undefined);
      });
    });
  }

  it('curl socks5 -U user:pass: the username is recorded, the password is not', async () => {
    await withRecording(async (rec) => {
      const url = `${origin.url}/who`;
      const res = await curl(['-D', '-', '--proxy', `socks5://127.0.0.1:${rec.outPort}`, '-U', 'alice:s3cr3t-pw', url]);
      assert.equal(res.code, 0, res.stderr);
      const client = splitDump(res.stdout);
      const echo = JSON.parse(client.body) as Echo;

      const xs = await rec.stopAndRead();
      const x = onlyHttp(xs, '/who');
      assertRecordedAsSeen(x, echo, client, url, `127.0.0.1:${origin.port}`);
      assert.equal(x.tags?.['tunnel'], 'socks5');
      assert.equal(x.tags?.['socksUser'], 'alice');
      assert.ok(!JSON.stringify(xs).includes('s3cr3t-pw'));
    });
  });

  it('curl -x: a POST body and a chunked upload are forwarded whole and recorded', async () => {
    await withRecording(async (rec) => {
      const form = 'name=tapwire&lang=ts';
      const post = await curl(['-D', '-', '-x', rec.outProxy, '--data-binary', form, `${origin.url}/form`]);
      assert.equal(post.code, 0, post.stderr);
      const postClient = splitDump(post.stdout);
      const postEcho = JSON.parse(postClient.body) as Echo;
      assert.equal(postEcho.method, 'POST');
      assert.equal(postEcho.body, form);

      const file = path.join(scratch, 'upload.txt');
      const upload = Array.from({ length: 2000 }, (_, i) => `line ${i} of a chunked upload\n`).join('');
      writeFileSync(file, upload);
      const chunked = await curl([
        '-D',
        '-',
        '-x',
        rec.outProxy,
        '-H',
        'Transfer-Encoding: chunked',
        '-H',
        'Content-Type: text/plain',
        '--data-binary',
        `@${file}`,
        `${origin.url}/upload`,
      ]);
      assert.equal(chunked.code, 0, chunked.stderr);
      const chunkedClient = splitDump(chunked.stdout);
      const chunkedEcho = JSON.parse(chunkedClient.body) as Echo;
      assert.equal(chunkedEcho.bodyLength, Buffer.byteLength(upload));
      assert.equal(chunkedEcho.body, upload);

      const xs = await rec.stopAndRead();
      const px = onlyHttp(xs, '/form');
      assertRecordedAsSeen(px, postEcho, postClient, `${origin.url}/form`, `127.0.0.1:${origin.port}`);
      assert.equal(px.request.body?.size, form.length);
      assert.equal(px.request.body?.contentType, 'application/x-www-form-urlencoded');
      const cx = onlyHttp(xs, '/upload');
      assertRecordedAsSeen(cx, chunkedEcho, chunkedClient, `${origin.url}/upload`, `127.0.0.1:${origin.port}`);
      assert.deepEqual(
        cx.request.headers.filter(([n]) => /^(transfer-encoding|content-length)$/i.test(n)),
        [['Transfer-Encoding', 'chunked']],
      );
      assert.equal(cx.request.body?.size, Buffer.byteLength(upload));
      assert.equal(cx.request.body?.truncated, false);
      assert.equal(cx.request.body?.contentType, 'text/plain');
    });
  });

  it('python3 urllib with http_proxy: GET and POST recorded', { skip: noPython }, async () => {
    await withRecording(async (rec) => {
      const script = [
        'import json, sys, urllib.request',
        'base = sys.argv[1]',
        'out = []',
        "with urllib.request.urlopen(base + '/py/get?x=1', timeout=10) as r:",
        "    out.append({'status': r.status, 'headers': r.getheaders(), 'body': r.read().decode()})",
        "req = urllib.request.Request(base + '/py/post', data=b'{\"from\": \"python\"}', headers={'Content-Type': 'application/json'}, method='POST')",
        'with urllib.request.urlopen(req, timeout=10) as r:',
        "    out.append({'status': r.status, 'headers': r.getheaders(), 'body': r.read().decode()})",
        'print(json.dumps(out))',
      ].join('\n');
      const res = await run(python3(), ['-c', script, origin.url], {
        env: cleanEnv({ http_proxy: rec.outProxy }),
        timeoutMs: 20_000,
      });
      assert.equal(res.code, 0, res.stderr);
      const out = JSON.parse(res.stdout) as Array<{ status: number; headers: [string, string][]; body: string }>;
      assert.equal(out.length, 2);
      const [get, post] = out as [(typeof out)[0], (typeof out)[0]];
      const getEcho = JSON.parse(get.body) as Echo;
      const postEcho = JSON.parse(post.body) as Echo;
      assert.equal(get.status, 200);
      assert.equal(getEcho.url, '/py/get?x=1');
      assert.equal(postEcho.method, 'POST');
      assert.equal(postEcho.body, '{"from": "python"}');

      const xs = await rec.stopAndRead();
      assert.equal(xs.length, 2);
      const gx = onlyHttp(xs, '/py/get?x=1');
      assertRecordedAsSeen(gx, getEcho, get, `${origin.url}/py/get?x=1`, `127.0.0.1:${origin.port}`);
      assert.match(gx.request.headers.find(([n]) => n.toLowerCase() === 'user-agent')?.[1] ?? '', /^Python-urllib\//);
      const px = onlyHttp(xs, '/py/post');
      assertRecordedAsSeen(px, postEcho, post, `${origin.url}/py/post`, `127.0.0.1:${origin.port}`);
      assert.equal(px.request.body?.contentType, 'application/json');
      assert.equal(gx.tags?.['tunnel'], undefined);
    });
  });

  it('Node fetch through undici ProxyAgent: CONNECT tunnel, keep-alive over several requests', async () => {
    await withRecording(async (rec) => {
      // One connection: undici opens a second one when a request starts before the previous
      // one's connection is marked free (it does so without a proxy too).
      const agent = new ProxyAgent({ uri: rec.outProxy, connections: 1 });
      const seen: Array<{ echo: Echo; client: { status: number; headers: [string, string][]; body: string } }> = [];
      const methods = ['GET', 'POST', 'GET', 'POST'];
      try {
        for (const [i, method] of methods.entries()) {
          const post = method === 'POST';
          const res = await fetch(`${origin.url}/node/${i}`, {
            dispatcher: agent,
            method,
            headers: { 'X-Request': String(i), ...(post ? { 'Content-Type': 'application/json' } : {}) },
            ...(post ? { body: JSON.stringify({ i }) } : {}),
          });
          const body = await res.text();
          const headers: [string, string][] = [];
          res.headers.forEach((value, name) => headers.push([name, value]));
          seen.push({ echo: JSON.parse(body) as Echo, client: { status: res.status, headers, body } });
        }
      } finally {
        await agent.close();
      }
      for (const [i, s] of seen.entries()) {
        assert.equal(s.client.status, 200);
        assert.equal(s.echo.url, `/node/${i}`);
        assert.equal(s.echo.method, methods[i]);
      }
      // One tunnel, one upstream connection: the origin saw every request from the same port.
      assert.equal(new Set(seen.map((s) => s.echo.remotePort)).size, 1);

      const xs = await rec.stopAndRead();
      assert.equal(xs.length, methods.length);
      for (const [i, s] of seen.entries()) {
        const x = onlyHttp(xs, `/node/${i}`);
        assert.equal(x.direction, 'outbound');
        assert.equal(x.request.url, `${origin.url}/node/${i}`);
        assert.equal(x.request.method, methods[i]);
        assert.equal(x.dst, `127.0.0.1:${origin.port}`);
        assert.equal(x.tags?.['tunnel'], 'connect');
        assert.deepEqual(x.request.headers, pairs(s.echo.rawHeaders));
        assert.equal(decodeBody(x.request.body).toString(), s.echo.body);
        assert.equal(x.response?.status, 200);
        assert.equal(decodeBody(x.response?.body).toString(), s.client.body);
        // fetch's Headers lowercases and sorts (and joins Set-Cookie): compare the names as sets.
        assert.deepEqual(
          [...new Set(x.response?.headers.map(([n]) => n.toLowerCase()))].sort(),
          [...new Set(s.client.headers.map(([n]) => n))].sort(),
        );
      }
      assert.equal(new Set(xs.map((x) => x.src)).size, 1, 'all came through one tunnel');
    });
  });

  /** Reads one Content-Length framed response from a raw socket. */
  async function readResponse(reader: SocketReader): Promise<{ head: string; body: string }> {
    const head = await reader.readUntil('\r\n\r\n');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 'NaN');
    assert.ok(Number.isFinite(length), `a Content-Length in ${JSON.stringify(head)}`);
    const body = (await reader.read(length)).toString('utf8');
    return { head, body };
  }

  it('one keep-alive client connection, two origins in sequence: answered in order, right dst', async () => {
    await withRecording(async (rec) => {
      const socket = await connectTo(rec.outPort);
      const reader = new SocketReader(socket);
      const a = `127.0.0.1:${origin.port}`;
      const b = `127.0.0.1:${other.port}`;
      socket.write(`GET http://${a}/seq/1 HTTP/1.1\r\nHost: ${a}\r\nX-Step: 1\r\n\r\n`);
      const first = await readResponse(reader);
      socket.write(`GET http://${b}/seq/2 HTTP/1.1\r\nHost: ${b}\r\nX-Step: 2\r\n\r\n`);
      const second = await readResponse(reader);
      socket.write(`GET http://${a}/seq/3 HTTP/1.1\r\nHost: ${a}\r\nX-Step: 3\r\nConnection: close\r\n\r\n`);
      const third = await readResponse(reader);
      await reader.readToEnd(); // the proxy closes after Connection: close
      const echoes = [first, second, third].map((r) => JSON.parse(r.body) as Echo);
      assert.deepEqual(
        echoes.map((e) => [e.origin, e.url]),
        [
          ['a', '/seq/1'],
          ['b', '/seq/2'],
          ['a', '/seq/3'],
        ],
      );
      for (const r of [first, second, third]) assert.match(r.head, /^HTTP\/1\.1 200 OK\r\n/);

      const xs = await rec.stopAndRead();
      assert.deepEqual(
        httpExchanges(xs).map((x) => [x.request.url, x.dst, x.response?.status]),
        [
          [`http://${a}/seq/1`, a, 200],
          [`http://${b}/seq/2`, b, 200],
          [`http://${a}/seq/3`, a, 200],
        ],
      );
      assert.equal(new Set(xs.map((x) => x.src)).size, 1);
      for (const [i, x] of httpExchanges(xs).entries())
        assert.deepEqual(x.request.headers, pairs((echoes[i] as Echo).rawHeaders));
    });
  });

  it('one client connection, requests to two origins pipelined in one write: answered in order', async () => {
    await withRecording(async (rec) => {
      const socket = await connectTo(rec.outPort);
      const reader = new SocketReader(socket);
      const a = `127.0.0.1:${origin.port}`;
      const b = `127.0.0.1:${other.port}`;
      socket.write(
        `GET http://${a}/pipe/1 HTTP/1.1\r\nHost: ${a}\r\n\r\n` +
          `POST http://${b}/pipe/2 HTTP/1.1\r\nHost: ${b}\r\nContent-Length: 5\r\n\r\nhello` +
          `GET http://${b}/pipe/3 HTTP/1.1\r\nHost: ${b}\r\n\r\n` +
          `GET http://${a}/pipe/4 HTTP/1.1\r\nHost: ${a}\r\nConnection: close\r\n\r\n`,
      );
      const echoes: Echo[] = [];
      for (let i = 0; i < 4; i++) echoes.push(JSON.parse((await readResponse(reader)).body) as Echo);
      await reader.readToEnd();
      assert.deepEqual(
        echoes.map((e) => [e.origin, e.method, e.url, e.body]),
        [
          ['a', 'GET', '/pipe/1', ''],
          ['b', 'POST', '/pipe/2', 'hello'],
          ['b', 'GET', '/pipe/3', ''],
          ['a', 'GET', '/pipe/4', ''],
        ],
      );

      const xs = await rec.stopAndRead();
      assert.deepEqual(
        httpExchanges(xs).map((x) => [x.request.url, x.dst, x.response?.status]),
        [
          [`http://${a}/pipe/1`, a, 200],
          [`http://${b}/pipe/2`, b, 200],
          [`http://${b}/pipe/3`, b, 200],
          [`http://${a}/pipe/4`, a, 200],
        ],
      );
      assert.equal(decodeBody(onlyHttp(xs, '/pipe/2').request.body).toString(), 'hello');
    });
  });
});
