/**
 * Writes one snapshot directory: snapshot.json at once (status `recording`), then exchanges as
 * NDJSON lines through gzip into append-only segments that rotate every `segmentExchanges`.
 * A flush makes what was written readable by another process (gzip sync flush, bytes in the
 * file, snapshot.json rewritten with the counts), so a crash loses at most what came after it.
 *
 * A segment whose file fails (a full disk, an I/O error) is abandoned, not the snapshot: its
 * file is removed, its exchanges are counted as dropped, the batch that met the failure is
 * rejected, and the next batch starts a new segment. One bad moment never poisons a recording.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { constants as zc, createGzip, type Gzip } from 'node:zlib';
import type { Direction, Exchange } from '../../model/exchange.ts';
import { newId } from '../../model/ids.ts';
import type { SnapshotMeta } from '../../model/snapshot.ts';
import { SNAPSHOT_FORMAT_VERSION } from '../../model/snapshot-version.ts';
import { encodeLines, type LineBatch } from '../ndjson-encode.ts';
import type { CreateSnapshotOptions, SnapshotWriter } from '../types.ts';
import { SNAPSHOTS_DIR, segmentName, writeMeta } from './layout.ts';

export const DEFAULT_SEGMENT_EXCHANGES = 10_000;

interface OpenSegment {
  name: string;
  gzip: Gzip;
  file: WriteStream;
  count: number;
  /** Of `count`, how many went each way (taken back from the totals if the segment is lost). */
  inbound: number;
  outbound: number;
  /** The first error of its gzip or file stream: the segment is done for. */
  failure?: Error;
}

/** Creates the snapshot directory (and the store directory on first use) and its writer. */
export async function createSnapshotWriter(
  storeDir: string,
  options: CreateSnapshotOptions = {},
): Promise<FsSnapshotWriter> {
  const now = Date.now();
  const id = newId(now);
  const dir = join(storeDir, SNAPSHOTS_DIR, id);
  await mkdir(dir, { recursive: true });
  const created = new Date(now).toISOString();
  const base: SnapshotMeta = {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    id,
    name: options.name ?? `snapshot-${created.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`,
    created,
    status: 'recording',
    services: [],
    counts: { exchanges: 0, inbound: 0, outbound: 0, dropped: 0 },
    segments: [],
  };
  if (options.source !== undefined) base.source = options.source;
  if (options.tags !== undefined) base.tags = { ...options.tags };
  const writer = new FsSnapshotWriter(dir, base, options);
  await writeMeta(dir, writer.currentMeta('recording'));
  return writer;
}

export class FsSnapshotWriter implements SnapshotWriter {
  readonly id: string;
  private readonly segmentExchanges: number;
  private readonly services: Set<string>;
  private readonly counts = { exchanges: 0, inbound: 0, outbound: 0 };
  private readonly segments: string[] = [];
  /** Segment files are numbered by this, so an abandoned segment's name is never reused. */
  private segmentSeq = 0;
  /** Exchanges lost with abandoned segments after their batch had been accepted. */
  private lost = 0;
  private first: { ms: number; ts: string } | undefined;
  private last: { ms: number; ts: string } | undefined;
  private segment: OpenSegment | undefined;
  /** Operations run one after another: a flush must not interleave with a batch or a rotation. */
  private queue: Promise<unknown> = Promise.resolve();
  private closing: Promise<SnapshotMeta> | undefined;
  private dirty = false;

