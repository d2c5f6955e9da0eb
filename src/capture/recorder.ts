/**
 * The recorder sits between the proxy and the snapshot: a bounded queue of finished exchanges,
 * drained in batches off the forwarding path. An HTTP exchange is handed over as what was seen
 * (head bytes, kept body bytes, timings) and packed into one transferable buffer per batch; the
 * BatchSink (normally the capture worker) builds, serialises and compresses the records.
 * Fail open: a full queue or a failing sink drops and counts, and never slows the proxy.
 */
import type { Logger } from 'pino';
import type { Exchange } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { BatchSink } from './batch-sink.ts';
import type { LiveFeed } from './live-feed.ts';
import type { CaptureMetrics, DropReason } from './metrics.ts';
import { BatchPacker } from './packed-batch.ts';
import type { Recordable } from './raw-record.ts';

/** An in-flight exchange that packs itself, or a function that builds a ready Exchange. */
export type RecordItem = Recordable | (() => Exchange);

export interface RecorderOptions {
  sink: BatchSink;
  metrics: CaptureMetrics;
  feed?: LiveFeed;
  logger?: Logger;
  /** Exchanges waiting to be written; beyond it new ones are dropped and counted. */
  queueSize?: number;
  /** Bytes (heads and kept bodies) those exchanges may hold; beyond it they are dropped too. */
  queueBytes?: number;
  batchSize?: number;
  /**
   * How long a batch collects before it is sent (unless it is full). Every batch costs the proxy
   * thread a message to the worker and the worker a gzip round: batches of a few records made
   * that overhead, not the records, the main cost.
   */
  batchDelayMs?: number;
  /** How often written data is made durable (gzip sync flush). */
  flushIntervalMs?: number;
}

export class Recorder {
  /**
   * The queue: records are packed as they arrive, so that what waits is bytes and a row of
   * numbers, not the InFlight with its parsed heads (which would live long enough to be
   * promoted to the old generation, and cost several times the memory).
   */
  private batch = new BatchPacker();
  private draining = false;
  private closed = false;
  private readonly queueSize: number;
  private readonly queueBytes: number;
  private queuedBytes = 0;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;
  private pauseTimer: NodeJS.Timeout | undefined;
  private wakePause: (() => void) | undefined;
  private urgent = 0;
  private readonly flushTimer: NodeJS.Timeout;
  private idle: Promise<void> = Promise.resolve();
  private wakeIdle: (() => void) | undefined;
  private dirty = false;
  private loggedFailure = false;
  dropped = 0;
  recorded = 0;

  constructor(private readonly options: RecorderOptions) {
    this.queueSize = options.queueSize ?? 10_000;
    this.queueBytes = options.queueBytes ?? 64 * 1024 * 1024;
    this.batchSize = options.batchSize ?? 1000;
    this.batchDelayMs = options.batchDelayMs ?? 20;
    this.flushTimer = setInterval(() => void this.flushNow(), options.flushIntervalMs ?? 1000);
    this.flushTimer.unref();
  }

  /** Never blocks, never throws: false when the exchange had to be dropped. */
  record(item: RecordItem): boolean {
    const bytes = typeof item === 'function' ? 0 : item.heldBytes;
    if (this.closed || this.batch.size >= this.queueSize || this.queuedBytes + bytes > this.queueBytes) {
      this.drop(this.closed ? 'closed' : 'queue_full', 1);
      return false;
    }
    try {
      this.batch.add(typeof item === 'function' ? { t: 'built', exchange: item() } : item.pack(this.batch.packer));
    } catch (err) {
      this.options.logger?.error({ err }, 'could not build an exchange record');
      this.drop('build_error', 1);
      return false;
    }
    this.queuedBytes += bytes;
    this.options.metrics.queueDepth.set(this.batch.size);
    if (!this.draining) this.startDrain();
    else if (this.batch.size >= this.batchSize) this.hurry();
    return true;
  }

  private drop(reason: DropReason, n: number): void {
    if (this.dropped === 0) {
      this.options.logger?.warn(
        { reason },
        'recorder dropping exchanges (forwarding continues); see tapwire_exchanges_dropped_total',
      );
    }
    this.dropped += n;
    this.options.metrics.exchangesDropped.labels({ reason }).inc(n);
  }

  private startDrain(): void {
    this.draining = true;
    this.idle = new Promise((resolve) => (this.wakeIdle = resolve));
    void this.drain();
  }

  /** Waits for the batch to fill up, at most batchDelayMs; at least until the next turn. */
  private collect(): Promise<void> {
    if (this.batch.size >= this.batchSize || this.urgent > 0) {
      // setImmediate: let the proxy finish forwarding what is in hand before packing records.
      return new Promise((resolve) => setImmediate(resolve));
    }
    return new Promise((resolve) => {
      this.wakePause = resolve;
      this.pauseTimer = setTimeout(resolve, this.batchDelayMs);
    });
  }

  /** Ends the current wait for a batch to fill up. */
  private hurry(): void {
    const wake = this.wakePause;
    if (!wake) return;
    this.wakePause = undefined;
    clearTimeout(this.pauseTimer);
    setImmediate(wake);
  }

  private async drain(): Promise<void> {
    const { metrics, feed, sink } = this.options;
    while (this.batch.size > 0) {
      await this.collect();
      this.wakePause = undefined;
      const packer = this.batch;
      this.batch = new BatchPacker();
      this.queuedBytes = 0;
      metrics.queueDepth.set(0);
      const { batch, transfer } = packer.finish();
      try {
        const result = await sink.write(batch, feed?.hasSubscribers ?? false, transfer);
        if (result.failed > 0) {
          this.drop('sink_error', result.failed);
          if (!this.loggedFailure && result.error) this.options.logger?.error(result.error);
          this.loggedFailure = true;
        }
        for (const w of result.written) {
          this.recorded += w.durationsMs.length;
          metrics.exchangesCaptured.labels({ direction: w.direction, protocol: w.protocol }).inc(w.durationsMs.length);
          const histogram = metrics.exchangeDuration.labels({ direction: w.direction });
          for (const ms of w.durationsMs) histogram.observe(ms / 1000);
        }
        for (const x of result.exchanges ?? []) feed?.publish({ type: 'exchange', exchange: x });
        this.dirty = true;
      } catch (err) {
        if (!this.loggedFailure) this.options.logger?.error({ err }, 'the snapshot sink failed to write');
        this.loggedFailure = true;
        this.drop('sink_error', batch.count);
      }
    }
    metrics.queueDepth.set(0);
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
    this.urgent++;
    try {
      this.hurry();
      while (this.draining) await this.idle;
    } finally {
      this.urgent--;
    }
  }

  /** Writes what is queued, then closes the sink; later records are dropped. */
  async close(): Promise<SnapshotMeta> {
    await this.settle();
    this.closed = true;
    clearInterval(this.flushTimer);
    return this.options.sink.close(this.dropped);
  }
}
