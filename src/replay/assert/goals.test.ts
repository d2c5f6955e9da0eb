import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExitCode, UsageError } from '../../errors.ts';
import type { RunSummary, TrafficSummary } from '../types.ts';
import { checkGoals, describeGoalResult, parseGoals } from './goals.ts';

function traffic(over: Partial<TrafficSummary> = {}): TrafficSummary {
  return {
    requests: 1000,
    succeeded: 990,
    errors: 4,
    rps: 480,
    latencyMs: { p50: 12, p90: 40, p95: 80, p99: 260, p999: 900, max: 1500, mean: 25 },
    assertions: { checked: 990, passed: 985 },
    ...over,
  };
}

const summary: RunSummary = {
  durationMs: 2083,
  overall: traffic(),
  endpoints: {
    'GET /users/{id}': traffic({
      requests: 600,
      latencyMs: { p50: 5, p90: 9, p95: 20, p99: 90, p999: 95, max: 99, mean: 6 },
    }),
    'POST /orders': traffic({ requests: 0, succeeded: 0, errors: 0, rps: 0, assertions: { checked: 0, passed: 0 } }),
  },
};

function check(expr: string, s: RunSummary = summary) {
  const [r] = checkGoals(parseGoals([expr]), s);
  assert.ok(r);
  return r;
}

describe('parseGoals', () => {
  it('parses every metric, unit and comparison', () => {
    const goals = parseGoals([
      'p50 > 250ms',
      'p90>1s',
      'P95 >= 500us',
      'p99 > 0.25s',
      'p99.9 > 2s',
      'max > 3s',
      'mean <= 40ms',
      'success < 99%',
      'errors > 1%',
      'errors > 10',
      'assertions < 100%',
      'rps < 500',
      'rps < 500/s',
    ]);
    assert.deepEqual(
      goals.map((g) => [g.metric, g.op, g.threshold, g.unit]),
      [
        ['p50', '>', 250, 'ms'],
        ['p90', '>', 1000, 'ms'],
        ['p95', '>=', 0.5, 'ms'],
        ['p99', '>', 250, 'ms'],
        ['p99.9', '>', 2000, 'ms'],
        ['max', '>', 3000, 'ms'],
        ['mean', '<=', 40, 'ms'],
        ['success', '<', 99, '%'],
        ['errors', '>', 1, '%'],
        ['errors', '>', 10, 'count'],
        ['assertions', '<', 100, '%'],
        ['rps', '<', 500, 'rps'],
        ['rps', '<', 500, 'rps'],
      ],
    );
  });

  it('takes an endpoint scope (holding braces itself) and several goals in one string', () => {
    const goals = parseGoals(['p99{get  /users/{id}} > 100ms, success{POST /orders?a=1,2} < 99%', ' rps < 5 ']);
    assert.deepEqual(
      goals.map((g) => [g.metric, g.endpoint, g.text]),
      [
        ['p99', 'GET /users/{id}', 'p99{get  /users/{id}} > 100ms'],
        ['success', 'POST /orders?a=1,2', 'success{POST /orders?a=1,2} < 99%'],
        ['rps', undefined, 'rps < 5'],
      ],
    );
  });

  const bad: Array<[string, RegExp]> = [
    [
      'p98 > 1ms',
      /unknown metric "p98": use one of p50, p90, p95, p99, p99\.9, max, mean, success, errors, assertions, rps/,
    ],
    ['latency > 1ms', /unknown metric "latency"/],
    ['p99 > 250', /a latency needs a unit: us, ms or s \(e\.g\. "p99 > 250ms"\)/],
    ['p99 > 250m', /unknown time unit "m"/],
    ['p99 = 250ms', /expected >, >=, < or <= after p99, got "= 250ms"/],
    ['p99', /expected >, >=, < or <= after p99, got nothing/],
    ['success < 99', /success is a percentage: write it with % \(e\.g\. "success < 99%"\)/],
    ['success < 120%', /120% is more than 100%/],
    ['errors > 1.5', /an error count is a whole number/],
    ['rps < 5ms', /rps is requests per second/],
    ['p99 > fast', /"fast" is not a value/],
    ['p99{GET /x > 1ms', /no closing "\}"/],
    ['p99{ } > 1ms', /endpoint in "\{\}" is empty/],
    ['p99 > 1ms extra', /"1ms extra" is not a value/],
  ];
  for (const [expr, message] of bad) {
    it(`rejects "${expr}" with a usage error that says why and shows examples`, () => {
      assert.throws(
        () => parseGoals([expr]),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.equal(err.exitCode, ExitCode.usage);
          assert.match(err.message, message);
          assert.ok(err.message.startsWith(`--fail-if "${expr}": `));
          assert.match(err.hint ?? '', /--fail-if "p99 > 250ms"/);
          return true;
        },
      );
    });
  }

  it('reports every bad goal at once', () => {
    assert.throws(
      () => parseGoals(['p99 > 1ms, p98 > 1ms', 'success < 99']),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.equal(err.message.split('\n').length, 2);
        return true;
      },
    );
  });
});

