/**
 * The load models against real servers: the open model sends on its schedule (the right count
 * at a fixed rate) and measures latency from the intended send time, so one server stall shows
 * even at low concurrency; virtual users keep recorded order on their own connections; a stop
 * signal ends the run with what completed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import type { Exchange } from '../src/model/exchange.ts';
import { startReplay } from '../src/replay/runner.ts';
import { parseTargets } from '../src/replay/select.ts';
import { exchangeSource } from '../src/replay/source.ts';
import { recordInbound, startHttp1Peer } from './helpers/replay.ts';

const PATHS = ['/a/1', '/b', '/c?q=3'];

describe('replay: load models', () => {
  let recorded: Exchange[];
  let cleanup: () => Promise<void>;

  before(async () => {
    const app = await startHttp1Peer();
    try {
      const r = await recordInbound(app, async (url) => {
        const client = new Client(url);
        for (const path of PATHS) await (await client.request({ path, method: 'GET' })).body.text();
        await client.close();
      });
      recorded = r.exchanges;
      cleanup = r.cleanup;
    } finally {
      await app.close();
    }
  });
  after(() => cleanup?.());

  it('open model at a fixed rate sends the scheduled count: 40 req/s for 1 s is 40 requests', async () => {
    const peer = await startHttp1Peer();
    try {
      const outcome = await startReplay({
        source: exchangeSource(recorded, parseTargets([peer.url])),
        model: { kind: 'rate', from: 40, to: 40 },
        limits: { durationMs: 1000 },
      }).done;
      assert.equal(peer.received.length, 40);
      assert.equal(outcome.stats.total.sent, 40);
      assert.equal(outcome.stats.total.dropped, 0);
      // Looping over the snapshot in recorded order.
      assert.deepEqual(
        peer.received.slice(0, 6).map((r) => r.url),
        [...PATHS, ...PATHS],
      );
      assert.ok(outcome.elapsedMs >= 975, `ran ${outcome.elapsedMs} ms`);
    } finally {
      await peer.close();
    }
  });

  it('latency counts from the intended send time: one 300 ms stall shows at one connection', async () => {
    let hits = 0;
    const peer = await startHttp1Peer(() => (++hits === 3 ? { body: 'slow', delayMs: 300 } : undefined));
    try {
      const outcome = await startReplay({
        source: exchangeSource(recorded, parseTargets([peer.url])),
        model: { kind: 'rate', from: 20, to: 20 },
        limits: { durationMs: 1000 },
        connections: 1,
      }).done;
      const total = outcome.stats.totalSummary();
      assert.equal(total.responses, 20);
      assert.ok(total.latency.max >= 300, `max ${total.latency.max} ms`);
      // The requests due during the stall waited behind it; their wait is latency too.
      const hist = outcome.stats.total.latency;
      const slow = 20 * (1 - percentileRank(hist, 100));
      assert.ok(slow >= 4, `${slow} requests at ≥ 100 ms`);
    } finally {
      await peer.close();
    }
  });

  it('max-in-flight bounds the open model: requests due beyond it are dropped and counted', async () => {
    const peer = await startHttp1Peer(() => ({ body: 'slow', delayMs: 400 }));
    try {
      const outcome = await startReplay({
        source: exchangeSource(recorded, parseTargets([peer.url])),
        model: { kind: 'rate', from: 50, to: 50 },
        limits: { durationMs: 200 },
        maxInFlight: 3,
      }).done;
      assert.equal(outcome.stats.total.sent, 3);
      assert.equal(outcome.stats.total.dropped, 7);
      const dropped = outcome.stats.throughput().buckets.reduce((n, b) => n + b.dropped, 0);
      assert.equal(dropped, 7);
    } finally {
      await peer.close();
    }
  });

  it('closed model: each virtual user walks the snapshot in order on its own connection', async () => {
    const peer = await startHttp1Peer();
    try {
      const outcome = await startReplay({
        source: exchangeSource(recorded, parseTargets([peer.url])),
        model: { kind: 'vus', vus: 3 },
        limits: { loops: 2 },
      }).done;
      assert.equal(outcome.stats.total.sent, 18);
      const byConn = new Map<number, string[]>();
      for (const r of peer.received) byConn.set(r.conn, [...(byConn.get(r.conn) ?? []), r.url]);
      assert.equal(byConn.size, 3);
      for (const urls of byConn.values()) assert.deepEqual(urls, [...PATHS, ...PATHS]);
    } finally {
      await peer.close();
    }
  });

  it('recorded timing keeps the recorded gaps, divided by the speed', async () => {
    const peer = await startHttp1Peer();
    try {
      const base = Date.parse('2024-05-01T10:00:00.000Z');
      const spaced = recorded
        .filter((x) => x.direction === 'inbound')
        .map((x, i) => ({ ...x, ts: new Date(base + i * 400).toISOString() }));
      const outcome = await startReplay({
        source: exchangeSource(spaced, parseTargets([peer.url])),
        model: { kind: 'recorded', speed: 2 },
      }).done;
      // Offsets 0, 400, 800 ms at 2× are 0, 200, 400 ms.
      assert.equal(peer.received.length, 3);
      assert.ok(outcome.elapsedMs >= 400, `ran ${outcome.elapsedMs} ms`);
      assert.ok(outcome.elapsedMs < 800, `ran ${outcome.elapsedMs} ms`);
    } finally {
      await peer.close();
    }
  });

  it('a stop signal ends the run early with what completed (interrupted, in-flight aborted)', async () => {
    const peer = await startHttp1Peer();
    try {
      const controller = new AbortController();
      let seen = 0;
      const outcome = await startReplay({
        source: exchangeSource(recorded, parseTargets([peer.url])),
        model: { kind: 'rate', from: 50, to: 50 },
        limits: { durationMs: 60_000 },
        signal: controller.signal,
        onResult: () => {
          if (++seen === 5) controller.abort();
        },
      }).done;
      assert.equal(outcome.interrupted, true);
      assert.ok(outcome.stats.total.sent >= 5 && outcome.stats.total.sent < 20, `sent ${outcome.stats.total.sent}`);
      assert.ok(outcome.elapsedMs < 5000);
    } finally {
      await peer.close();
    }
  });
});

/** Fraction of values below `ms` (from the histogram's own percentile curve). */
function percentileRank(h: { percentileMs(p: number): number }, ms: number): number {
  for (let p = 0; p <= 100; p += 1) if (h.percentileMs(p) >= ms) return p / 100;
  return 1;
}
