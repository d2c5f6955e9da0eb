/**
 * `--baseline REPORT.json`: this run against an earlier one, overall and per endpoint. A
 * regression is p50 or p99 slower than the tolerance (10% by default, and by at least 1 ms, so
 * that sub-millisecond jitter on a shared machine is not a regression), or a lower success rate
 * or assertion pass rate. Endpoints only one of the two runs hit are listed, not judged.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FileUnreadableError } from '../../errors.ts';
import type { RunSummary, TrafficSummary } from '../types.ts';

export interface BaselineOptions {
  /** Allowed slowdown of p50 and p99 as a fraction (0.1 = 10%). */
  latencyTolerance?: number;
  /** A slowdown must also exceed this many milliseconds (default 1). */
  latencyFloorMs?: number;
  /** Allowed drop of the success and assertion pass rates, in percentage points (default 0). */
  rateTolerance?: number;
}

export type BaselineMetric = 'p50' | 'p99' | 'success' | 'assertions';

export interface Regression {
  /** `overall` or an endpoint key. */
  scope: string;
  metric: BaselineMetric;
  /** Milliseconds for p50/p99, percent for the rates. */
  baseline: number;
  current: number;
  /** `p99 312.0ms vs 250.0ms (+24.8%)`. */
  message: string;
}

export interface BaselineComparison {
  regressions: Regression[];
  /** Endpoints in both runs that were compared (besides `overall`). */
  compared: string[];
  onlyInBaseline: string[];
  onlyInCurrent: string[];
}

export function compareBaseline(
  current: RunSummary,
  baseline: RunSummary,
  options: BaselineOptions = {},
): BaselineComparison {
  const o = { latencyTolerance: 0.1, latencyFloorMs: 1, rateTolerance: 0, ...options };
  const regressions = compareTraffic('overall', current.overall, baseline.overall, o);
  const compared: string[] = [];
  const onlyInBaseline: string[] = [];
  for (const [endpoint, base] of Object.entries(baseline.endpoints)) {
    const now = current.endpoints[endpoint];
    if (!now) {
      onlyInBaseline.push(endpoint);
      continue;
    }
    compared.push(endpoint);
    regressions.push(...compareTraffic(endpoint, now, base, o));
  }
  const onlyInCurrent = Object.keys(current.endpoints).filter((e) => !Object.hasOwn(baseline.endpoints, e));
  return { regressions, compared, onlyInBaseline, onlyInCurrent };
}

function compareTraffic(
  scope: string,
  now: TrafficSummary,
  base: TrafficSummary,
  o: Required<BaselineOptions>,
): Regression[] {
  const out: Regression[] = [];
  // Latencies exist only where responses came back in both runs.
  if (now.requests > now.errors && base.requests > base.errors) {
    for (const metric of ['p50', 'p99'] as const) {
      const b = base.latencyMs[metric];
      const c = now.latencyMs[metric];
      if (c > b * (1 + o.latencyTolerance) && c - b > o.latencyFloorMs) {
        const pct = b > 0 ? ` (+${(((c - b) / b) * 100).toFixed(1)}%)` : '';
        out.push({
          scope,
          metric,
          baseline: b,
          current: c,
          message: `${metric} ${c.toFixed(1)}ms vs ${b.toFixed(1)}ms${pct}`,
        });
      }
    }
  }
  const rates: Array<[BaselineMetric, number | undefined, number | undefined]> = [
    ['success', rate(now.succeeded, now.requests), rate(base.succeeded, base.requests)],
    [
      'assertions',
      rate(now.assertions.passed, now.assertions.checked),
      rate(base.assertions.passed, base.assertions.checked),
    ],
  ];
  for (const [metric, c, b] of rates) {
    if (c === undefined || b === undefined || c >= b - o.rateTolerance) continue;
    out.push({ scope, metric, baseline: b, current: c, message: `${metric} ${fmt(c)}% vs ${fmt(b)}%` });
  }
  return out;
}

function rate(part: number, whole: number): number | undefined {
  return whole > 0 ? (part / whole) * 100 : undefined;
}

function fmt(pct: number): string {
  return Number.isInteger(pct) ? String(pct) : pct.toFixed(2);
}

const latencySchema = z.object({
  p50: z.number(),
  p90: z.number(),
  p95: z.number(),
  p99: z.number(),
  p999: z.number(),
  max: z.number(),
  mean: z.number(),
});

const trafficSchema = z.object({
  requests: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  rps: z.number().nonnegative(),
  latencyMs: latencySchema,
  assertions: z.object({ checked: z.number().int().nonnegative(), passed: z.number().int().nonnegative() }),
});

/** The report's `summary`; extra fields (added by later versions) are allowed and dropped. */
export const runSummarySchema: z.ZodType<RunSummary> = z.object({
  durationMs: z.number().nonnegative(),
  overall: trafficSchema,
  endpoints: z.record(z.string(), trafficSchema),
});

const HINT = 'give --baseline the JSON report of an earlier run (tapwire replay … --report FILE.json)';

/** Reads the `summary` of a JSON report written by `tapwire replay --report FILE.json`. */
export function loadBaseline(file: string): RunSummary {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileUnreadableError(file, code === 'ENOENT' ? 'no such file' : String(code ?? err), HINT);
  }
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch {
    throw new FileUnreadableError(file, 'not JSON, so not a tapwire replay report', HINT);
  }
  if (typeof report !== 'object' || report === null || !('summary' in report)) {
    throw new FileUnreadableError(file, 'not a tapwire replay report (it has no "summary" field)', HINT);
  }
  const parsed = runSummarySchema.safeParse(report.summary);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `summary.${issue.path.join('.')}` : 'summary';
    throw new FileUnreadableError(
      file,
      `its "summary" is not a replay summary (${where}: ${issue?.message ?? 'invalid'})`,
      `${HINT}; a report from an older tapwire may need the run repeated`,
    );
  }
  return parsed.data;
}
