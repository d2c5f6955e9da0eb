/**
 * Everything a run measures, aggregated as results arrive so that memory stays flat however
 * long the run: latency histograms overall and per endpoint, status counts, transport errors by
 * kind, throughput per time bucket, and (when the assertions judge results) pass/fail counts
 * with the first failures kept whole. Every map and list here has a bound.
 */
import { LatencyHistogram, type LatencyStats } from './histogram.ts';
import type { Difference, ReplayResult, RunSummary, TrafficSummary, Verdict } from './types.ts';

/** Endpoints tracked one by one; the rest share one row (a snapshot of generated paths must not grow memory). */
export const MAX_ENDPOINTS = 500;
export const OTHER_ENDPOINT = '(other endpoints)';
/** Failures kept with their differences; the rest are counted. */
export const MAX_FAILURES = 100;
/** Time buckets kept; past this the bucket width doubles and neighbours merge. */
const MAX_BUCKETS = 600;
const MAX_IGNORED = 200;

export interface ThroughputBucket {
  /** Seconds since the start of the run (bucket start). */
  t: number;
  /** Responses (any status) that completed in the bucket. */
  completed: number;
  /** Transport errors in the bucket. */
  errors: number;
  /** Requests not sent because --max-in-flight was reached. */
  dropped: number;
}

export interface FailureRecord {
  endpoint: string;
  method: string;
  url: string;
  recordedId: string;
  status?: number;
  differences: Difference[];
  differenceCount: number;
}

export class EndpointAggregate {
  readonly latency = new LatencyHistogram();
  sent = 0;
  responses = 0;
  /** 2xx and 3xx responses. */
  succeeded = 0;
  dropped = 0;
  readonly statuses = new Map<number, number>();
  readonly errors = new Map<string, number>();
  passed = 0;
  failed = 0;

  constructor(readonly endpoint: string) {}

  add(result: ReplayResult, verdict: Verdict | undefined): void {
    this.sent++;
    if (result.response) {
      this.responses++;
      this.latency.recordMs(result.latencyMs);
      const s = result.response.status;
      if (s >= 200 && s < 400) this.succeeded++;
      this.statuses.set(s, (this.statuses.get(s) ?? 0) + 1);
    }
    if (result.error) this.errors.set(result.error.kind, (this.errors.get(result.error.kind) ?? 0) + 1);
    if (verdict) {
      if (verdict.pass) this.passed++;
      else this.failed++;
    }
  }

  get errorCount(): number {
    let n = 0;
    for (const c of this.errors.values()) n += c;
    return n;
  }
}

export interface EndpointSummary {
  endpoint: string;
  /** Requests handed to a client. */
  sent: number;
  responses: number;
  /** Due but not sent: --max-in-flight was reached. */
  dropped: number;
  /** Transport errors by kind (refused, reset, timeout, tls, protocol…). */
  errors: Record<string, number>;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** 2xx and 3xx. */
  succeeded: number;
  /** Milliseconds, from the intended send time. */
  latency: LatencyStats;
  /** Percentile curve ([percentile, ms]) for plots. */
  curve: Array<[number, number]>;
  /** HdrHistogram, compressed base64. */
  histogram: string;
  assertions?: { passed: number; failed: number };
}

export class ReplayStats {
  readonly total = new EndpointAggregate('(all)');
  private readonly endpoints = new Map<string, EndpointAggregate>();
  private buckets: ThroughputBucket[] = [];
  private bucketSeconds = 1;
  readonly failures: FailureRecord[] = [];
  failuresNotKept = 0;
  private readonly ignored = new Map<string, { path: string; reason: string; count: number }>();
  judged = false;

  /** `start`: performance.now() at the start of the run. */
  constructor(private readonly start: number) {}

  record(result: ReplayResult, verdict?: Verdict): void {
    this.total.add(result, verdict);
    this.endpoint(result.endpoint).add(result, verdict);
    // Throughput counts completions, at the time each one completed.
    const b = this.bucket(result.intendedAt + result.latencyMs);
    if (result.error) b.errors++;
    else b.completed++;
    if (verdict) {
      this.judged = true;
      for (const i of verdict.ignored) this.noteIgnored(i.path, i.reason);
      if (!verdict.pass) {
        if (this.failures.length < MAX_FAILURES) {
          const failure: FailureRecord = {
            endpoint: result.endpoint,
            method: result.recorded.protocol === 'tcp' ? '' : result.recorded.request.method,
            url: result.recorded.protocol === 'tcp' ? '' : result.recorded.request.url,
            recordedId: result.recorded.id,
            differences: verdict.differences,
            differenceCount: verdict.differenceCount,
          };
          if (result.response) failure.status = result.response.status;
          this.failures.push(failure);
        } else this.failuresNotKept++;
      }
    }
  }

