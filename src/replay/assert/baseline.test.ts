import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FileUnreadableError } from '../../errors.ts';
import type { RunSummary, TrafficSummary } from '../types.ts';
import { compareBaseline, loadBaseline } from './baseline.ts';

function traffic(p50: number, p99: number, over: Partial<TrafficSummary> = {}): TrafficSummary {
  return {
    requests: 1000,
    succeeded: 1000,
    errors: 0,
    rps: 500,
    latencyMs: { p50, p90: p99, p95: p99, p99, p999: p99, max: p99, mean: p50 },
    assertions: { checked: 1000, passed: 1000 },
    ...over,
  };
}

const base: RunSummary = {
  durationMs: 2000,
  overall: traffic(10, 100),
  endpoints: { 'GET /a': traffic(10, 100), 'GET /b': traffic(0.2, 0.5), 'GET /old': traffic(1, 2) },
};

describe('compareBaseline', () => {
  it('finds nothing when the run matches its baseline within tolerance', () => {
    const now: RunSummary = {
      ...base,
      overall: traffic(10.9, 109),
      endpoints: { ...base.endpoints, 'GET /new': traffic(1, 1) },
    };
    delete now.endpoints['GET /old'];
    const c = compareBaseline(now, base);
    assert.deepEqual(c.regressions, []);
    assert.deepEqual(c.compared, ['GET /a', 'GET /b']);
    assert.deepEqual(c.onlyInBaseline, ['GET /old']);
    assert.deepEqual(c.onlyInCurrent, ['GET /new']);
  });

  it('flags p50 and p99 slower than the tolerance, overall and per endpoint', () => {
    const now: RunSummary = {
      ...base,
      overall: traffic(12, 100),
      endpoints: { ...base.endpoints, 'GET /a': traffic(10, 125) },
    };
    assert.deepEqual(
      compareBaseline(now, base).regressions.map((r) => [r.scope, r.metric, r.message]),
      [
        ['overall', 'p50', 'p50 12.0ms vs 10.0ms (+20.0%)'],
        ['GET /a', 'p99', 'p99 125.0ms vs 100.0ms (+25.0%)'],
      ],
    );
    assert.deepEqual(compareBaseline(now, base, { latencyTolerance: 0.3 }).regressions, []);
  });

  it('does not call sub-millisecond jitter a regression', () => {
    const now: RunSummary = { ...base, endpoints: { ...base.endpoints, 'GET /b': traffic(0.4, 1.2) } };
    assert.deepEqual(compareBaseline(now, base).regressions, []);
    assert.equal(compareBaseline(now, base, { latencyFloorMs: 0 }).regressions.length, 2);
  });

  it('flags a lower success rate and a lower assertion pass rate', () => {
    const now: RunSummary = {
      ...base,
      overall: traffic(10, 100, { succeeded: 990, assertions: { checked: 990, passed: 980 } }),
    };
    assert.deepEqual(
      compareBaseline(now, base).regressions.map((r) => [r.scope, r.metric, r.baseline, r.current, r.message]),
      [
        ['overall', 'success', 100, 99, 'success 99% vs 100%'],
        ['overall', 'assertions', 100, (980 / 990) * 100, 'assertions 98.99% vs 100%'],
      ],
    );
    assert.deepEqual(compareBaseline(now, base, { rateTolerance: 2 }).regressions, []);
  });

  it('does not compare latencies of a side where nothing answered', () => {
    const dead = traffic(0, 0, { errors: 1000, succeeded: 0, assertions: { checked: 0, passed: 0 } });
    const c = compareBaseline({ ...base, overall: dead }, base);
    assert.deepEqual(
      c.regressions.map((r) => r.metric),
      ['success'],
    );
  });
});

describe('loadBaseline', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tapwire-baseline-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads the summary of a report, ignoring the rest', () => {
    const file = write('ok.json', JSON.stringify({ version: 1, results: [], summary: base }));
    assert.deepEqual(loadBaseline(file), base);
  });

  const cases: Array<[string, string | undefined, RegExp]> = [
    ['missing.json', undefined, /cannot read .*missing\.json: no such file/],
    ['text.json', 'hello', /not JSON, so not a tapwire replay report/],
    ['har.json', JSON.stringify({ log: { entries: [] } }), /not a tapwire replay report \(it has no "summary" field\)/],
    [
      'bad.json',
      JSON.stringify({ summary: { durationMs: 1, overall: { requests: 'x' } } }),
      /"summary" is not a replay summary \(summary\.overall\.requests: /,
    ],
  ];
  for (const [name, text, message] of cases) {
    it(`explains what is wrong with ${name}`, () => {
      const file = text === undefined ? path.join(dir, name) : write(name, text);
      assert.throws(
        () => loadBaseline(file),
        (err: unknown) => {
          assert.ok(err instanceof FileUnreadableError);
          assert.equal(err.code, 'TW_FILE_UNREADABLE');
          assert.match(err.message, message);
          assert.match(err.hint ?? '', /--baseline the JSON report of an earlier run/);
          return true;
        },
      );
    });
  }
});
