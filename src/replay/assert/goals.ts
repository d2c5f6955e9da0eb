/**
 * `--fail-if` goals: each expression states when a run FAILS (`p99 > 250ms` fails the run when
 * the 99th percentile is above 250 ms). The grammar is small on purpose, so that a typo is
 * rejected at start rather than silently never firing:
 *
 *   goal     := metric [ '{' endpoint '}' ] op value
 *   metric   := p50 | p90 | p95 | p99 | p99.9 | max | mean       (latency; value needs us, ms or s)
 *             | success                  (% of requests with a 2xx/3xx and no transport error)
 *             | errors                   (transport errors: `errors > 1%` a rate, `errors > 10` a count)
 *             | assertions               (% of compared responses that passed)
 *             | rps                      (finished requests per second; `500`, `500rps` or `500/s`)
 *   op       := > | >= | < | <=
 *   endpoint := an endpoint key as the report shows it, e.g. `GET /users/{id}`
 *
 * Several goals may share one string, separated by commas: `"p99 > 250ms, success < 99%"`.
 * A goal that cannot be measured (no requests, an endpoint the run never hit) counts as missed:
 * a goal is a requirement, and nothing measured shows nothing met.
 */
import { UsageError } from '../../errors.ts';
import type { RunSummary, TrafficSummary } from '../types.ts';

export const LATENCY_METRICS = ['p50', 'p90', 'p95', 'p99', 'p99.9', 'max', 'mean'] as const;
export const GOAL_METRICS = [...LATENCY_METRICS, 'success', 'errors', 'assertions', 'rps'] as const;
export type GoalMetric = (typeof GOAL_METRICS)[number];
export type GoalOp = '>' | '>=' | '<' | '<=';

export interface Goal {
  /** The expression as written (trimmed), for reports. */
  text: string;
  metric: GoalMetric;
  /** Only this endpoint's requests; the whole run when absent. */
  endpoint?: string;
  op: GoalOp;
  /** In `unit`: milliseconds, percent (0–100), a count, or requests per second. */
  threshold: number;
  unit: 'ms' | '%' | 'count' | 'rps';
}

export interface GoalResult {
  goal: Goal;
  /** The measured value in the goal's unit; undefined when there was nothing to measure. */
  actual: number | undefined;
  missed: boolean;
  /** Why a goal could not be measured. */
  detail?: string;
}

const EXAMPLES =
  'examples: --fail-if "p99 > 250ms"  --fail-if "success < 99%"  --fail-if "errors > 10"  ' +
  '--fail-if "assertions < 100%"  --fail-if "rps < 500"  --fail-if "p95{GET /users/{id}} > 100ms"';

/** Parses every expression; all problems are reported at once as one usage error (exit code 2). */
export function parseGoals(exprs: readonly string[]): Goal[] {
  const goals: Goal[] = [];
  const problems: string[] = [];
  for (const expr of exprs) {
    for (const part of splitTopLevel(expr)) {
      try {
        goals.push(parseGoal(part));
      } catch (err) {
        problems.push(`--fail-if "${part}": ${(err as Error).message}`);
      }
    }
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'), { hint: EXAMPLES });
  return goals;
}

/** Splits on commas outside `{…}` (an endpoint may hold a comma in its query). */
function splitTopLevel(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      parts.push(expr.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(expr.slice(from));
  const kept = parts.map((p) => p.trim()).filter((p) => p !== '');
  return kept.length > 0 ? kept : [expr.trim()];
}

function parseGoal(text: string): Goal {
  if (text === '') throw new Error('empty goal: write a metric, a comparison and a value, e.g. "p99 > 250ms"');
  const m = /^(p\d+(?:\.\d+)?|[a-z]+)/i.exec(text);
  const metric = m?.[1]?.toLowerCase();
  if (!metric || !(GOAL_METRICS as readonly string[]).includes(metric)) {
    throw new Error(
      `unknown metric "${metric ?? text.split(/\s/)[0]}": use one of ${GOAL_METRICS.join(', ')} (e.g. "p99 > 250ms")`,
    );
  }
  let at = metric.length;
  let endpoint: string | undefined;
  at = skipSpaces(text, at);
  if (text[at] === '{') {
    const close = matchingBrace(text, at);
    if (close < 0)
      throw new Error(`the endpoint after ${metric} has no closing "}" (e.g. "p99{GET /users/{id}} > 100ms")`);
    endpoint = normaliseEndpoint(text.slice(at + 1, close));
    if (endpoint === '') throw new Error(`the endpoint in "{}" is empty (e.g. "p99{GET /users/{id}} > 100ms")`);
    at = skipSpaces(text, close + 1);
  }
  const op = /^(>=|<=|>|<)/.exec(text.slice(at))?.[1] as GoalOp | undefined;
  if (!op) {
    const seen = text.slice(at) === '' ? 'nothing' : `"${text.slice(at)}"`;
    throw new Error(`expected >, >=, < or <= after ${metric}, got ${seen} (e.g. "${metric} ${example(metric)}")`);
  }
  const valueText = text.slice(at + op.length).trim();
  const { threshold, unit } = parseValue(metric as GoalMetric, valueText);
  const goal: Goal = { text, metric: metric as GoalMetric, op, threshold, unit };
  if (endpoint !== undefined) goal.endpoint = endpoint;
  return goal;
}

function parseValue(metric: GoalMetric, text: string): { threshold: number; unit: Goal['unit'] } {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zµ%/]*)$/i.exec(text);
  if (!m)
    throw new Error(
      `"${text || '(nothing)'}" is not a value: write a number and its unit (e.g. "${metric} ${example(metric)}")`,
    );
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  if ((LATENCY_METRICS as readonly string[]).includes(metric)) {
    const scale: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000 };
    const f = scale[unit];
    if (f === undefined) {
      throw new Error(
        unit === ''
          ? `a latency needs a unit: us, ms or s (e.g. "${metric} > ${n}ms")`
          : `unknown time unit "${unit}": use us, ms or s (e.g. "${metric} > 250ms")`,
      );
    }
    return { threshold: n * f, unit: 'ms' };
  }
  if (metric === 'rps') {
    if (unit !== '' && unit !== 'rps' && unit !== '/s') throw new Error(`rps is requests per second: "rps < 500"`);
    return { threshold: n, unit: 'rps' };
  }
  if (metric === 'errors' && unit === '') {
    if (!Number.isInteger(n))
      throw new Error(`an error count is a whole number; for a rate add % (e.g. "errors > 1%")`);
    return { threshold: n, unit: 'count' };
  }
  if (unit !== '%') {
    throw new Error(`${metric} is a percentage: write it with % (e.g. "${metric} ${example(metric)}")`);
  }
  if (n > 100) throw new Error(`${n}% is more than 100%`);
  return { threshold: n, unit: '%' };
}

