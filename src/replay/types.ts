/**
 * The generator's shared vocabulary: what one replayed request produced, and how it is judged
 * against the recording. The engine (scheduler + clients) fills ReplayResults; the assertions
 * turn each into a Verdict; the report aggregates both.
 */
import type { Exchange, HeaderList } from '../model/exchange.ts';

/** The response a replayed request got (bodies kept whole up to a cap). */
export interface ReplayedResponse {
  status: number;
  headers: HeaderList;
  body: Buffer;
  /** Trailers (HTTP/2, gRPC). */
  trailers?: HeaderList;
  httpVersion: string;
}

export interface ReplayResult {
  /** The recorded inbound exchange this request replays. */
  recorded: Exchange;
  /** Endpoint key for per-endpoint stats, e.g. `GET /users/{id}`. */
  endpoint: string;
  /** When it should have been sent (ms, performance.now() clock) — latency counts from here (coordinated omission). */
  intendedAt: number;
  sentAt: number;
  /** Time to the end of the response, from intendedAt (ms). */
  latencyMs: number;
  response?: ReplayedResponse;
  /** A transport failure (refused, reset, timeout, TLS…), kept apart from HTTP error statuses. */
  error?: { kind: string; message: string };
}

/** One difference between the recorded and the replayed response. */
export interface Difference {
  /** `status`, `header.content-type`, `body.$.items[2].price`, `body` (non-JSON)… */
  path: string;
  recorded: string;
  replayed: string;
}

export interface Verdict {
  pass: boolean;
  /** The first differences (at most 50: a reader needs the first few, and memory stays bounded). */
  differences: Difference[];
  /** How many differences there were in all (≥ differences.length). */
  differenceCount: number;
  /**
   * Differences not counted, and why (`timestamp-like`, `differs between two recordings`,
   * `uuid-like`, `configured`…); the first 50, like `differences`.
   */
  ignored: Array<{ path: string; reason: string }>;
  /** How many differences were ignored in all (≥ ignored.length). */
  ignoredCount: number;
}

/** Latency percentiles of one endpoint or of the whole run, in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  /** p99.9 */
  p999: number;
  max: number;
  mean: number;
}

/** What the requests of one endpoint (or of the whole run) did. */
export interface TrafficSummary {
  /** Requests finished: with a response or with a transport error. */
  requests: number;
  /** Responses with a 2xx or 3xx status (no transport error). */
  succeeded: number;
  /** Transport errors (refused, reset, timeout, garbage), kept apart from HTTP error statuses. */
  errors: number;
  /** Finished requests per second over the run's duration. */
  rps: number;
  /** Percentiles of the requests that got a response; all 0 when none did. */
  latencyMs: LatencySummary;
  /** Responses compared with the recording, and how many of them passed. */
  assertions: { checked: number; passed: number };
}

/**
 * A run in numbers: what `--fail-if` goals are checked against, what `--baseline` compares, and
 * the `summary` field of the JSON report (so a report can be the next run's baseline).
 */
export interface RunSummary {
  /** Wall time of the run (ms). */
  durationMs: number;
  overall: TrafficSummary;
  /** Keyed by endpoint (`GET /users/{id}`). */
  endpoints: Record<string, TrafficSummary>;
}