  /** A request the schedule wanted sent but --max-in-flight refused. */
  drop(endpoint: string, at: number): void {
    this.total.dropped++;
    this.endpoint(endpoint).dropped++;
    this.bucket(at).dropped++;
  }

  endpointSummaries(): EndpointSummary[] {
    return [...this.endpoints.values()]
      .sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0))
      .map((e) => summarize(e, this.judged));
  }

  totalSummary(): EndpointSummary {
    return summarize(this.total, this.judged);
  }

  throughput(): { bucketSeconds: number; buckets: ThroughputBucket[] } {
    return { bucketSeconds: this.bucketSeconds, buckets: this.buckets.map((b) => ({ ...b })) };
  }

  /** The run in the shared shape that --fail-if goals and baselines read. */
  runSummary(durationMs: number): RunSummary {
    const endpoints: Record<string, TrafficSummary> = {};
    for (const e of this.endpoints.values()) endpoints[e.endpoint] = traffic(e, durationMs);
    return { durationMs, overall: traffic(this.total, durationMs), endpoints };
  }

  ignoredPaths(): Array<{ path: string; reason: string; count: number }> {
    return [...this.ignored.values()];
  }

  private endpoint(key: string): EndpointAggregate {
    let e = this.endpoints.get(key);
    if (!e) {
      if (this.endpoints.size >= MAX_ENDPOINTS) key = OTHER_ENDPOINT;
      e = this.endpoints.get(key);
      if (!e) {
        e = new EndpointAggregate(key);
        this.endpoints.set(key, e);
      }
    }
    return e;
  }

  private bucket(at: number): ThroughputBucket {
    const seconds = Math.max(0, (at - this.start) / 1000);
    let index = Math.floor(seconds / this.bucketSeconds);
    while (index >= MAX_BUCKETS) {
      this.coarsen();
      index = Math.floor(seconds / this.bucketSeconds);
    }
    for (let i = this.buckets.length; i <= index; i++) {
      this.buckets.push({ t: i * this.bucketSeconds, completed: 0, errors: 0, dropped: 0 });
    }
    return this.buckets[index] as ThroughputBucket;
  }

  private coarsen(): void {
    const merged: ThroughputBucket[] = [];
    this.bucketSeconds *= 2;
    for (let i = 0; i < this.buckets.length; i += 2) {
      const a = this.buckets[i] as ThroughputBucket;
      const b = this.buckets[i + 1];
      merged.push({
        t: a.t,
        completed: a.completed + (b?.completed ?? 0),
        errors: a.errors + (b?.errors ?? 0),
        dropped: a.dropped + (b?.dropped ?? 0),
      });
    }
    this.buckets = merged;
  }

  private noteIgnored(path: string, reason: string): void {
    const key = `${path}\u0000${reason}`;
    const seen = this.ignored.get(key);
    if (seen) seen.count++;
    else if (this.ignored.size < MAX_IGNORED) this.ignored.set(key, { path, reason, count: 1 });
  }
}

function summarize(e: EndpointAggregate, judged: boolean): EndpointSummary {
  const s: EndpointSummary = {
    endpoint: e.endpoint,
    sent: e.sent,
    responses: e.responses,
    succeeded: e.succeeded,
    dropped: e.dropped,
    errors: Object.fromEntries(e.errors),
    statuses: Object.fromEntries([...e.statuses].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v])),
    latency: e.latency.summary(),
    curve: e.latency.curve(),
    histogram: e.latency.encode(),
  };
  if (judged) s.assertions = { passed: e.passed, failed: e.failed };
  return s;
}

function traffic(e: EndpointAggregate, durationMs: number): TrafficSummary {
  const { count: _count, min: _min, ...latencyMs } = e.latency.summary();
  const requests = e.responses + e.errorCount;
  return {
    requests,
    succeeded: e.succeeded,
    errors: e.errorCount,
    rps: durationMs > 0 ? Math.round((requests * 1000 * 100) / durationMs) / 100 : 0,
    latencyMs,
    assertions: { checked: e.passed + e.failed, passed: e.passed },
  };
}
