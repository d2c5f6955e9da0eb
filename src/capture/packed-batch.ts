/**
 * A batch of records as it crosses to the capture worker. Each HTTP record is one row of numbers
 * in a Float64Array (times, sizes, and offset/length pairs of its strings and byte slices in the
 * Packer's buffer); the exchange context (direction, service, tags, TLS) is sent once per batch.
 * Both buffers are transferred, so sending costs the proxy thread almost nothing: profiles showed
 * the structured clone of one object per record (postMessage) at ~25% of the proxy thread's CPU.
 *
 * Fields a row has no column for (trailers, errors, WebSocket messages, anything added to RawHttp
 * later) travel beside it as a small object, cloned as before; they are rare. Records built on
 * the proxy thread (raw TCP) travel whole, the same way.
 */
import type { Exchange } from '../model/exchange.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import { Packer, type RawHttp, type RawRecord, type Slice } from './raw-record.ts';

// Columns of a row.
const KIND = 0; // 0: HTTP, 1: built (the exchange is in `others`)
const CTX = 1;
const START_WALL = 2;
const DURATION = 3;
const CONNECT = 4; // NaN: absent
const TTFB = 5;
const REQ_SIZE = 6;
const RES_SIZE = 7;
const SRC = 8; // offset, length
const DST = 10;
const URL = 12;
const REQ_HEAD = 14;
const REQ_BODY = 16; // length -1: absent
const RES_HEAD = 18;
const RES_BODY = 20;
const OTHER = 22; // index into `others`, -1: none
const COLUMNS = 23;

/** Fields of RawHttp that have a column. */
type ColumnField =
  | 't'
  | 'ctx'
  | 'startWall'
  | 'durationMs'
  | 'connectMs'
  | 'ttfbMs'
  | 'reqSize'
  | 'resSize'
  | 'src'
  | 'dst'
  | 'url'
  | 'reqHead'
  | 'reqBody'
  | 'resHead'
  | 'resBody';

/**
 * The other fields of RawHttp: they travel in `others`. Named one by one (a for-in over every
 * record with a set lookup per key cost more than the rest of packing a row); the type check
 * below fails when RawHttp gains a field that is in neither list.
 */
const OTHER_FIELDS = ['reqTrailers', 'resTrailers', 'error', 'ws'] as const satisfies readonly Exclude<
  keyof RawHttp,
  ColumnField
