import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAdminServer, type AdminServer } from '../capture/admin-server.ts';
import { LiveFeed } from '../capture/live-feed.ts';
import { createCaptureMetrics } from '../capture/metrics.ts';
import { AdminResponseError } from '../errors.ts';
import { summarize } from '../model/summary.ts';
import { httpExchange, tcpExchange } from '../../test/helpers/exchanges.ts';
import type { CliContext } from './context.ts';
import { main } from './main.ts';
import { clock, normalizeAdminUrl, runTail } from './tail.ts';

/** An output that lets a test wait for text instead of sleeping. */
class Captured {
  text = '';
  private waiters: Array<{ test: (t: string) => boolean; resolve: () => void }> = [];
  write(s: string): void {
    this.text += s;
    this.waiters = this.waiters.filter((w) => (w.test(this.text) ? (w.resolve(), false) : true));
  }
  until(test: (t: string) => boolean): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

function fakeContext(env: Record<string, string> = {}) {
  const stdout = new Captured();
  const stderr = new Captured();
  const stopListeners = new Set<(signal: string) => void>();
  const ctx: CliContext = {
    stdout,
    stderr,
    env,
    cwd: process.cwd(),
    isTTY: false,
    config: () => {
      throw new Error('tail reads no configuration');
    },
    logger: () => {
      throw new Error('tail needs no logger');
    },
    onStop(listener) {
      stopListeners.add(listener);
      return () => stopListeners.delete(listener);
    },
  };
  return {
    ctx,
    stdout,
    stderr,
    stopListeners,
    stop: () => [...stopListeners].forEach((l) => l('SIGINT')),
    connected: () => stderr.until((t) => t.includes('tailing ')),
  };
}

async function startAdmin(): Promise<{ server: AdminServer; feed: LiveFeed }> {
  const feed = new LiveFeed();
  const server = await startAdminServer({ port: 0, metrics: createCaptureMetrics(), feed, isReady: () => true });
  return { server, feed };
}

/** A stand-in admin endpoint that answers /tail with whatever the test writes. */
async function fakeAdmin(onTail: (res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/tail')) onTail(res);
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('prints one line per exchange and notice, and ends when the recording ends', async () => {
  const { server, feed } = await startAdmin();
  const { ctx, stdout, stderr, stopListeners, connected } = fakeContext();
  const run = main(['node', 'tapwire', 'tail', '--admin', server.url], ctx);
  await connected();

  const a = httpExchange(1, { direction: 'inbound' });
  const b = tcpExchange(2);
  const c = httpExchange(3, { error: { kind: 'reset', message: 'socket hang up' }, response: undefined });
  feed.publishExchange(a);
  feed.publishExchange(b);
  feed.notice(
    'warn',
    'TLS pinning detected, passthrough for host api.example.com',
    new Date('2024-05-14T09:21:40.250Z'),
  );
  feed.publishExchange(c);
  await stdout.until((t) => t.split('\n').length > 4);

  const at = (iso: string) => {
    const d = new Date(iso);
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  };
  assert.deepEqual(stdout.lines(), [
    `${at(a.ts)} ${summarize(a)}`,
    `${at(b.ts)} ${summarize(b)}`,
    `${at('2024-05-14T09:21:40.250Z')} ! TLS pinning detected, passthrough for host api.example.com`,
    `${at(c.ts)} ${summarize(c)}`,
  ]);
  assert.match(
    stdout.lines()[0]!,
    /^\d\d:\d\d:\d\d\.\d{3} in {2}GET https:\/\/api\.example\.com\/users\/1\?fields=name&fields=email 200 13ms 24 B$/,
  );

  await server.close();
  assert.equal(await run, 0);
  assert.match(stderr.text, /recording ended\n$/);
  assert.equal(stopListeners.size, 0, 'the Ctrl-C handler is removed');
});

test('Ctrl-C stops cleanly, without "recording ended"', async (t) => {
  const { server, feed } = await startAdmin();
  t.after(() => server.close());
  const { ctx, stderr, stop, stopListeners, connected } = fakeContext();
  const run = main(['node', 'tapwire', 'tail', '--admin', server.url], ctx);
  await connected();
  stop();
  assert.equal(await run, 0);
  assert.doesNotMatch(stderr.text, /recording ended/);
  assert.equal(stopListeners.size, 0);
  // The server sees the client go.
  while (feed.hasSubscribers) await new Promise((r) => setImmediate(r));
});

test('--json prints the raw events; --filter keeps matching exchanges and notices', async (t) => {
  const { server, feed } = await startAdmin();
  t.after(() => server.close());
  const { ctx, stdout, connected, stop } = fakeContext({ TAPWIRE_ADMIN: server.url });
  // The admin URL comes from TAPWIRE_ADMIN here.
  const run = main(['node', 'tapwire', 'tail', '--json', '--filter', 'USERS/2'], ctx);
  await connected();
  feed.publishExchange(httpExchange(1));
  feed.publishExchange(httpExchange(2));
  feed.notice('info', 'hello');
  await stdout.until((t) => t.split('\n').length > 2);
  const events = stdout.lines().map((l) => JSON.parse(l) as { type: string; exchange?: { id: string }; time?: string });
  // Ids and notice times are made fresh on each call: take them from what arrived.
  assert.deepEqual(events, [
    { type: 'exchange', exchange: httpExchange(2, { id: events[0]?.exchange?.id ?? '' }) },
    { type: 'notice', level: 'info', message: 'hello', time: events[1]?.time },
  ]);
  stop();
  assert.equal(await run, 0);
});

test('says how many exchanges a slow tail missed; skips heartbeats and unknown events', async (t) => {
  const x = httpExchange(5);
  const { url, server } = await fakeAdmin((res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write('{"type":"heartbeat"}\n');
    res.write(JSON.stringify({ type: 'exchange', exchange: x, missed: 17 }) + '\n{"type":"future-thing"}\n');
    // A line split across two chunks.
    const line = JSON.stringify({ type: 'notice', level: 'info', message: 'split', time: x.ts });
    res.write(line.slice(0, 10));
    res.end(line.slice(10) + '\n');
  });
  t.after(() => server.close());
  const { ctx, stdout, stderr } = fakeContext();
  assert.equal(await main(['node', 'tapwire', 'tail', '--admin', url], ctx), 0);
  assert.deepEqual(stdout.lines(), [
    '(missed 17 exchanges: tail was too slow)',
    `${clock(x.ts)} ${summarize(x)}`,
    `${clock(x.ts)} ! split`,
  ]);
  assert.match(stderr.text, /recording ended/);
});

test('an unreachable admin endpoint: exit 1, a hint, no stack trace', async () => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));

  const { ctx, stdout, stderr } = fakeContext();
  assert.equal(await main(['node', 'tapwire', 'tail', '--admin', `127.0.0.1:${port}`], ctx), 1);
  assert.equal(stdout.text, '');
  assert.equal(
    stderr.text,
    `tapwire: cannot reach the tapwire admin endpoint at http://127.0.0.1:${port}\n` +
      '  hint: start `tapwire record` first, or point --admin at its --admin-port [TW_ADMIN_UNREACHABLE]\n',
  );
  assert.doesNotMatch(stderr.text, /\n\s+at /);
});

