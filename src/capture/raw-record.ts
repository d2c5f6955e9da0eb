/**
 * The form in which the proxy hands a finished HTTP exchange to the capture worker: what was
 * seen, as bytes (both heads as they came off the wire, the kept body bytes) plus a few numbers.
 * A batch of them travels in one message whose bytes sit in one transferred ArrayBuffer, so
 * nothing is parsed, encoded or serialised on the forwarding thread.
 */
import type { Exchange, ExchangeError, HeaderList } from '../model/exchange.ts';
import type { ExchangeContext } from './http1-exchange.ts';

/** [offset, length] into the batch's bytes. */
export type Slice = readonly [number, number];

export interface RawHttp {
  t: 'http';
  ctx: ExchangeContext;
  startWall: number;
  durationMs: number;
  connectMs?: number;
  ttfbMs?: number;
  src: string;
  dst: string;
  url: string;
  reqHead: Slice;
  reqBody?: Slice;
  reqSize: number;
  reqTrailers?: HeaderList;
  resHead?: Slice;
  resBody?: Slice;
  resSize: number;
  resTrailers?: HeaderList;
  error?: ExchangeError;
}

/** An exchange already built on the proxy thread (raw TCP, rare paths). */
export interface RawBuilt {
  t: 'built';
  exchange: Exchange;
}

export type RawRecord = RawHttp | RawBuilt;

/** Something the recorder can pack: an in-flight HTTP exchange or a ready Exchange. */
export interface Recordable {
  pack(packer: Packer): RawRecord;
  /** Bytes this record holds while it waits in the recorder's queue. */
  readonly heldBytes: number;
}

/** Lays byte slices end to end in one buffer that can be transferred to the worker. */
export class Packer {
  private parts: Uint8Array[] = [];
  private length = 0;

  add(bytes: Uint8Array): Slice {
    const slice: Slice = [this.length, bytes.length];
    this.parts.push(bytes);
    this.length += bytes.length;
    return slice;
  }

  /** One fresh ArrayBuffer (never a pool slab: it is transferred, and so detached here). */
  finish(): ArrayBuffer {
    const out = new Uint8Array(new ArrayBuffer(this.length));
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    this.parts = [];
    this.length = 0;
    return out.buffer;
  }
}

export function sliceOf(bytes: Buffer, slice: Slice | undefined): Buffer | undefined {
  return slice ? bytes.subarray(slice[0], slice[0] + slice[1]) : undefined;
}