  constructor(
    readonly dir: string,
    private readonly base: SnapshotMeta,
    options: CreateSnapshotOptions,
  ) {
    this.id = base.id;
    const n = options.segmentExchanges ?? DEFAULT_SEGMENT_EXCHANGES;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`segmentExchanges must be a positive integer, got ${n}`);
    this.segmentExchanges = n;
    this.services = new Set(options.services ?? []);
  }

  writeBatch(exchanges: readonly Exchange[]): Promise<void> {
    return this.writeLines(encodeLines(exchanges));
  }

  /** Lines already encoded (the capture worker writes them straight from the captured bytes). */
  writeLines(lines: LineBatch): Promise<void> {
    if (this.closing) return Promise.reject(new Error(`snapshot ${this.id} is closed`));
    return this.serial(() => this.write(lines));
  }

  flush(): Promise<void> {
    if (this.closing) return this.closing.then(() => undefined);
    return this.serial(() => this.flushNow());
  }

  close(summary: { dropped?: number } = {}): Promise<SnapshotMeta> {
    // Not through serial(): after a failure, close still has to release the open files.
    this.closing ??= this.queue.then(() => this.closeNow(summary.dropped ?? 0));
    return this.closing;
  }

  /** The snapshot.json content for the exchanges written so far. */
  currentMeta(status: SnapshotMeta['status'], dropped = 0): SnapshotMeta {
    const meta: SnapshotMeta = {
      ...this.base,
      status,
      services: [...this.services].sort(),
      counts: { ...this.counts, dropped: dropped + this.lost },
      segments: [...this.segments],
    };
    if (this.first && this.last) meta.timeRange = { first: this.first.ts, last: this.last.ts };
    return meta;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(lines: LineBatch): Promise<void> {
    // A segment that failed since the last batch: what it held is lost, this batch goes on.
    if (this.segment?.failure) await this.abandon(this.segment, 0);
    // One gzip write per batch (or per segment part of it): zlib works in the thread pool,
    // and a round trip per exchange would cap the recorder far below the proxy's rate.
    const total = lines.ends.length;
    let i = 0;
    while (i < total) {
      let seg = this.segment;
      if (!seg || seg.count >= this.segmentExchanges) seg = await this.rotate();
      const n = Math.min(total - i, this.segmentExchanges - seg.count);
      for (let j = i; j < i + n; j++) {
        const direction = lines.directions[j] as Direction;
        seg[direction]++;
        this.account(direction, lines.services[j], lines.times[j] as number, lines.ts?.[j]);
      }
      const start = i === 0 ? 0 : (lines.ends[i - 1] as number);
      const chunk = lines.bytes.subarray(start, lines.ends[i + n - 1]);
      seg.count += n;
      i += n;
      // Respect gzip's backpressure so a slow disk bounds memory instead of growing it.
      if (!seg.gzip.write(chunk)) await this.drained(seg).catch(() => undefined);
      if (seg.failure) {
        // This batch is rejected whole (its caller counts it as dropped): what it put in
        // earlier segments stays, what it put in this one is not counted twice as lost.
        const failure = seg.failure;
        await this.abandon(seg, n);
        throw failure;
      }
    }
  }

  /**
   * Gives up a failed segment: its streams are torn down, its file removed (a reader would
   * find it on disk otherwise), its exchanges taken back out of the totals. `ofThisBatch` of
   * them belong to the batch being rejected; the rest had been accepted and are now lost.
   */
  private async abandon(seg: OpenSegment, ofThisBatch: number): Promise<void> {
    if (this.segment === seg) this.segment = undefined;
    seg.gzip.destroy();
    seg.file.destroy();
    const at = this.segments.indexOf(seg.name);
    if (at >= 0) this.segments.splice(at, 1);
    this.counts.exchanges -= seg.count;
    this.counts.inbound -= seg.inbound;
    this.counts.outbound -= seg.outbound;
    this.lost += seg.count - ofThisBatch;
    this.dirty = true;
    await unlink(join(this.dir, seg.name)).catch(() => undefined);
  }

  /** Waits for 'drain', or fails if the stream is torn down first (it would never drain). */
  private drained(seg: OpenSegment): Promise<void> {
    const gzip = seg.gzip;
    return new Promise((resolve, reject) => {
      const settle = (err?: Error) => {
        gzip.off('drain', onDrain);
        gzip.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => settle();
      const onClose = () => settle(seg.failure ?? new Error(`snapshot ${this.id}: segment stream closed`));
      gzip.on('drain', onDrain);
      gzip.on('close', onClose);
    });
  }

  private account(direction: Direction, service: string | undefined, ms: number, ts?: string): void {
    this.dirty = true;
    this.counts.exchanges++;
    this.counts[direction]++;
    if (service) this.services.add(service);
    if (Number.isNaN(ms)) return;
    // Exchanges are written when they end, so start times can arrive out of order.
    if (!this.first || ms < this.first.ms) this.first = { ms, ts: ts ?? new Date(ms).toISOString() };
    if (!this.last || ms > this.last.ms) this.last = { ms, ts: ts ?? new Date(ms).toISOString() };
  }

  private async rotate(): Promise<OpenSegment> {
    if (this.segment) await this.finishSegment(this.segment);
    const name = segmentName(++this.segmentSeq);
    // Level 1: capture must keep up with the proxy; the ratio on JSON text stays good.
    const gzip = createGzip({ level: zc.Z_BEST_SPEED });
    const file = createWriteStream(join(this.dir, name), { flags: 'a' });
    const seg: OpenSegment = { name, gzip, file, count: 0, inbound: 0, outbound: 0 };
    gzip.on('error', (err) => (seg.failure ??= err));
    file.on('error', (err) => {
      seg.failure ??= err;
      // Without this, a gzip whose reader is gone would never drain and a write would hang.
      gzip.destroy(err);
    });
    gzip.pipe(file);
    this.segments.push(name);
    this.segment = seg;
    return seg;
  }

  /** Ends a segment; one whose file fails on the way out is abandoned (its exchanges lost). */
  private async finishSegment(seg: OpenSegment): Promise<void> {
    this.segment = undefined;
    if (!seg.failure) {
      seg.gzip.end();
      await finished(seg.file).catch((err: Error) => (seg.failure ??= err));
    }
    if (seg.failure) await this.abandon(seg, 0);
  }

  private async flushNow(): Promise<void> {
    const seg = this.segment;
    let failure: Error | undefined;
    if (seg && !seg.failure) {
      try {
        await new Promise<void>((resolve, reject) =>
          seg.gzip.flush(zc.Z_SYNC_FLUSH, () => (seg.failure ? reject(seg.failure) : resolve())),
        );
        // The flush callback runs once gzip has pushed its output; the pipe may still hold some
        // of it (paused by the file's backpressure) until the file stream takes it.
        while (seg.gzip.readableLength > 0 && !seg.failure) await new Promise((r) => setImmediate(r));
        // Writes to a file stream complete in order: an empty write completes after all before it.
        await new Promise<void>((resolve, reject) =>
          seg.file.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
        );
      } catch (err) {
        seg.failure ??= err as Error;
      }
    }
    if (seg?.failure) {
      failure = seg.failure;
      await this.abandon(seg, 0);
    }
    if (this.dirty) {
      this.dirty = false;
      await writeMeta(this.dir, this.currentMeta('recording'));
    }
    // Told after snapshot.json has the corrected counts: the caller logs it, recording goes on.
    if (failure) throw failure;
  }

  private async closeNow(dropped: number): Promise<SnapshotMeta> {
    if (this.segment) await this.finishSegment(this.segment);
    const meta = this.currentMeta('complete', dropped);
    await writeMeta(this.dir, meta);
    return meta;
  }
}
