/**
 * `tapwire record -- COMMAND` as a user runs it: the real CLI starts a real app (Python and
 * Node) with the proxy environment; the app's inbound and outbound traffic is recorded.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../src/demo/free-port.ts';
import { openStore } from '../src/store/fs/index.ts';
import type { Exchange, HttpExchange } from '../src/model/exchange.ts';
import { run, startOrigin, type Origin } from './helpers/peers.ts';
import { CATALOG_PROTO, startGrpcServer } from './helpers/grpc-peers.ts';
import { makeOriginPki, startH2Origin, startHttpsOrigin } from './helpers/tls-peers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'tapwire.js');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
/** The interception CA of these tests: never the user's own ~/.tapwire/ca. */
const CA_DIR = mkdtempSync(path.join(os.tmpdir(), 'tapwire-cmd-ca-'));
process.on('exit', () => rmSync(CA_DIR, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number>;
  /** Resolves when `text` has appeared on stdout or stderr. */
  waitFor(text: string | RegExp): Promise<string>;
}

function startTapwire(args: string[], env: NodeJS.ProcessEnv = { ...process.env, TAPWIRE_CA: CA_DIR }): Started {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ test: string | RegExp; resolve: (s: string) => void }> = [];
  const check = () => {
    for (const w of [...waiters]) {
      const all = out + err;
      const m = typeof w.test === 'string' ? (all.includes(w.test) ? w.test : null) : all.match(w.test)?.[0];
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', (d) => ((out += d), check()));
  child.stderr?.on('data', (d) => ((err += d), check()));
  const exit = new Promise<number>((r) => child.once('exit', (code, signal) => r(code ?? (signal ? 128 : 1))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (test) =>
      new Promise((resolve, reject) => {
        waiters.push({ test, resolve });
        check();
        void exit.then(() =>
          reject(new Error(`tapwire exited before printing ${test}\nstdout: ${out}\nstderr: ${err}`)),
        );
      }),
  };
}

/** The port a listener got, read from the startup lines record prints. */
async function listenerPort(tw: Started, listener: 'inbound' | 'outbound'): Promise<number> {
  const line = await tw.waitFor(new RegExp(`${listener}\\s+127\\.0\\.0\\.1:\\d+`));
  return Number(line.split(':').pop());
}

async function readSnapshot(store: string, id: string): Promise<Exchange[]> {
  const handle = await openStore(store).open(id);
  const out: Exchange[] = [];
  for await (const x of handle.exchanges()) out.push(x);
  return out;
}

describe('record -- COMMAND', () => {
  let dep: Origin;
  let store: string;

  /** `tapwire record` into the test store, every listener on a free port, quiet logs. */
  const recordOnFreePorts = () => [
    'record',
    '--store',
    store,
    '--in-port',
    '0',
    '--out-port',
    '0',
    '--admin-port',
    '0',
    '--log-level',
    'warn',
  ];

  before(async () => {
    dep = await startOrigin((req, res) => res.end(`dep saw ${req.method} ${req.url}`));
    store = mkdtempSync(path.join(os.tmpdir(), 'tapwire-cmd-'));
  });
  after(async () => {
    await dep.close();
    rmSync(store, { recursive: true, force: true });
  });

  it('records a Python app in and out, and stops when the app exits', async () => {
    const appPort = await freePort();
    const tw = startTapwire([
      ...recordOnFreePorts(),
      '--name',
      'py-run',
      '--app',
      `127.0.0.1:${appPort}`,
      '--',
      PYTHON,
      path.join(ROOT, 'test/fixtures/apps/py_app.py'),
      String(appPort),
      dep.url,
      '2',
    ]);
    const inPort = await listenerPort(tw, 'inbound');
    await tw.waitFor('py app listening');
    for (const p of ['/one', '/two?x=1']) {
      const res = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${inPort}${p}`]);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { app: 'py', path: p, dep: `dep saw GET ${p}` });
    }
    const code = await tw.exit;
    assert.equal(code, 0, tw.stderr());
    assert.match(tw.stderr(), /recorded 4 exchanges \(2 in, 2 out\) in snapshot py-run/);
    const xs = (await readSnapshot(store, 'py-run')) as HttpExchange[];
    const inb = xs
      .filter((x) => x.direction === 'inbound')
      .map((x) => new URL(x.request.url).pathname + new URL(x.request.url).search);
    const out = xs.filter((x) => x.direction === 'outbound').map((x) => x.request.url);
    assert.deepEqual(inb.sort(), ['/one', '/two?x=1']);
    assert.deepEqual(out.sort(), [`${dep.url}/one`, `${dep.url}/two?x=1`]);
    assert.ok(xs.every((x) => x.response?.status === 200));
  });

  it('records a Node app using fetch with no proxy code, and Ctrl-C closes the snapshot', async () => {
    const appPort = await freePort();
    const tw = startTapwire([
      ...recordOnFreePorts(),
      '--name',
      'node-run',
      '--app',
      `127.0.0.1:${appPort}`,
      '--',
      process.execPath,
      path.join(ROOT, 'test/fixtures/apps/node_app.mjs'),
      String(appPort),
      dep.url,
    ]);
    const inPort = await listenerPort(tw, 'inbound');
    await tw.waitFor('node app listening');
    const res = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${inPort}/hello`]);
    assert.deepEqual(JSON.parse(res.stdout), { app: 'node', path: '/hello', dep: 'dep saw GET /hello' });
    tw.child.kill('SIGINT');
    const code = await tw.exit;
    assert.equal(code, 0, tw.stderr());
    assert.match(tw.stderr(), /recorded 2 exchanges \(1 in, 1 out\)/);
    const meta = (await openStore(store).open('node-run')).meta;
    assert.equal(meta.status, 'complete');
    const xs = (await readSnapshot(store, 'node-run')) as HttpExchange[];
    assert.deepEqual(xs.map((x) => `${x.direction} ${x.request.url}`).sort(), [
      `inbound http://127.0.0.1:${inPort}/hello`,
      `outbound ${dep.url}/hello`,
    ]);
  });

  it('shows exchanges live in `tapwire tail` while recording', async () => {
    const tw = startTapwire([...recordOnFreePorts(), '--proxy-type', 'forward']);
    const admin = (await tw.waitFor(/admin\s+http:\/\/127\.0\.0\.1:\d+/)).split(/\s+/).pop() as string;
    const outPort = await listenerPort(tw, 'outbound');
    const tail = startTapwire(['tail', '--admin', admin]);
    await tail.waitFor(/tailing|following/i);
    const res = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '-x',
      `http://127.0.0.1:${outPort}`,
      `${dep.url}/live?x=1`,
    ]);
    assert.equal(res.stdout, 'dep saw GET /live?x=1', res.stderr);
    const line = await tail.waitFor(/out GET http:\/\/127\.0\.0\.1:\d+\/live\?x=1 200 .*/);
    assert.match(line, /^out GET .* 200 \S+ 21 B$/);
    tw.child.kill('SIGTERM');
    assert.equal(await tw.exit, 0);
    // The recording ended: tail says so and exits by itself.
    assert.equal(await tail.exit, 0);
    assert.match(tail.stderr(), /recording ended/);
  });

  it("decrypts an app's HTTPS calls with no code change: Python urllib and requests, Node fetch, curl", async () => {
    const pki = await makeOriginPki();
    const origin = await startHttpsOrigin(await pki.issue('localhost'), (req, res) => res.end(`tls dep ${req.url}`));
    const requests = spawnSync(PYTHON, ['-c', 'import requests'], { stdio: 'ignore' }).status === 0;
    if (!requests && process.env.TAPWIRE_REQUIRE_SYSTEM_TESTS === '1') assert.fail('python3-requests is not installed');
    const script = [
      `${PYTHON} -c "import urllib.request; print(urllib.request.urlopen('${origin.url}/urllib').read().decode())"`,
      requests ? `${PYTHON} -c "import requests; print(requests.get('${origin.url}/requests').text)"` : 'true',
      `${process.execPath} -e "fetch('${origin.url}/fetch').then((r) => r.text()).then(console.log)"`,
      `curl -sS ${origin.url}/curl; echo`,
    ].join(' && ');
    try {
      const tw = startTapwire([
        ...recordOnFreePorts(),
        '--proxy-type',
        'forward',
        '--name',
        'tls-run',
        '--upstream-ca',
        pki.caFile,
        '--',
        'sh',
        '-c',
        script,
      ]);
      const code = await tw.exit;
      assert.equal(code, 0, tw.stderr());
      const expected = ['urllib', ...(requests ? ['requests'] : []), 'fetch', 'curl'];
      assert.deepEqual(
        tw.stdout().trim().split('\n'),
        expected.map((p) => `tls dep /${p}`),
      );
      const xs = (await readSnapshot(store, 'tls-run')) as HttpExchange[];
      assert.deepEqual(
        xs.map((x) => `${x.protocol} ${x.request.url} ${x.tls?.mode}`).sort(),
        expected.map((p) => `http ${origin.url}/${p} intercepted`).sort(),
      );
    } finally {
      await origin.close();
      pki.cleanup();
    }
  });

  it('records HTTPS, HTTP/2 and gRPC calls decrypted and decoded, live in tail, with no code change', async () => {
    const pki = await makeOriginPki();
    const leaf = await pki.issue('localhost');
    const https1 = await startHttpsOrigin(leaf, (req, res) => res.end(`https dep ${req.url}`));
    const h2 = await startH2Origin(leaf, (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(`h2 dep ${String(headers[':path'])}`);
    });
    const grpcServer = await startGrpcServer({ tls: leaf });
    const gate = path.join(store, `go-${Date.now()}`);
    const script = [
      `while [ ! -f ${gate} ]; do sleep 0.05; done`,
      `${process.execPath} ${path.join(ROOT, 'test/fixtures/apps/polyglot_app.mjs')} ${https1.url} localhost:${grpcServer.port} ${CATALOG_PROTO}`,
      `curl -sS --http2 ${h2.url}/from-curl; echo`,
    ].join(' && ');
    try {
      const tw = startTapwire([
        ...recordOnFreePorts(),
        '--proxy-type',
        'forward',
        '--name',
        'polyglot',
        '--upstream-ca',
        pki.caFile,
        '--',
        'sh',
        '-c',
        script,
      ]);
      const admin = (await tw.waitFor(/admin\s+http:\/\/127\.0\.0\.1:\d+/)).split(/\s+/).pop() as string;
      const tail = startTapwire(['tail', '--admin', admin]);
      await tail.waitFor(/tailing|following/i);
      writeFileSync(gate, '');
      assert.equal(await tw.exit, 0, tw.stderr());
      assert.deepEqual(tw.stdout().trim().split('\n'), [
        'https dep /from-fetch',
        'grpc item book-1',
        'grpc list p0,p1',
        'h2 dep /from-curl',
      ]);
      await tail.exit;
      const shown = tail.stdout();
      assert.match(shown, /out GET https:\/\/localhost:\d+\/from-fetch 200 .*\[tls intercepted localhost\]/);
      assert.match(
        shown,
        /out gRPC https:\/\/localhost:\d+\/tapwire\.test\.Catalog\/GetItem grpc-status 0 .* 1↑ 1↓ msgs/,
      );
      assert.match(shown, /out gRPC .*\/ListItems grpc-status 0 .* 1↑ 2↓ msgs/);
      assert.match(shown, /out GET https:\/\/localhost:\d+\/from-curl 200 .* h2 .*\[tls intercepted/);
      const xs = await readSnapshot(store, 'polyglot');
      const grpcCalls = xs.filter((x) => x.protocol === 'grpc');
      assert.equal(grpcCalls.length, 2);
      const get = grpcCalls.find((x) => x.grpc.method === 'GetItem');
      assert.equal(get?.grpc.service, 'tapwire.test.Catalog');
      assert.equal(get?.grpc.status, 0);
      // The request message decoded without a schema: field 1 is the id string.
      assert.deepEqual(get?.grpc.messages[0]?.fields?.[0], { n: 1, wire: 'len', as: 'string', value: 'book-1' });
      const h2x = xs.find((x) => x.protocol === 'http' && x.request.url.endsWith('/from-curl')) as HttpExchange;
      assert.equal(h2x.request.httpVersion, '2');
      assert.equal(h2x.response?.body?.data, 'h2 dep /from-curl');
    } finally {
      await Promise.all([https1.close(), h2.close(), grpcServer.close()]);
      pki.cleanup();
    }
  });

  it('fails clearly when the command cannot start', async () => {
    const tw = startTapwire([...recordOnFreePorts(), '--', 'no-such-command-tapwire']);
    const code = await tw.exit;
    assert.equal(code, 1);
    assert.match(tw.stderr(), /cannot start "no-such-command-tapwire".*\n\s+hint: /);
    assert.doesNotMatch(tw.stderr(), /at .*\.ts:\d+/); // no stack trace
  });

  it('says which port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const tw = startTapwire([
      'record',
      '--store',
      store,
      '--proxy-type',
      'forward',
      '--out-port',
      String(port),
      '--admin-port',
      '0',
    ]);
    const code = await tw.exit;
    blocker.close();
    assert.equal(code, 1);
    assert.match(tw.stderr(), new RegExp(`cannot listen for outbound traffic on 127.0.0.1:${port} \\(EADDRINUSE\\)`));
    assert.match(tw.stderr(), /hint: another process uses port/);
  });
});