test('something that is not a tapwire admin endpoint: exit 1 with TW_ADMIN_RESPONSE', async (t) => {
  const { url, server } = await fakeAdmin((res) =>
    res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nope</h1>'),
  );
  t.after(() => server.close());
  const { ctx, stderr } = fakeContext();
  assert.equal(await main(['node', 'tapwire', 'tail', '--admin', url], ctx), 1);
  assert.match(stderr.text, /answered 404 Not Found with text\/html instead of a live feed/);
  assert.match(
    stderr.text,
    /hint: is --admin pointing at the --admin-port of `tapwire record`\? \[TW_ADMIN_RESPONSE\]/,
  );
});

test('a stream that goes silent (no heartbeat) fails instead of hanging', async (t) => {
  const { url, server } = await fakeAdmin((res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.flushHeaders();
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { ctx } = fakeContext();
  await assert.rejects(runTail(ctx, { admin: url, json: false, idleTimeoutMs: 50 }), (err: unknown) => {
    assert.ok(err instanceof AdminResponseError);
    assert.match(err.message, /no data from .* \(not even a heartbeat\)/);
    return true;
  });
});

test('a bad --admin value is a usage error (exit 2)', async () => {
  const { ctx, stderr } = fakeContext();
  assert.equal(await main(['node', 'tapwire', 'tail', '--admin', 'ftp://x'], ctx), 2);
  assert.match(stderr.text, /--admin must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x" \[TW_USAGE\]/);
});

test('--admin accepts a URL, HOST:PORT or a port', () => {
  assert.equal(normalizeAdminUrl('4200'), 'http://127.0.0.1:4200');
  assert.equal(normalizeAdminUrl('localhost:4100'), 'http://localhost:4100');
  assert.equal(normalizeAdminUrl('https://tapwire.example.com/admin/'), 'https://tapwire.example.com/admin');
  assert.equal(normalizeAdminUrl('http://[::1]:4100'), 'http://[::1]:4100');
});

test('tail --help explains the command with examples', async () => {
  const { ctx, stdout } = fakeContext();
  assert.equal(await main(['node', 'tapwire', 'tail', '--help'], ctx), 0);
  assert.match(stdout.text, /Usage: tapwire tail \[options\]/);
  assert.match(stdout.text, /--admin <url>/);
  assert.match(stdout.text, /--json/);
  assert.match(stdout.text, /--filter <text>/);
  assert.match(stdout.text, /Examples:/);
});
