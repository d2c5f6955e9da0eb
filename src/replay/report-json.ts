/**
 * The report as data: one JSON document with everything a run measured. `summary` is the shared
 * RunSummary (what --fail-if goals and --baseline read), so a report can be the next run's
 * baseline; the rest adds detail for people and tools (per-endpoint histograms, throughput over
 * time, error kinds, failures with their differences). The terminal and HTML reports render it.
 */
import { writeFile } from 'node:fs/promises';
import { FileUnwritableError } from '../errors.ts';
import type { ReplayOutcome } from './runner.ts';
import type { EndpointSummary, FailureRecord, ThroughputBucket } from './stats.ts';
import type { RunSummary } from './types.ts';

export const REPORT_FORMAT = 1;

export interface ReplayReport {
  format: typeof REPORT_FORMAT;
  tool: { name: 'tapwire'; version: string };
  snapshot: { id: string; name?: string | undefined };
  /** `*` for --target URL, else the service name → its URL. */
  targets: Record<string, string>;
  model: string;
  limits: { durationMs?: number | undefined; loops?: number | undefined; maxInFlight?: number | undefined };
  startedAt: string;
  durationMs: number;
  /** Stopped early (Ctrl-C): the numbers cover what completed. */
  interrupted: boolean;
  /** Requests in flight when it stopped (aborted, not counted). */
  inFlightAtStop: number;
  summary: RunSummary;
  totals: ReportTraffic;
  endpoints: ReportTraffic[];
  throughput: { bucketSeconds: number; buckets: ThroughputBucket[] };
  /** Recorded exchanges not replayed, by reason (outbound, protocol not replayed yet, no target). */
  skipped: Record<string, number>;
  /** Requests sent with a body shorter than the original (cut at the capture cap when recorded). */
  truncatedBodies: number;
  /** Present when responses were compared with the recording. */
  assertions?: {
    passed: number;
    failed: number;
    /** The first failures, with their differences. */
    failures: FailureRecord[];
    failuresNotShown: number;
    /** Differences not counted, and why, with how often. */
    ignored: Array<{ path: string; reason: string; count: number }>;
  };
  /** --fail-if results, as the goal checker gives them. */
  goals?: unknown;
}

/** One endpoint's (or the totals') traffic, as the run's statistics summarise it. */
export type ReportTraffic = EndpointSummary;

export interface ReportContext {
  version: string;
  snapshot: { id: string; name?: string | undefined };
  targets: Record<string, string>;
  limits: ReplayReport['limits'];
  goals?: unknown;
}

export function buildReport(outcome: ReplayOutcome, context: ReportContext): ReplayReport {
  const { stats } = outcome;
  const durationMs = Math.round(outcome.elapsedMs);
  const report: ReplayReport = {
    format: REPORT_FORMAT,
    tool: { name: 'tapwire', version: context.version },
    snapshot: context.snapshot,
    targets: context.targets,
    model: outcome.model,
    limits: context.limits,
    startedAt: outcome.startedAt.toISOString(),
    durationMs,
    interrupted: outcome.interrupted,
    inFlightAtStop: outcome.inFlightAtStop,
    summary: stats.runSummary(durationMs),
    totals: stats.totalSummary(),
    endpoints: stats.endpointSummaries(),
    throughput: stats.throughput(),
    skipped: { ...outcome.skipped },
    truncatedBodies: outcome.truncatedBodies,
  };
  if (stats.judged) {
    report.assertions = {
      passed: stats.total.passed,
      failed: stats.total.failed,
      failures: stats.failures,
      failuresNotShown: stats.failuresNotKept,
      ignored: stats.ignoredPaths(),
    };
  }
  if (context.goals !== undefined) report.goals = context.goals;
  return report;
}

/** Writes the report as JSON or HTML, chosen by the file's extension. */
export async function writeReport(file: string, report: ReplayReport): Promise<void> {
  let text: string;
  if (/\.html?$/i.test(file)) {
    const { renderHtml } = await import('./report-html.ts');
    text = renderHtml(report);
  } else text = JSON.stringify(report, null, 2) + '\n';
  try {
    await writeFile(file, text);
  } catch (err) {
    throw new FileUnwritableError(file, (err as Error).message, 'check that the directory exists and is writable');
  }
}
