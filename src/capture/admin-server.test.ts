import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { connect } from 'node:net';
import { ListenError } from '../errors.ts';
import type { Exchange } from '../model/exchange.ts';
import { summarize } from '../model/summary.ts';
import { startAdminServer, type AdminServer } from './admin-server.ts';
import { LiveFeed } from './live-feed.ts';
import { createCaptureMetrics } from './metrics.ts';

function httpExchange(n: number, path = `/items/${n}`): Exchange {
  return {
    v: 1,
    id: `01JTEST${String(n).padStart(19, '0')}`,
    ts: '2025-05-01T10:00:00.123Z',
    durationMs: 12,
    direction: 'inbound',
    protocol: 'http',
    src: '127.0.0.1:50000',
    dst: 'localhost:3000',
    request: {
      method: 'GET',
      url: `http://localhost:3000${path}`,
      httpVersion: '1.1',
      headers: [['Host', 'localhost:3000']],
    },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: '1.1',
      headers: [['Content-Type', 'application/json']],
      body: { encoding: 'utf8', data: '{"ok":true}', size: 11, truncated: false, contentType: 'application/json' },
    },
  };
}

interface Fixture {
  server: AdminServer;
  feed: LiveFeed;
  metrics: ReturnType<typeof createCaptureMetrics>;
  ready: { value: boolean };
}

async function start(options: { heartbeatMs?: number; closeGraceMs?: number } = {}): Promise<Fixture> {
  const metrics = createCaptureMetrics();
  const feed = new LiveFeed({ dropCounter: metrics.feedDropped.labels({}) });
  const ready = { value: false };
  const server = await startAdminServer({ port: 0, metrics, feed, isReady: () => ready.value, ...options });
  return { server, feed, metrics, ready };
}

