/**
 * End to end: `tapwire replay` on a snapshot recorded from real inbound traffic, against fresh
 * servers: the terminal table, the JSON report's shape, the HTML report as one file with no
 * external reference, goals and exit codes, assertions failing on a changed field, and Ctrl-C
 * ending the run with a partial report.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Client } from 'undici';
import { main } from '../src/cli/main.ts';
import type { CliContext } from '../src/cli/context.ts';
import { loadConfig } from '../src/config/load.ts';
import type { ReplayReport } from '../src/replay/report-json.ts';
import net from 'node:net';
import { runCli } from './helpers/cli.ts';
import { recordInbound, startHttp1Peer, type Peer } from './helpers/replay.ts';

describe('tapwire replay (command line)', () => {
  let storeDir: string;
  let cleanup: () => Promise<void>;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tapwire-replay-cli-'));
  const answer = (r: { method: string; url: string }) => ({
    body: JSON.stringify({ method: r.method, url: r.url, price: 10 }),
  });

  before(async () => {
    const app = await startHttp1Peer(answer);
    try {
      const r = await recordInbound(
        app,
        async (url) => {
          const client = new Client(url);
          for (const p of ['/users/1', '/users/2', '/orders?page=1'])
            await (await client.request({ path: p, method: 'GET' })).body.text();
          await (await client.request({ path: '/orders', method: 'POST', body: '{"item":3}' })).body.text();
          await client.close();
        },
        'cli-run',
      );
      storeDir = r.storeDir;
      cleanup = r.cleanup;
    } finally {
      await app.close();
    }
  });
  after(async () => {
    await cleanup?.();
    rmSync(tmp, { recursive: true, force: true });
  });

  const replay = (target: Peer, ...args: string[]) =>
    runCli(['--store', storeDir, 'replay', 'cli-run', '--target', target.url, '--speed', '50x', ...args]);

  it('prints a table per endpoint and writes the JSON and HTML reports; responses as recorded pass', async () => {
    const peer = await startHttp1Peer(answer);
    try {
      const json = path.join(tmp, 'run.json');
      const html = path.join(tmp, 'run.html');
      const out = await replay(peer, '--report', json, '--report', html);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(peer.received.length, 4);
      assert.match(out.stdout, /ENDPOINT\s+REQS\s+ERR\s+2xx/);
      assert.match(out.stdout, /GET \/users\/\{id\}\s+2\s+0\s+2/);
      assert.match(out.stdout, /TOTAL\s+4\s+0\s+4/);
      assert.match(out.stdout, /assertions: 4\/4 passed/);

      const report = JSON.parse(readFileSync(json, 'utf8')) as ReplayReport;
      assert.equal(report.format, 1);
      assert.equal(report.interrupted, false);
      assert.equal(report.snapshot.name, 'cli-run');
      assert.deepEqual(report.targets, { '*': peer.url });
      assert.equal(report.summary.overall.requests, 4);
      assert.equal(report.summary.overall.succeeded, 4);
      assert.deepEqual(Object.keys(report.summary.endpoints).sort(), [
        'GET /orders',
        'GET /users/{id}',
        'POST /orders',
      ]);
      assert.deepEqual(report.summary.overall.assertions, { checked: 4, passed: 4 });
      const users = report.endpoints.find((e) => e.endpoint === 'GET /users/{id}');
      assert.ok(users);
      assert.equal(users.responses, 2);
      assert.deepEqual(users.statuses, { '200': 2 });
      for (const k of ['p50', 'p90', 'p99', 'p999', 'max', 'mean'] as const) assert.ok(users.latency[k] > 0, k);
      assert.ok(users.latency.p50 <= users.latency.max);
      assert.equal(typeof users.histogram, 'string');
      assert.ok(report.throughput.buckets.length >= 1);
      assert.equal(
        report.throughput.buckets.reduce((n, b) => n + b.completed, 0),
        4,
      );
      assert.deepEqual(report.assertions?.failures, []);

      const page = readFileSync(html, 'utf8');
      assert.match(page, /^<!doctype html>/);
      assert.match(page, /<svg /);
      assert.match(page, /GET \/users\/\{id\}/);
      // One file: nothing fetched from anywhere.
      assert.doesNotMatch(page, /<script|<link|<img|<iframe|\b(src|href)\s*=|url\(|@import/i);
    } finally {
      await peer.close();
    }
  });

  it('a changed response field fails its assertion and shows the difference', async () => {
    const peer = await startHttp1Peer((r) => ({
      body: JSON.stringify({ method: r.method, url: r.url, price: r.url === '/users/2' ? 11 : 10 }),
    }));
    try {
      const out = await replay(peer, '--fail-if', 'assertions < 100%');
      assert.equal(out.code, 3, out.stdout + out.stderr);
      assert.match(out.stdout, /assertions: 3\/4 passed/);
      assert.match(out.stdout, /FAIL GET http:\/\/[^ ]+\/users\/2/);
      assert.match(out.stdout, /price.*10.*11/);
    } finally {
      await peer.close();
    }
  });

  it('goals: a missed --fail-if exits 3; a met one exits 0; an invalid one is a usage error', async () => {
    const peer = await startHttp1Peer(answer);
    try {
      const missed = await replay(peer, '--no-assert', '--fail-if', 'p99 > 0ms');
      assert.equal(missed.code, 3);
      assert.match(missed.stdout, /goal p99 > 0ms: .*\(missed\)/);
      const met = await replay(peer, '--no-assert', '--fail-if', 'errors > 0');
      assert.equal(met.code, 0, met.stdout + met.stderr);
      const received = peer.received.length;
      const bad = await replay(peer, '--fail-if', 'p99 >> fast');
      assert.equal(bad.code, 2);
      assert.equal(peer.received.length, received, 'nothing sent');
    } finally {
      await peer.close();
    }
  });

  it('usage errors: two load models, a ramp without a duration, no target, a target with a path', async () => {
    const peer = await startHttp1Peer(answer);
    try {
      for (const args of [
        ['--rate', '10', '--vus', '2'],
        ['--rate', '10:100'],
        ['--duration', 'soon'],
        ['--transforms', 'x.yaml'],
      ]) {
        const out = await replay(peer, ...args);
        assert.equal(out.code, 2, `${args.join(' ')}: ${out.stderr}`);
      }
      const none = await runCli(['--store', storeDir, 'replay', 'cli-run']);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /--target URL/);
      const withPath = await runCli(['--store', storeDir, 'replay', 'cli-run', '--target', `${peer.url}/v2`]);
      assert.equal(withPath.code, 2);
      assert.equal(peer.received.length, 0);
    } finally {
      await peer.close();
    }
  });

  it('--mocks SNAPSHOT -- COMMAND: starts the app pointed at the mocks, waits for it, replays, stops it', async () => {
    const port = await freePort();
    // The app answers 200 only when it was started with the mocks as its proxy.
    const app =
      `require('http').createServer((q, s) => { s.statusCode = /^http:\\/\\/127\\.0\\.0\\.1:\\d+$/.test(process.env.HTTP_PROXY || '') ? 200 : 500; ` +
      `s.end('{}'); }).listen(${port}, '127.0.0.1')`;
    const json = path.join(tmp, 'mocks.json');
    const out = await runCli([
      '--store',
      storeDir,
      'replay',
      'cli-run',
      '--target',
      `http://127.0.0.1:${port}`,
      '--speed',
      '50x',
      '--no-assert',
      '--mocks',
      'cli-run',
      '--mocks-port',
      '0',
      '--ca',
      path.join(tmp, 'ca'),
      '--report',
      json,
      '--',
      process.execPath,
      '-e',
      app,
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /mocks of cli-run on 127\.0\.0\.1:\d+/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as ReplayReport;
    assert.equal(report.summary.overall.requests, 4);
    assert.equal(report.summary.overall.succeeded, 4);
  });

  it('on a terminal: one live progress line rewritten in place, cleared before the report', async (t) => {
    // A real pseudo-terminal (util-linux `script`), so the command sees a TTY on stderr as a user's shell gives it.
    if (spawnSync('script', ['--version']).status !== 0) return t.skip('util-linux `script` is not installed');
    const peer = await startHttp1Peer(answer);
    try {
      const bin = path.resolve('bin/tapwire.js');
      const cmd = [
        process.execPath,
        bin,
        '--store',
        storeDir,
        'replay',
        'cli-run',
        '--target',
        peer.url,
        '--rate',
        '40',
        '--duration',
        '2s',
      ]
        .map((a) => `'${a}'`)
        .join(' ');
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
          env: { ...process.env, TAPWIRE_FROM_SOURCE: '1', TERM: 'xterm' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`))));
      });
      // The terminal's own "erase line" escape is what is being checked.
      // eslint-disable-next-line no-control-regex
      const lines = [...out.matchAll(/\r\x1b\[2K(\d+\.\ds {2}sent (\d+) {2}[\d.]+\/s {2}p99 \S+ {2}errors (\d+))/g)];
      assert.ok(lines.length >= 3, `several progress updates in a 2 s run: ${JSON.stringify(out.slice(0, 400))}`);
      const sent = lines.map((m) => Number(m[2]));
      assert.deepEqual(
        [...sent].sort((a, b) => a - b),
        sent,
        'sent only grows',
      );
      assert.ok(
        lines.every((m) => m[3] === '0'),
        'no errors against a healthy target',
      );
      // The line is erased before the report, so the table starts on a clean line.
      // eslint-disable-next-line no-control-regex
      assert.match(out, /\r\x1b\[2Ktapwire replay: cli-run — open model[^\r]*\r?\n[\s\S]*ENDPOINT\s+REQS/);
    } finally {
      await peer.close();
    }
  });

  it('Ctrl-C stops the run and still writes a partial report (exit 1)', async () => {
    let stop: ((signal: string) => void) | undefined;
    const peer = await startHttp1Peer((r) => {
      // The 5th request arriving is the user pressing Ctrl-C.
      if (peer.received.length === 5) stop?.('SIGINT');
      return answer(r);
    });
    try {
      const json = path.join(tmp, 'partial.json');
      let stdout = '';
      let stderr = '';
      const ctx: CliContext = {
        stdout: { write: (s) => void (stdout += s) },
        stderr: { write: (s) => void (stderr += s) },
        env: {},
        cwd: process.cwd(),
        isTTY: false,
        config: (flags, file) => loadConfig({ file, env: {}, flags: flags ?? {} }),
        logger: (level) => pino({ level }, { write: (s: string) => void (stderr += s) }),
        onStop: (listener) => {
          stop = listener;
          return () => undefined;
        },
      };
      const code = await main(
        [
          'node',
          'tapwire',
          '--store',
          storeDir,
          'replay',
          'cli-run',
          '--target',
          peer.url,
          '--rate',
          '50',
          '--duration',
          '1m',
          '--report',
          json,
        ],
        ctx,
      );
      assert.equal(code, 1, stderr);
      assert.match(stderr, /interrupted/);
      assert.match(stdout, /interrupted: partial results/);
      const report = JSON.parse(readFileSync(json, 'utf8')) as ReplayReport;
      assert.equal(report.interrupted, true);
      assert.ok(report.summary.overall.requests >= 4 && report.summary.overall.requests < 50);
      assert.ok(report.durationMs < 10_000);
    } finally {
      await peer.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
