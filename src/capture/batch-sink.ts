/**
 * Where the recorder's batches go: packed records in, written exchanges out. InThreadSink does
 * the work on the calling thread (tests, tools); the capture worker runs one over the snapshot
 * writer so that the proxy thread never builds, serialises or compresses a record.
 *
 * With a writer that takes encoded lines (the fs store) and nobody watching the live feed, an
 * HTTP record's line is written straight from its bytes (http1-line.ts); otherwise, and for
 * whatever that writer does not cover, the Exchange is built and stringified.
 */
import type { Direction, Exchange, Protocol } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { LineBatch } from '../store/ndjson.ts';
import type { Sink } from '../store/types.ts';
import { buildHttpExchange, roundMs, type ExchangeContext } from './http1-exchange.ts';
import { contextParts, writeHttpLine, type ContextParts } from './http1-line.ts';
import { JsonOut } from './json-out.ts';
import { unpackRecord, type PackedBatch } from './packed-batch.ts';

/** What the recorder needs back for its metrics: the exchanges written, grouped. */
export interface WrittenStat {
  direction: Direction;
  protocol: Protocol;
  /** One entry per exchange written. */
  durationsMs: number[];
}

export interface BatchResult {
  written: WrittenStat[];
  /** Records that could not be built or written (counted as drops). */
  failed: number;
  /** The first failure's message, for one log line. */
  error?: string;
  /** The built exchanges, when asked for (someone is watching the live feed). */
  exchanges?: Exchange[];
}

export interface BatchSink {
  /** `transfer`: the batch's buffers, which a sink in another thread takes over. */
  write(batch: PackedBatch, wantExchanges: boolean, transfer?: ArrayBuffer[]): Promise<BatchResult>;
  flush(): Promise<void>;
  close(dropped: number): Promise<SnapshotMeta>;
}

/** A sink that also takes encoded NDJSON lines (FsSnapshotWriter). */
interface LineSink extends Sink {
  writeLines(lines: LineBatch): Promise<void>;
}

function takesLines(sink: Sink): sink is LineSink {
  return typeof (sink as Partial<LineSink>).writeLines === 'function';
}

class Stats {
  private readonly groups = new Map<string, WrittenStat>();

  add(direction: Direction, protocol: Protocol, durationMs: number): void {
    const key = `${direction} ${protocol}`;
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = { direction, protocol, durationsMs: [] }));
    group.durationsMs.push(durationMs);
  }

  get written(): WrittenStat[] {
    return [...this.groups.values()];
  }
}

export class InThreadSink implements BatchSink {
  constructor(private readonly sink: Sink) {}

  write(batch: PackedBatch, wantExchanges: boolean): Promise<BatchResult> {
    const bytes = Buffer.from(batch.bytes);
    return !wantExchanges && takesLines(this.sink)
      ? this.writeLines(this.sink, batch, bytes)
      : this.writeExchanges(batch, bytes, wantExchanges);
  }

  private async writeLines(sink: LineSink, batch: PackedBatch, bytes: Buffer): Promise<BatchResult> {
    // Lines come out a little larger than the packed bytes (JSON punctuation, escapes).
    const out = new JsonOut(Math.ceil(bytes.length * 1.5) + batch.count * 512);
    const lines: LineBatch = { bytes: out.buf, ends: [], directions: [], services: [], times: [] };
    const parts = new Map<ExchangeContext, ContextParts | undefined>();
    const stats = new Stats();
    let failed = 0;
    let error: string | undefined;
    for (let i = 0; i < batch.count; i++) {
      const mark = out.at;
      try {
        const record = unpackRecord(batch, i, bytes);
        if (record.t === 'http') {
          if (!parts.has(record.ctx)) parts.set(record.ctx, contextParts(record.ctx));
          const ctxParts = parts.get(record.ctx);
          if (ctxParts && writeHttpLine(record, bytes, ctxParts, out)) {
            lines.ends.push(out.at);
            lines.directions.push(record.ctx.direction);
            lines.services.push(record.ctx.service);
            lines.times.push(record.startWall);
            stats.add(record.ctx.direction, 'http', roundMs(record.durationMs));
            continue;
          }
        }
        const x = record.t === 'http' ? buildHttpExchange(record, bytes) : record.exchange;
        out.raw(JSON.stringify(x));
        out.byte(0x0a);
        lines.ends.push(out.at);
        lines.directions.push(x.direction);
        lines.services.push(x.service);
        lines.times.push(Date.parse(x.ts));
        stats.add(x.direction, x.protocol, x.durationMs);
      } catch (err) {
        out.at = mark;
        failed++;
        error ??= `could not build an exchange record: ${(err as Error).message}`;
      }
    }
    lines.bytes = out.bytes;
    try {
      if (lines.ends.length > 0) await sink.writeLines(lines);
    } catch (err) {
      return { written: [], failed: batch.count, error: `the snapshot sink failed: ${(err as Error).message}` };
    }
    const result: BatchResult = { written: stats.written, failed };
    if (error) result.error = error;
    return result;
  }

  private async writeExchanges(batch: PackedBatch, bytes: Buffer, wantExchanges: boolean): Promise<BatchResult> {
    const exchanges: Exchange[] = [];
    let failed = 0;
    let error: string | undefined;
    for (let i = 0; i < batch.count; i++) {
      try {
        const record = unpackRecord(batch, i, bytes);
        exchanges.push(record.t === 'http' ? buildHttpExchange(record, bytes) : record.exchange);
      } catch (err) {
        failed++;
        error ??= `could not build an exchange record: ${(err as Error).message}`;
      }
    }
    try {
      await this.sink.writeBatch(exchanges);
    } catch (err) {
      return { written: [], failed: batch.count, error: `the snapshot sink failed: ${(err as Error).message}` };
    }
    const stats = new Stats();
    for (const x of exchanges) stats.add(x.direction, x.protocol, x.durationMs);
    const result: BatchResult = { written: stats.written, failed };
    if (error) result.error = error;
    if (wantExchanges) result.exchanges = exchanges;
    return result;
  }

  flush(): Promise<void> {
    return this.sink.flush();
  }

  close(dropped: number): Promise<SnapshotMeta> {
    return this.sink.close({ dropped });
  }
}
