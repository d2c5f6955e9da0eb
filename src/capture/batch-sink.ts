/**
 * Where the recorder's batches go: packed records in, written exchanges out. InThreadSink does
 * the work on the calling thread (tests, tools); the capture worker runs one over the snapshot
 * writer so that the proxy thread never builds, serialises or compresses a record.
 */
import type { Exchange, Protocol } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { Sink } from '../store/types.ts';
import { buildHttpExchange } from './http1-exchange.ts';
import type { RawRecord } from './raw-record.ts';

/** What the recorder needs back for its metrics: one entry per exchange written. */
export interface WrittenStat {
  direction: Exchange['direction'];
  protocol: Protocol;
  durationMs: number;
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
  write(records: RawRecord[], bytes: ArrayBuffer, wantExchanges: boolean): Promise<BatchResult>;
  flush(): Promise<void>;
  close(dropped: number): Promise<SnapshotMeta>;
}

export class InThreadSink implements BatchSink {
  constructor(private readonly sink: Sink) {}

  async write(records: RawRecord[], bytes: ArrayBuffer, wantExchanges: boolean): Promise<BatchResult> {
    const buf = Buffer.from(bytes);
    const exchanges: Exchange[] = [];
    let failed = 0;
    let error: string | undefined;
    for (const record of records) {
      try {
        exchanges.push(record.t === 'http' ? buildHttpExchange(record, buf) : record.exchange);
      } catch (err) {
        failed++;
        error ??= `could not build an exchange record: ${(err as Error).message}`;
      }
    }
    try {
      await this.sink.writeBatch(exchanges);
    } catch (err) {
      return { written: [], failed: records.length, error: `the snapshot sink failed: ${(err as Error).message}` };
    }
    const result: BatchResult = {
      written: exchanges.map((x) => ({ direction: x.direction, protocol: x.protocol, durationMs: x.durationMs })),
      failed,
    };
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
