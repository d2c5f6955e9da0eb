/**
 * The generator as a library: `startReplay()` runs a load model over a request source against
 * the targets and aggregates every result; `stop()` (or the caller's signal) ends it early and
 * the outcome is still complete for what ran (a partial report). The CLI is a thin layer over
 * it; nothing here writes to the console.
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DEFAULT_BODY_CAP } from '../model/body.ts';
import { ClientSet } from './client.ts';
import { describeModel, type LoadModel } from './load-model.ts';
import { runScheduled, runVirtualUsers, type Limits } from './scheduler.ts';
import type { RequestSource } from './source.ts';
import { ReplayStats } from './stats.ts';
import type { ClientOptions } from './transport.ts';
import type { ReplayResult, Verdict } from './types.ts';

export interface ReplayOptions {
  source: RequestSource;
  model: LoadModel;
  limits?: Limits;
  /** Open model and recorded timing: requests in flight at most (default 1000); more are dropped. */
  maxInFlight?: number;
  /** HTTP/1.1 connections per origin in the open model (default 100); a virtual user has one. */
  connections?: number;
  timeoutMs?: number;
  bodyCap?: number;
  ca?: readonly Buffer[];
  insecure?: boolean;
  /** Judges each response against its recording (the assertions); absent: no verdicts. */
  judge?: (result: ReplayResult) => Verdict | undefined;
  /** Every result as it completes, after it was counted (for streaming consumers). */
  onResult?: (result: ReplayResult, verdict: Verdict | undefined) => void;
  signal?: AbortSignal;
}

export interface LiveSample {
  elapsedMs: number;
  sent: number;
  completed: number;
  errors: number;
  dropped: number;
  /** Completions per second over the last sample window. */
  rate: number;
  p99Ms: number;
}

export interface ReplayOutcome {
  stats: ReplayStats;
  model: string;
  startedAt: Date;
  elapsedMs: number;
  /** Stopped before the schedule ended (Ctrl-C, stop()). */
  interrupted: boolean;
  /** Requests still in flight when it was stopped: aborted and not counted. */
  inFlightAtStop: number;
  skipped: Readonly<Record<string, number>>;
  truncatedBodies: number;
}

export interface ReplayRun {
  readonly stats: ReplayStats;
  live(): LiveSample;
  /** Stops scheduling, aborts what is in flight, and lets `done` resolve with what ran. */
  stop(): void;
  readonly done: Promise<ReplayOutcome>;
}

export function startReplay(options: ReplayOptions): ReplayRun {
  const start = performance.now();
  const startedAt = new Date();
  const stats = new ReplayStats(start);
  const controller = new AbortController();
  // Every request in flight listens for the stop; their number is bounded by --max-in-flight.
  setMaxListeners(0, controller.signal);
  const onOuterAbort = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let sent = 0;
  let completed = 0;
  const clientOptions: ClientOptions = {
    timeoutMs: options.timeoutMs ?? 30_000,
    bodyCap: options.bodyCap ?? DEFAULT_BODY_CAP,
    connections: options.connections ?? 100,
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.insecure ? { insecure: true } : {}),
  };
  const hooks = {
    signal: controller.signal,
    onSent: () => void sent++,
    onDrop: (req: { endpoint: string }, at: number) => stats.drop(req.endpoint, at),
    onResult: (result: ReplayResult) => {
      completed++;
      // A judge that throws must not lose the measurement: the result is kept unjudged.
      let verdict: Verdict | undefined;
      try {
        verdict = result.response ? options.judge?.(result) : undefined;
      } catch (err) {
        verdict = {
          pass: false,
          differences: [{ path: 'assertion', recorded: '', replayed: `the comparison failed: ${String(err)}` }],
          differenceCount: 1,
          ignored: [],
          ignoredCount: 0,
        };
      }
      stats.record(result, verdict);
      options.onResult?.(result, verdict);
    },
  };
  const limits = options.limits ?? {};
  const model = options.model;

  const run = async (): Promise<{ inFlightAtStop: number }> => {
    if (model.kind === 'vus') {
      return runVirtualUsers(
        model.vus,
        options.source,
        () => new ClientSet({ ...clientOptions, connections: 1 }),
        limits,
        hooks,
        start,
      );
    }
    const clients = new ClientSet(clientOptions);
    try {
      return await runScheduled(model, options.source, clients, limits, options.maxInFlight ?? 1000, hooks, start);
    } finally {
      await clients.close();
    }
  };

  let window = { at: start, completed: 0, rate: 0 };
  const done = run().then(({ inFlightAtStop }) => {
    options.signal?.removeEventListener('abort', onOuterAbort);
    return {
      stats,
      model: describeModel(model),
      startedAt,
      elapsedMs: performance.now() - start,
      interrupted: controller.signal.aborted,
      inFlightAtStop,
      skipped: { ...options.source.skipped },
      truncatedBodies: options.source.truncatedBodies,
    };
  });

  return {
    stats,
    done,
    stop: () => controller.abort(),
    live: () => {
      const now = performance.now();
      // The rate over the last window of at least 1 s: steady enough to read, recent enough to follow.
      if (now - window.at >= 1000) {
        window = { at: now, completed, rate: ((completed - window.completed) * 1000) / (now - window.at) };
      } else if (window.at === start && now > start) {
        window.rate = (completed * 1000) / (now - start);
      }
      return {
        elapsedMs: now - start,
        sent,
        completed,
        errors: stats.total.errorCount,
        dropped: stats.total.dropped,
        rate: window.rate,
        p99Ms: stats.total.latency.percentileMs(99),
      };
    },
  };
}
