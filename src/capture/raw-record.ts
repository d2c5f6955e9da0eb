/**
 * The form in which the proxy hands a finished HTTP exchange to the capture worker: what was
 * seen, as bytes (both heads as they came off the wire, the kept body bytes) plus a few numbers.
 * A batch of them travels in one message whose bytes sit in one transferred ArrayBuffer, so
 * nothing is parsed, encoded or serialised on the forwarding thread.
 */
import type { Exchange, ExchangeError, HeaderList, WebsocketMessage } from '../model/exchange.ts';
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
  /** A WebSocket session that followed the 101: its messages. */
  ws?: RawWs;
}

/** One WebSocket message: its kept payload bytes as a slice, its whole size as a number. */
export interface RawWsMessage {
  dir: WebsocketMessage['dir'];
  tMs: number;
  type: WebsocketMessage['type'];
  data: Slice;
  size: number;
  code?: number;
  reason?: string;
}

export interface RawWs {
  messages: RawWsMessage[];
  truncated: boolean;
}

/** What an InFlight carries after a WebSocket upgrade, packed with it (upgrade-tunnel.ts). */
export interface WsAttachment {
  pack(packer: Packer): RawWs;
  /** Payload bytes held; fixed before the exchange is handed to the recorder. */
  heldBytes: number;
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

/** Lays byte slices (and strings, as UTF-8) end to end in one buffer that can be transferred. */
export class Packer {
  private parts: (Uint8Array | string)[] = [];
  private length = 0;
  private shared = new Map<string, Slice>();

  add(bytes: Uint8Array): Slice {
    const slice: Slice = [this.length, bytes.length];
    this.parts.push(bytes);
    this.length += bytes.length;
    return slice;
  }

  /** A string, written as UTF-8 when the buffer is made (no intermediate Buffer). */
  addText(text: string): Slice {
    const n = Buffer.byteLength(text, 'utf8');
    const slice: Slice = [this.length, n];
    this.parts.push(text);
    this.length += n;
    return slice;
  }

  /** addText() for a string that recurs (a connection's address): written once per buffer. */
  addSharedText(text: string): Slice {
    let slice = this.shared.get(text);
    if (slice === undefined) {
      slice = this.addText(text);
      this.shared.set(text, slice);
    }
    return slice;
  }

  /** One fresh ArrayBuffer (never a pool slab: it is transferred, and so detached here). */
  finish(): ArrayBuffer {
    const ab = new ArrayBuffer(this.length);
    const out = Buffer.from(ab);
    let at = 0;
    for (const part of this.parts) {
      if (typeof part === 'string') at += out.write(part, at, 'utf8');
      else {
        out.set(part, at);
        at += part.length;
      }
    }
    this.parts = [];
    this.length = 0;
    this.shared = new Map();
    return ab;
  }
}

export function sliceOf(bytes: Buffer, slice: Slice | undefined): Buffer | undefined {
  return slice ? bytes.subarray(slice[0], slice[0] + slice[1]) : undefined;
}
