/**
 * The recorder sits between the proxy and the sink: a bounded queue of exchanges-to-be, drained
 * in batches off the forwarding path. The proxy hands over a builder closure (cheap), and the
 * Exchange itself (headers to strings, bodies to utf8/base64) is made here, later, in the
 * drain. Fail open: a full queue or a failing sink drops and counts, and never slows the proxy.
 */
import type { Logger } from 'pino';
import type { Exchange } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { Sink } from '../store/types.ts';
import type { LiveFeed } from './live-feed.ts';
import type { CaptureMetrics } from './metrics.ts';

export type ExchangeBuilder = () => Exchange;

export interface RecorderOptions {
  sink: Sink;
  metrics: CaptureMetrics;
  feed?: LiveFeed;
  logger?: Logger;
  /** Exchanges waiting to be written; beyond it new ones are dropped and counted. */
  queueSize?: number;
  batchSize?: number;
  /** How often written data is made durable (gzip sync flush). */
  flushIntervalMs?: number;
}

export class Recorder {
  private queue: ExchangeBuilder[] = [];
  private draining = false;
  private closed = false;
  private readonly queueSize: number;
  private readonly batchSize: number;
  private readonly flushTimer: NodeJS.Timeout;
  private idle: Promise<void> = Promise.resolve();
  private wakeIdle: (() => void) | undefined;
  private dirty = false;
  private sinkFailures = 0;
  dropped = 0;
  recorded = 0;

  constructor(private readonly options: RecorderOptions) {
    this.queueSize = options.queueSize ?? 10_000;
    this.batchSize = options.batchSize ?? 256;
    this.flushTimer = setInterval(() => void this.flushNow(), options.flushIntervalMs ?? 1000);
    this.flushTimer.unref();
  }

  /** Never blocks, never throws: false when the exchange had to be dropped. */
  record(build: ExchangeBuilder): boolean {
    if (this.closed || this.queue.length >= this.queueSize) {
      this.drop(this.closed ? 'closed' : 'queue_full', 1);
      return false;
    }
    this.queue.push(build);
    this.options.metrics.queueDepth.set(this.queue.length);
    if (!this.draining) this.startDrain();
    return true;
  }

  private drop(reason: string, n: number): void {
    if (this.dropped === 0) {
      this.options.logger?.warn({ reason }, 'recorder dropping exchanges (forwarding continues); see tapwire_exchanges_dropped_total');
    }
    this.dropped += n;
    this.options.metrics.exchangesDropped.labels({ reason }).inc(n);
  }

  private startDrain(): void {
    this.draining = true;
    this.idle = new Promise((resolve) => (this.wakeIdle = resolve));
    // setImmediate: let the proxy finish forwarding what is in hand before building records.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const builders = this.queue.splice(0, this.batchSize);
      this.options.metrics.queueDepth.set(this.queue.length);
      const batch: Exchange[] = [];
      for (const build of builders) {
        try {
          batch.push(build());
        } catch (err) {
          this.options.logger?.error({ err }, 'could not build an exchange record');
          this.drop('build_error', 1);
        }
      }
      try {
        await this.options.sink.writeBatch(batch);
        this.dirty = true;
      } catch (err) {
        if (this.sinkFailures++ === 0) this.options.logger?.error({ err }, 'the snapshot sink failed to write');
        this.drop('sink_error', batch.length);
        continue;
      }
      for (const x of batch) {
        this.recorded++;
        this.options.metrics.exchangesCaptured.labels({ direction: x.direction, protocol: x.protocol }).inc();
        this.options.metrics.exchangeDuration.labels({ direction: x.direction }).observe(x.durationMs / 1000);
        this.options.feed?.publish({ type: 'exchange', exchange: x });
      }
    }
    this.draining = false;
    this.wakeIdle?.();
  }

  private async flushNow(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      await this.options.sink.flush();
    } catch (err) {
      this.options.logger?.error({ err }, 'the snapshot sink failed to flush');
    }
  }

  /** Waits until everything queued so far is written. */
  async settle(): Promise<void> {
    while (this.draining) await this.idle;
  }

  /** Writes what is queued, then closes the sink; later records are dropped. */
  async close(): Promise<SnapshotMeta> {
    await this.settle();
    this.closed = true;
    clearInterval(this.flushTimer);
    return this.options.sink.close({ dropped: this.dropped });
  }
}