describe('checkGoals', () => {
  it('checks each latency percentile, overall and per endpoint', () => {
    assert.deepEqual([check('p99 > 250ms').actual, check('p99 > 250ms').missed], [260, true]);
    assert.equal(check('p99 > 300ms').missed, false);
    assert.equal(check('p50 > 11ms').missed, true);
    assert.equal(check('p90 > 40ms').missed, false, '> is strict');
    assert.equal(check('p90 >= 40ms').missed, true);
    assert.equal(check('p95 > 79ms').actual, 80);
    assert.equal(check('p99.9 > 1s').actual, 900);
    assert.equal(check('max > 1s').missed, true);
    assert.equal(check('mean > 25000us').missed, false);
    assert.equal(check('p99{GET /users/{id}} > 100ms').missed, false);
    assert.equal(check('p99{get /users/{id}} > 80ms').missed, true);
  });

  it('checks success rate, errors as rate and count, assertion pass rate and rps', () => {
    assert.deepEqual([check('success < 99%').actual, check('success < 99%').missed], [99, false]);
    assert.equal(check('success < 99.5%').missed, true);
    assert.equal(check('errors > 0.5%').missed, false);
    assert.equal(check('errors > 0.3%').missed, true);
    assert.deepEqual([check('errors > 3').actual, check('errors > 3').missed], [4, true]);
    assert.equal(check('errors > 10').missed, false);
    const a = check('assertions < 100%');
    assert.ok(a.missed && Math.abs((a.actual ?? 0) - (985 / 990) * 100) < 1e-9);
    assert.equal(check('rps < 500').missed, true);
    assert.equal(check('rps < 400').missed, false);
  });

  it('counts a goal that cannot be measured as missed, and says why', () => {
    const unknown = check('p99{GET /nope} > 1ms');
    assert.deepEqual(
      [unknown.missed, unknown.actual, unknown.detail],
      [true, undefined, 'no requests to GET /nope in this run'],
    );
    const idle = check('success{POST /orders} < 99%');
    assert.deepEqual([idle.missed, idle.detail], [true, 'nothing to measure: no request finished']);
    assert.equal(check('p50{POST /orders} > 1ms').missed, true);
    assert.equal(check('errors{POST /orders} > 3').missed, false, 'a count of 0 is a measurement');
  });

  it('describes results for the terminal', () => {
    assert.equal(describeGoalResult(check('p99 > 250ms')), 'p99 > 250ms: 260ms (missed)');
    assert.equal(describeGoalResult(check('rps < 400')), 'rps < 400: 480 req/s (met)');
    assert.equal(describeGoalResult(check('assertions < 100%')), 'assertions < 100%: 99.49% (missed)');
    assert.equal(
      describeGoalResult(check('p99{GET /x} > 1ms')),
      'p99{GET /x} > 1ms: no requests to GET /x in this run (missed)',
    );
  });
});