function example(metric: string): string {
  switch (metric) {
    case 'success':
      return '< 99%';
    case 'assertions':
      return '< 100%';
    case 'errors':
      return '> 1%';
    case 'rps':
      return '< 500';
    default:
      return '> 250ms';
  }
}

function skipSpaces(text: string, at: number): number {
  while (at < text.length && /\s/.test(text[at] as string)) at++;
  return at;
}

/** Index of the `}` closing the `{` at `open` (endpoints hold `{id}` themselves), or -1. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** `get  /users/{id}` → `GET /users/{id}`: spacing and the method's case never decide a match. */
function normaliseEndpoint(text: string): string {
  const t = text.trim().replace(/\s+/g, ' ');
  const sp = t.indexOf(' ');
  return sp < 0 ? t : `${t.slice(0, sp).toUpperCase()}${t.slice(sp)}`;
}

/** Checks each goal against a run; `missed` is true when the goal's failing condition holds. */
export function checkGoals(goals: readonly Goal[], summary: RunSummary): GoalResult[] {
  return goals.map((goal) => {
    let traffic: TrafficSummary | undefined = summary.overall;
    if (goal.endpoint !== undefined) {
      const key = Object.keys(summary.endpoints).find((k) => normaliseEndpoint(k) === goal.endpoint);
      traffic = key === undefined ? undefined : summary.endpoints[key];
      if (!traffic)
        return { goal, actual: undefined, missed: true, detail: `no requests to ${goal.endpoint} in this run` };
    }
    const actual = measure(goal, traffic);
    if (actual === undefined) return { goal, actual, missed: true, detail: 'nothing to measure: no request finished' };
    return { goal, actual, missed: holds(actual, goal.op, goal.threshold) };
  });
}

function measure(goal: Goal, t: TrafficSummary): number | undefined {
  const answered = t.requests - t.errors;
  switch (goal.metric) {
    case 'success':
      return t.requests > 0 ? (t.succeeded / t.requests) * 100 : undefined;
    case 'errors':
      if (goal.unit === 'count') return t.errors;
      return t.requests > 0 ? (t.errors / t.requests) * 100 : undefined;
    case 'assertions':
      return t.assertions.checked > 0 ? (t.assertions.passed / t.assertions.checked) * 100 : undefined;
    case 'rps':
      return t.rps;
    case 'p99.9':
      return answered > 0 ? t.latencyMs.p999 : undefined;
    default:
      return answered > 0 ? t.latencyMs[goal.metric] : undefined;
  }
}

function holds(actual: number, op: GoalOp, threshold: number): boolean {
  switch (op) {
    case '>':
      return actual > threshold;
    case '>=':
      return actual >= threshold;
    case '<':
      return actual < threshold;
    case '<=':
      return actual <= threshold;
  }
}

/** `p99 > 250ms: 312.4ms (missed)`, for the terminal and the report. */
export function describeGoalResult(r: GoalResult): string {
  const state = r.missed ? 'missed' : 'met';
  if (r.actual === undefined) return `${r.goal.text}: ${r.detail ?? 'not measured'} (${state})`;
  const value = Number.isInteger(r.actual) ? String(r.actual) : r.actual.toFixed(r.goal.unit === 'ms' ? 1 : 2);
  const unit = r.goal.unit === 'ms' ? 'ms' : r.goal.unit === '%' ? '%' : r.goal.unit === 'rps' ? ' req/s' : '';
  return `${r.goal.text}: ${value}${unit} (${state})`;
}
