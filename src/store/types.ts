/**
 * The Store and Sink interfaces: capture writes through a Sink, everything else reads through a
 * Store. The embedded default is the local directory store (`fs/`); object storage and a
 * collector come later behind the same interfaces.
 */
import type { Exchange } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';

/** Where the recorder sends exchanges. Writes are batched; the recorder awaits each batch. */
export interface Sink {
  writeBatch(exchanges: readonly Exchange[]): Promise<void>;
  /** Makes everything written so far durable and readable (gzip sync flush + fsync-free write). */
  flush(): Promise<void>;
  /** Flushes, finishes the segment and writes the final snapshot.json. `dropped` is recorded in counts. */
  close(summary?: { dropped?: number }): Promise<SnapshotMeta>;
}

export interface SnapshotWriter extends Sink {
  readonly id: string;
  readonly dir: string;
}

export interface CreateSnapshotOptions {
  name?: string;
  services?: string[];
  /** `record`, `import:har`, `import:ndjson`. */
  source?: string;
  tags?: Record<string, string>;
  /** Exchanges per segment file before a new one starts (default 10 000). */
  segmentExchanges?: number;
}

/** Something the reader met but could read past. */
export interface ReadProblem {
  segment: string;
  /** 1-based line number within the (decompressed) segment. */
  line: number;
  /** `torn`: the last line of a segment is incomplete (crash mid-write); `invalid`: a line that is not a valid exchange. */
  kind: 'torn' | 'invalid';
  message: string;
}

export interface ReadOptions {
  onProblem?: (problem: ReadProblem) => void;
}

export interface SnapshotHandle {
  readonly meta: SnapshotMeta;
  readonly dir: string;
  /** Streams the exchanges in recorded order, segment by segment, without loading them all. */
  exchanges(options?: ReadOptions): AsyncIterable<Exchange>;
}

export interface Store {
  /** Human-readable location (a directory path, a bucket URL). */
  readonly location: string;
  create(options?: CreateSnapshotOptions): Promise<SnapshotWriter>;
  /** All snapshots, newest first. */
  list(): Promise<SnapshotMeta[]>;
  /** By id, by name (newest wins is NOT done: an ambiguous name is an error), or by directory path. */
  open(ref: string): Promise<SnapshotHandle>;
}