/** Reads NDJSON lines from a fetch response, one at a time. */
function lineReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  return {
    /** The next line, or undefined at the end of the stream. */
    async next(): Promise<string | undefined> {
      for (;;) {
        const nl = buffered.indexOf('\n');
        if (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          return line;
        }
        const { value, done } = await reader.read();
        if (done) return buffered === '' ? undefined : buffered;
        buffered += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

test('healthz, readyz flipping, metrics', async (t) => {
  const { server, metrics, ready } = await start();
  t.after(() => server.close());
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  let res = await fetch(`${server.url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok\n');

  res = await fetch(`${server.url}/readyz`);
  assert.equal(res.status, 503);
  assert.equal(await res.text(), 'not ready\n');
  ready.value = true;
  res = await fetch(`${server.url}/readyz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ready\n');

  metrics.exchangesCaptured.labels({ direction: 'outbound', protocol: 'http' }).inc(42);
  res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  assert.match(text, /^# TYPE tapwire_exchanges_captured_total counter$/m);
  assert.match(text, /^tapwire_exchanges_captured_total\{direction="outbound",protocol="http"\} 42$/m);
  // The admin server counts its own connections.
  assert.match(text, /^tapwire_connections_total\{listener="admin"\} [1-9]\d*$/m);
  assert.match(text, /^tapwire_open_connections\{listener="admin"\} [1-9]\d*$/m);
});

test('unknown routes answer 404 with the list of routes; other methods 405', async (t) => {
  const { server } = await start();
  t.after(() => server.close());

  let res = await fetch(`${server.url}/nope`);
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as { error: string; routes: string[] };
  assert.match(body.error, /\/nope/);
  assert.ok(body.routes.some((r) => r.startsWith('GET /tail')));
  assert.equal(body.routes.length, 4);

  res = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
  await res.text();

  res = await fetch(`${server.url}/healthz`, { method: 'HEAD' });
  assert.equal(res.status, 200);
});

test('/tail streams events published after connecting, one JSON object per line', async (t) => {
  const { server, feed } = await start();
  t.after(() => server.close());

  const res = await fetch(`${server.url}/tail`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
  // The subscription exists once the headers have arrived.
  assert.equal(feed.subscriberCount, 1);
  const lines = lineReader(res);

  const x = httpExchange(1);
  feed.publishExchange(x);
  assert.deepEqual(JSON.parse((await lines.next())!), { type: 'exchange', exchange: x });
  feed.notice('warn', 'TLS pinning detected, passthrough for host api.example.com', new Date('2025-05-01T10:00:01Z'));
  assert.deepEqual(JSON.parse((await lines.next())!), {
    type: 'notice',
    level: 'warn',
    message: 'TLS pinning detected, passthrough for host api.example.com',
    time: '2025-05-01T10:00:01.000Z',
  });

  await lines.cancel();
  // The server notices the client left and unsubscribes it.
  while (feed.subscriberCount > 0) await new Promise((r) => setImmediate(r));
});

test('/tail?summary=1 sends compact summaries; ?filter= keeps matching exchanges and every notice', async (t) => {
  const { server, feed } = await start();
  t.after(() => server.close());

  const res = await fetch(`${server.url}/tail?summary=1&filter=ORDERS`);
  const lines = lineReader(res);
  feed.publishExchange(httpExchange(1, '/users'));
  feed.publishExchange(httpExchange(2, '/orders/2'));
  feed.notice('info', 'hello');

  const first = JSON.parse((await lines.next())!) as { type: string; summary: Record<string, unknown> };
  assert.deepEqual(first, {
    type: 'exchange',
    summary: {
      id: httpExchange(2).id,
      ts: '2025-05-01T10:00:00.123Z',
      durationMs: 12,
      direction: 'inbound',
      protocol: 'http',
      dst: 'localhost:3000',
      method: 'GET',
      url: 'http://localhost:3000/orders/2',
      status: 200,
      line: summarize(httpExchange(2, '/orders/2')),
    },
  });
  assert.equal((JSON.parse((await lines.next())!) as { type: string }).type, 'notice');
  await lines.cancel();
});

test('/tail tells a client that could not keep up how many events it missed', async (t) => {
  const metrics = createCaptureMetrics();
  const feed = new LiveFeed({ bufferSize: 2, dropCounter: metrics.feedDropped.labels({}) });
  const server = await startAdminServer({ port: 0, metrics, feed, isReady: () => true });
  t.after(() => server.close());

  const res = await fetch(`${server.url}/tail`);
  const lines = lineReader(res);
  // Published in one go, before the server's pump gets to run: one is handed to the waiting
  // pump, two fill the buffer, the other three are dropped.
  for (let i = 1; i <= 6; i++) feed.notice('info', `m${i}`);
  feed.notice('info', 'after the gap'); // still dropped: the buffer is full until the pump runs
  const got: Array<{ message: string; missed?: number }> = [];
  for (let i = 0; i < 3; i++) got.push(JSON.parse((await lines.next())!) as { message: string });
  assert.deepEqual(
    got.map((e) => e.message),
    ['m1', 'm2', 'm3'],
  );
  feed.notice('info', 'next');
  const next = JSON.parse((await lines.next())!) as { message: string; missed?: number };
  assert.equal(next.message, 'next');
  assert.equal(next.missed, 4);
  assert.match(metrics.render(), /^tapwire_feed_dropped_total 4$/m);
  await lines.cancel();
});

test('/tail sends heartbeats', async (t) => {
  const { server } = await start({ heartbeatMs: 20 });
  t.after(() => server.close());
  const res = await fetch(`${server.url}/tail`);
  const lines = lineReader(res);
  assert.deepEqual(JSON.parse((await lines.next())!), { type: 'heartbeat' });
  await lines.cancel();
});

test('close() ends open /tail streams after their buffered events', async () => {
  const { server, feed } = await start();
  const res = await fetch(`${server.url}/tail`);
  const lines = lineReader(res);
  feed.notice('info', 'last words');
  const closed = server.close();
  assert.equal((JSON.parse((await lines.next())!) as { message: string }).message, 'last words');
  assert.equal(await lines.next(), undefined, 'the stream ends cleanly');
  await closed;
  assert.equal(feed.hasSubscribers, false);
});

test('the feed closing (recording ended) ends /tail streams', async (t) => {
  const { server, feed } = await start();
  t.after(() => server.close());
  const res = await fetch(`${server.url}/tail`);
  const lines = lineReader(res);
  feed.close();
  assert.equal(await lines.next(), undefined);
});

test('close() does not wait forever for a client that stopped reading', async () => {
  const { server, feed } = await start({ closeGraceMs: 50 });
  const socket = connect(server.port, '127.0.0.1');
  socket.write('GET /tail HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.pause(); // never reads: the server's writes back up
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  while (!feed.hasSubscribers) await new Promise((r) => setImmediate(r));
  const big = httpExchange(1);
  if (big.protocol === 'http' && big.response)
    big.response.body = { encoding: 'utf8', data: 'x'.repeat(256 * 1024), size: 256 * 1024, truncated: false };
  for (let i = 0; i < 200; i++) feed.publishExchange(big);
  await server.close();
  socket.destroy();
});

test('a port in use becomes a ListenError', async (t) => {
  const blocker: Server = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  await assert.rejects(
    startAdminServer({ port, metrics: createCaptureMetrics(), feed: new LiveFeed(), isReady: () => true }),
    (err: unknown) => {
      assert.ok(err instanceof ListenError);
      assert.match(err.message, new RegExp(`admin endpoint on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
      assert.match(err.hint ?? '', /another process uses port/);
      return true;
    },
  );
});

const hasCurl = spawnSync('curl', ['--version']).status === 0;
// CI sets TAPWIRE_REQUIRE_SYSTEM_TESTS: there a missing curl fails instead of skipping.
const requireSystem = Boolean(process.env['TAPWIRE_REQUIRE_SYSTEM_TESTS']);

test(
  'curl sees the same endpoints',
  { skip: hasCurl || requireSystem ? false : 'curl is not installed' },
  async (t) => {
    assert.ok(hasCurl, 'curl is required (TAPWIRE_REQUIRE_SYSTEM_TESTS is set)');
    const counts: number[] = [];
    const waiters: Array<() => void> = [];
    const metrics = createCaptureMetrics();
    const feed = new LiveFeed({
      subscriberGauge: {
        set: (n) => {
          counts.push(n);
          waiters.splice(0).forEach((w) => w());
        },
      },
    });
    const server = await startAdminServer({ port: 0, metrics, feed, isReady: () => true });
    t.after(() => server.close());

    const curl = async (...args: string[]) => {
      const child = spawn('curl', ['-sS', '--max-time', '20', ...args]);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      return { code, out };
    };

    assert.deepEqual(await curl(`${server.url}/healthz`), { code: 0, out: 'ok\n' });
    assert.deepEqual(await curl('-o', '/dev/null', '-w', '%{http_code}', `${server.url}/readyz`), {
      code: 0,
      out: '200',
    });
    const metricsOut = await curl('-i', `${server.url}/metrics`);
    assert.match(metricsOut.out, /content-type: text\/plain; version=0\.0\.4; charset=utf-8/i);
    assert.match(metricsOut.out, /^process_resident_memory_bytes \d+/m);
    assert.equal(
      (await curl('-o', '/dev/null', '-w', '%{http_code}', '-X', 'DELETE', `${server.url}/tail`)).out,
      '405',
    );

    // curl -N follows the stream; it ends when the server closes.
    const child = spawn('curl', ['-sS', '-N', `${server.url}/tail`]);
    let out = '';
    const gotLine = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      }),
    );
    if (!feed.hasSubscribers) await new Promise<void>((r) => waiters.push(r));
    feed.publishExchange(httpExchange(7));
    await gotLine;
    assert.deepEqual(JSON.parse(out.split('\n')[0]!), { type: 'exchange', exchange: httpExchange(7) });
    const exited = once(child, 'exit');
    await server.close();
    assert.deepEqual(await exited, [0, null]);
  },
);
