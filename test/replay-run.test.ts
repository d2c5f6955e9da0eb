/**
 * End to end: real inbound traffic recorded through tapwire's reverse proxy (in front of real
 * HTTP/1.1 and HTTP/2 servers), then replayed by the generator against fresh copies of those
 * servers over real sockets.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import type { Exchange, HttpExchange } from '../src/model/exchange.ts';
import { decodeBody, headerValue } from '../src/model/body.ts';
import { startReplay } from '../src/replay/runner.ts';
import { parseTargets } from '../src/replay/select.ts';
import { exchangeSource } from '../src/replay/source.ts';
import type { ReplayResult } from '../src/replay/types.ts';
import { comparableHeaders, header, recordInbound, startHttp1Peer, startHttp2Peer } from './helpers/replay.ts';

const inbound = (xs: Exchange[]) =>
  xs.filter((x): x is HttpExchange => x.direction === 'inbound' && x.protocol === 'http');

describe('replay: HTTP/1.1 requests arrive as recorded', () => {
  let recorded: Exchange[];
  let cleanup: () => Promise<void>;

  before(async () => {
    const app = await startHttp1Peer();
    try {
      const r = await recordInbound(app, async (url) => {
        const client = new Client(url);
        await (
          await client.request({
            path: '/users/42?expand=orders&x=1',
            method: 'GET',
            headers: ['X-Multi', 'one', 'X-Multi', 'two', 'Accept', 'application/json'],
          })
        ).body.text();
        await (
          await client.request({
            path: '/users',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-request-id': 'abc' },
            body: JSON.stringify({ name: 'Ada', tags: ['x', 'y'] }),
          })
        ).body.text();
        await (
          await client.request({
            path: '/blobs/7f3a9c1e-0d2b-4e5f-8a6b-1c2d3e4f5a6b',
            method: 'PUT',
            headers: { 'content-type': 'application/octet-stream' },
            body: Buffer.from([0, 1, 2, 255, 254, 10, 13]),
          })
        ).body.text();
        await (await client.request({ path: '/users/42', method: 'DELETE' })).body.text();
        await client.close();
      });
      recorded = r.exchanges;
      cleanup = r.cleanup;
    } finally {
      await app.close();
    }
  });
  after(() => cleanup?.());

  it('sends every inbound request with its method, path, query, headers and body; Host is the target', async () => {
    const fresh = await startHttp1Peer();
    try {
      const xs = inbound(recorded);
      assert.equal(xs.length, 4);
      const results: ReplayResult[] = [];
      const run = startReplay({
        source: exchangeSource(recorded, parseTargets([fresh.url])),
        model: { kind: 'recorded', speed: 100 },
        onResult: (r) => results.push(r),
      });
      const outcome = await run.done;
      assert.equal(outcome.interrupted, false);
      assert.equal(fresh.received.length, 4);
      fresh.received.forEach((got, i) => {
        const x = xs[i] as HttpExchange;
        const url = new URL(x.request.url);
        assert.equal(got.method, x.request.method);
        assert.equal(got.url, url.pathname + url.search);
        assert.equal(got.httpVersion, '1.1');
        assert.deepEqual(got.body, decodeBody(x.request.body));
        assert.deepEqual(comparableHeaders(got.rawHeaders), comparableHeaders(x.request.headers.flat()));
        assert.equal(header(got.rawHeaders, 'host'), `127.0.0.1:${fresh.port}`);
        // The length is recomputed from the bytes sent, where the recording had one.
        if (headerValue(x.request.headers, 'content-length') !== undefined) {
          assert.equal(header(got.rawHeaders, 'content-length'), String(got.body.length));
        }
      });
      assert.deepEqual(
        fresh.received.map((r) => r.method),
        ['GET', 'POST', 'PUT', 'DELETE'],
      );
      assert.equal(results.length, 4);
      for (const r of results) {
        assert.equal(r.response?.status, 200);
        assert.equal(r.response?.httpVersion, '1.1');
        assert.ok(r.latencyMs > 0);
        assert.ok(r.response?.headers.some(([n, v]) => n.toLowerCase() === 'x-served-by' && v === 'peer'));
      }
      const endpoints = outcome.stats.endpointSummaries().map((e) => e.endpoint);
      assert.deepEqual(endpoints, ['DELETE /users/{id}', 'GET /users/{id}', 'POST /users', 'PUT /blobs/{id}']);
      assert.equal(outcome.stats.totalSummary().statuses['200'], 4);
    } finally {
      await fresh.close();
    }
  });

  it('a target per service: exchanges of a service with no target are skipped and counted', async () => {
    const fresh = await startHttp1Peer();
    try {
      const run = startReplay({
        source: exchangeSource(recorded, parseTargets([`other=${fresh.url}`])),
        model: { kind: 'recorded', speed: 100 },
      });
      const outcome = await run.done;
      assert.equal(fresh.received.length, 0);
      assert.equal(outcome.skipped['no-target'], 4);
      const service = inbound(recorded)[0]?.service ?? 'app';
      const run2 = startReplay({
        source: exchangeSource(recorded, parseTargets([`${service}=${fresh.url}`])),
        model: { kind: 'recorded', speed: 100 },
      });
      await run2.done;
      assert.equal(fresh.received.length, 4);
    } finally {
      await fresh.close();
    }
  });

  it('a target that is down: every request is a "refused" error and the run still ends', async () => {
    const gone = await startHttp1Peer();
    await gone.close();
    const outcome = await startReplay({
      source: exchangeSource(recorded, parseTargets([gone.url])),
      model: { kind: 'recorded', speed: 100 },
    }).done;
    assert.deepEqual(outcome.stats.totalSummary().errors, { refused: 4 });
  });
});

describe('replay: HTTP/2 exchanges go over HTTP/2', () => {
  let recorded: Exchange[];
  let cleanup: () => Promise<void>;

  before(async () => {
    const app = await startHttp2Peer();
    try {
      const r = await recordInbound(app, async (url) => {
        const session = http2.connect(url);
        const call = (headers: http2.OutgoingHttpHeaders, body?: string) =>
          new Promise<void>((resolve, reject) => {
            const s = session.request(headers, { endStream: body === undefined });
            s.on('error', reject);
            s.on('data', () => undefined);
            s.on('end', () => resolve());
            if (body !== undefined) s.end(body);
          });
        await call({ ':method': 'GET', ':path': '/items/9?full=1', 'x-multi': ['a', 'b'], accept: 'application/json' });
        await call({ ':method': 'POST', ':path': '/items', 'content-type': 'application/json' }, '{"n":1}');
        await new Promise<void>((resolve) => session.close(() => resolve()));
      });
      recorded = r.exchanges;
      cleanup = r.cleanup;
    } finally {
      await app.close();
    }
  });
  after(() => cleanup?.());

  it('replays each h2 exchange on an HTTP/2 session with its headers and body', async () => {
    const fresh = await startHttp2Peer();
    try {
      const xs = inbound(recorded);
      assert.equal(xs.length, 2);
      assert.ok(xs.every((x) => x.request.httpVersion === '2'));
      const results: ReplayResult[] = [];
      await startReplay({
        source: exchangeSource(recorded, parseTargets([fresh.url])),
        model: { kind: 'recorded', speed: 100 },
        onResult: (r) => results.push(r),
      }).done;
      assert.equal(fresh.received.length, 2);
      fresh.received.forEach((got, i) => {
        const x = xs[i] as HttpExchange;
        const url = new URL(x.request.url);
        assert.equal(got.httpVersion, '2.0');
        assert.equal(got.method, x.request.method);
        assert.equal(got.url, url.pathname + url.search);
        assert.deepEqual(got.body, decodeBody(x.request.body));
        assert.deepEqual(comparableHeaders(got.rawHeaders), comparableHeaders(x.request.headers.flat()));
        assert.equal(header(got.rawHeaders, ':authority'), `127.0.0.1:${fresh.port}`);
      });
      assert.deepEqual(
        results.map((r) => [r.response?.status, r.response?.httpVersion]),
        [
          [200, '2'],
          [200, '2'],
        ],
      );
      assert.equal(new Set(fresh.received.map((r) => r.conn)).size, 1, 'one session for the origin');
    } finally {
      await fresh.close();
    }
  });
});