>[];
type Unlisted = Exclude<keyof RawHttp, ColumnField | (typeof OTHER_FIELDS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyFieldListed;

export interface PackedBatch {
  count: number;
  /** `count` rows of COLUMNS numbers (its buffer is transferred). */
  rows: Float64Array;
  /** Strings and byte slices the rows point into (transferred). */
  bytes: ArrayBuffer;
  ctxs: ExchangeContext[];
  /** Fields without a column, and whole built exchanges, referenced by row. */
  others: Record<string, unknown>[];
}

/** Collects records into a PackedBatch on the proxy thread. */
export class BatchPacker {
  readonly packer = new Packer();
  private rows: Float64Array;
  private count = 0;
  private readonly ctxs: ExchangeContext[] = [];
  private readonly ctxIndex = new Map<ExchangeContext, number>();
  private readonly others: Record<string, unknown>[] = [];

  constructor(expected = 16) {
    this.rows = new Float64Array(Math.max(1, expected) * COLUMNS);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a record made by Recordable.pack(this.packer). */
  add(record: RawRecord): void {
    const row = this.nextRow();
    const r = this.rows;
    if (record.t !== 'http') {
      r[row + KIND] = 1;
      r[row + OTHER] = this.others.push({ exchange: record.exchange }) - 1;
      return;
    }
    let ctx = this.ctxIndex.get(record.ctx);
    if (ctx === undefined) {
      ctx = this.ctxs.push(record.ctx) - 1;
      this.ctxIndex.set(record.ctx, ctx);
    }
    r[row + KIND] = 0;
    r[row + CTX] = ctx;
    r[row + START_WALL] = record.startWall;
    r[row + DURATION] = record.durationMs;
    r[row + CONNECT] = record.connectMs ?? NaN;
    r[row + TTFB] = record.ttfbMs ?? NaN;
    r[row + REQ_SIZE] = record.reqSize;
    r[row + RES_SIZE] = record.resSize;
    // The same source and destination come back record after record: written once per batch.
    this.slice(row + SRC, this.packer.addSharedText(record.src));
    this.slice(row + DST, this.packer.addSharedText(record.dst));
    this.slice(row + URL, this.packer.addText(record.url));
    this.slice(row + REQ_HEAD, record.reqHead);
    this.slice(row + REQ_BODY, record.reqBody);
    this.slice(row + RES_HEAD, record.resHead);
    this.slice(row + RES_BODY, record.resBody);
    let other: Record<string, unknown> | undefined;
    for (const key of OTHER_FIELDS) {
      const value = record[key];
      if (value !== undefined) (other ??= {})[key] = value;
    }
    r[row + OTHER] = other ? this.others.push(other) - 1 : -1;
  }

  /** The batch, and the buffers to transfer with it. */
  finish(): { batch: PackedBatch; transfer: ArrayBuffer[] } {
    const rows = this.rows.subarray(0, this.count * COLUMNS);
    const batch: PackedBatch = {
      count: this.count,
      rows,
      bytes: this.packer.finish(),
      ctxs: this.ctxs,
      others: this.others,
    };
    return { batch, transfer: [rows.buffer as ArrayBuffer, batch.bytes] };
  }

  private nextRow(): number {
    const row = this.count * COLUMNS;
    if (row + COLUMNS > this.rows.length) {
      const grown = new Float64Array(this.rows.length * 2);
      grown.set(this.rows);
      this.rows = grown;
    }
    this.count++;
    return row;
  }

  private slice(at: number, slice: Slice | undefined): void {
    this.rows[at] = slice ? slice[0] : 0;
    this.rows[at + 1] = slice ? slice[1] : -1;
  }
}

/** Record `i` of a batch as the RawRecord it was packed from (in the worker). */
export function unpackRecord(batch: PackedBatch, i: number, bytes: Buffer): RawRecord {
  const r = batch.rows;
  const row = i * COLUMNS;
  const otherIndex = r[row + OTHER] as number;
  const other = otherIndex >= 0 ? batch.others[otherIndex] : undefined;
  if (r[row + KIND] === 1) return { t: 'built', exchange: (other as { exchange: Exchange }).exchange };
  const raw: RawHttp = {
    t: 'http',
    ctx: batch.ctxs[r[row + CTX] as number] as ExchangeContext,
    startWall: r[row + START_WALL] as number,
    durationMs: r[row + DURATION] as number,
    src: text(r, row + SRC, bytes),
    dst: text(r, row + DST, bytes),
    url: text(r, row + URL, bytes),
    reqHead: slice(r, row + REQ_HEAD) as Slice,
    reqSize: r[row + REQ_SIZE] as number,
    resSize: r[row + RES_SIZE] as number,
  };
  const reqBody = slice(r, row + REQ_BODY);
  if (reqBody) raw.reqBody = reqBody;
  const resHead = slice(r, row + RES_HEAD);
  if (resHead) raw.resHead = resHead;
  const resBody = slice(r, row + RES_BODY);
  if (resBody) raw.resBody = resBody;
  const connectMs = r[row + CONNECT] as number;
  if (!Number.isNaN(connectMs)) raw.connectMs = connectMs;
  const ttfbMs = r[row + TTFB] as number;
  if (!Number.isNaN(ttfbMs)) raw.ttfbMs = ttfbMs;
  return other ? Object.assign(raw, other) : raw;
}

function slice(r: Float64Array, at: number): Slice | undefined {
  const length = r[at + 1] as number;
  return length < 0 ? undefined : [r[at] as number, length];
}

function text(r: Float64Array, at: number, bytes: Buffer): string {
  const start = r[at] as number;
  return bytes.toString('utf8', start, start + (r[at + 1] as number));
}
