/**
 * Latency histograms: HdrHistogram (hdr-histogram-js) at microsecond precision, 3 significant
 * digits, from 1 µs to an hour. Why HdrHistogram rather than a list of samples or a simple
 * bucket array: recording is constant time and memory is fixed (a few KiB per endpoint, packed)
 * however long the run, percentiles stay accurate to 0.1% across six orders of magnitude
 * (p99.9 of a 1 M-request run is exact to the bucket), and histograms merge and serialise
 * (the report keeps them, so a later run can be compared with this one). It is what wrk2 and
 * k6 report, so numbers compare.
 */
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import type { LatencySummary } from './types.ts';

/** One hour in µs: anything slower is clamped (and still counted) rather than thrown. */
const HIGHEST_US = 3_600_000_000;

/** The shared summary (ms, rounded to the µs) plus the count and the minimum. */
export interface LatencyStats extends LatencySummary {
  count: number;
  min: number;
}

export class LatencyHistogram {
  private readonly h: Histogram;

  constructor() {
    this.h = build({
      bitBucketSize: 'packed',
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: 3,
      useWebAssembly: false,
    });
  }

  recordMs(ms: number): void {
    const us = Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000)));
    this.h.recordValue(us);
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** The value at a percentile (0–100), in ms. */
  percentileMs(p: number): number {
    return this.h.totalCount === 0 ? 0 : us(this.h.getValueAtPercentile(p));
  }

  summary(): LatencyStats {
    const h = this.h;
    if (h.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 };
    // A percentile is the top of its bucket, which can pass the exact max: never show p99.9 > max.
    const max = us(h.maxValue);
    const at = (p: number) => Math.min(max, us(h.getValueAtPercentile(p)));
    return {
      count: h.totalCount,
      min: us(h.minNonZeroValue),
      mean: us(h.mean),
      p50: at(50),
      p90: at(90),
      p95: at(95),
      p99: at(99),
      p999: at(99.9),
      max,
    };
  }

  /** The percentile curve for plots: [percentile, ms] at log-spaced points up to 99.99. */
  curve(): Array<[number, number]> {
    if (this.h.totalCount === 0) return [];
    const points = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];
    const max = us(this.h.maxValue);
    return points.map((p) => [p, Math.min(max, us(this.h.getValueAtPercentile(p)))]);
  }

  /** The whole histogram, compressed (HdrHistogram's standard encoding), for later comparison. */
  encode(): string {
    return encodeIntoCompressedBase64(this.h);
  }
}

function us(value: number): number {
  return Math.round(value) / 1000;
}
