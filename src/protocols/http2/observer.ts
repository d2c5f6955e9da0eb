/**
 * A passive HTTP/2 observer (sans-IO): it is fed copies of the bytes a proxy forwards, each
 * direction on its own, and tells what happened on each stream. It never answers anything: the
 * two endpoints keep flow control, SETTINGS and PING between themselves.
 *
 * HEADERS are told apart without per-stream state: a client block with `:method` is a request
 * head, a server block with `:status` a response head (1xx: informational), any other block
 * trailers. Header blocks must still be decoded in order on each direction (HPACK state), so a
 * block is decoded even when nobody wants it. An error in the framing or in HPACK is fatal for
 * the connection's observation: `error` is reported once and everything after it ignored.
 */
import type { HeaderList } from '../../model/exchange.ts';
import {
  CaptureLimitError,
  errorCodeName,
  Flag,
  FrameReader,
  FrameType,
  headerBlockFragment,
  type FrameHeader,
} from './frames.ts';
import { HpackDecoder } from './hpack.ts';

export type Dir = 'c2s' | 's2c';

/** A decoded header block: pseudo-headers and regular headers, each in wire order. */
export interface Http2Head {
  pseudo: HeaderList;
  headers: HeaderList;
}

/** What the observer reports; every method is optional. Data pieces are views: copy to keep. */
export interface Http2Listener {
  requestHead?(streamId: number, head: Http2Head, tMs: number): void;
  requestData?(streamId: number, piece: Buffer, tMs: number): void;
  requestTrailers?(streamId: number, trailers: HeaderList, tMs: number): void;
  /** A 1xx response head (100 Continue, 103 Early Hints…). */
  informational?(streamId: number, head: Http2Head, tMs: number): void;
  responseHead?(streamId: number, head: Http2Head, tMs: number): void;
  responseData?(streamId: number, piece: Buffer, tMs: number): void;
  responseTrailers?(streamId: number, trailers: HeaderList, tMs: number): void;
  /** END_STREAM in direction `dir`. */
  end?(streamId: number, dir: Dir, tMs: number): void;
  /** RST_STREAM sent in direction `dir` (c2s: by the client). */
  reset?(streamId: number, dir: Dir, code: number, codeName: string, tMs: number): void;
  /** PUSH_PROMISE: stream `promisedId` will carry the response to this request. */
  push?(parentId: number, promisedId: number, request: Http2Head, tMs: number): void;
  goaway?(dir: Dir, lastStreamId: number, code: number, codeName: string, debug: string, tMs: number): void;
  /**
   * Observation stops: the connection broke the protocol (`protocol`), or went past a bound of
   * the capture with legal bytes (`limit`).
   */
  error?(dir: Dir, message: string, tMs: number, kind: 'protocol' | 'limit'): void;
}

export interface Http2ObserverOptions {
  /** Largest header block (HEADERS or PUSH_PROMISE plus CONTINUATIONs), compressed. */
  maxHeaderBlock?: number;
}

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_MAX_FRAME_SIZE = 0x5;

interface PendingBlock {
  header: FrameHeader;
  promisedId: number | undefined;
  parts: Buffer[];
  size: number;
}

class Side {
  readonly reader: FrameReader;
  readonly hpack = new HpackDecoder();
  pending: PendingBlock | undefined;
  /** Each side's first frame must be SETTINGS (§3.4): bytes that are not HTTP/2 fail here. */
  sawSettings = false;
  constructor(dir: Dir, obs: Http2Observer) {
    this.reader = new FrameReader(
      { preface: dir === 'c2s' },
      {
        onFrame: (h, p) => obs.onFrame(dir, h, p),
        onData: (h, piece, end) => obs.onData(dir, h, piece, end),
      },
    );
  }
}

export class Http2Observer {
  private readonly sides: Record<Dir, Side>;
  private readonly maxHeaderBlock: number;
  private failed = false;
  private now = 0;

  constructor(
    private readonly listener: Http2Listener,
    opts: Http2ObserverOptions = {},
  ) {
    this.maxHeaderBlock = opts.maxHeaderBlock ?? 256 * 1024;
    this.sides = { c2s: new Side('c2s', this), s2c: new Side('s2c', this) };
  }

  /** True once the connection broke the protocol: nothing more is reported. */
  get stopped(): boolean {
    return this.failed;
  }

  /**
   * h2c Upgrade (RFC 7540 §3.2): stream 1 carries the HTTP/1.1 request that asked for the
   * upgrade, already complete from the client's side; its response comes as HTTP/2.
   */
  startUpgraded(request: Http2Head, tMs: number): void {
    this.listener.requestHead?.(1, request, tMs);
    this.listener.end?.(1, 'c2s', tMs);
  }

  /** Bytes that went in direction `dir`, at `tMs` (any clock the caller likes). */
  feed(dir: Dir, bytes: Buffer, tMs: number): void {
    if (this.failed || bytes.length === 0) return;
    this.now = tMs;
    try {
      this.sides[dir].reader.push(bytes);
    } catch (err) {
      this.fail(dir, (err as Error).message ?? String(err), err instanceof CaptureLimitError ? 'limit' : 'protocol');
    }
  }

  private fail(dir: Dir, message: string, kind: 'protocol' | 'limit'): void {
    if (this.failed) return;
    this.failed = true;
    this.listener.error?.(dir, message, this.now, kind);
  }

  /** @internal: from the frame reader. */
  onData(dir: Dir, h: FrameHeader, piece: Buffer, end: boolean): void {
    if (!this.sides[dir].sawSettings) throw new Error('the connection did not start with a SETTINGS frame');
    if (h.streamId === 0) throw new Error('DATA frame on stream 0');
    if (this.sides[dir].pending) throw new Error('DATA frame inside a header block');
    if (piece.length > 0) {
      if (dir === 'c2s') this.listener.requestData?.(h.streamId, piece, this.now);
      else this.listener.responseData?.(h.streamId, piece, this.now);
    }
    if (end && h.flags & Flag.END_STREAM) this.listener.end?.(h.streamId, dir, this.now);
  }

  /** @internal: from the frame reader. */
  onFrame(dir: Dir, h: FrameHeader, payload: Buffer): void {
    const side = this.sides[dir];
    if (!side.sawSettings) {
      if (h.type !== FrameType.SETTINGS || h.flags & Flag.ACK) {
        throw new Error('the connection did not start with a SETTINGS frame');
      }
      side.sawSettings = true;
    }
    if (side.pending && h.type !== FrameType.CONTINUATION) {
      throw new Error(`frame of type ${h.type} inside a header block (CONTINUATION expected)`);
    }
    switch (h.type) {
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE: {
        if (h.streamId === 0) throw new Error('header block on stream 0');
        if (h.type === FrameType.PUSH_PROMISE && dir === 'c2s') throw new Error('PUSH_PROMISE from the client');
        const { fragment, promisedId } = headerBlockFragment(h, payload);
        side.pending = { header: h, promisedId, parts: [fragment], size: fragment.length };
        this.checkBlockSize(side.pending);
        if (h.flags & Flag.END_HEADERS) this.endBlock(dir, side);
        return;
      }
      case FrameType.CONTINUATION: {
        const pending = side.pending;
        if (!pending || pending.header.streamId !== h.streamId) throw new Error('unexpected CONTINUATION frame');
        pending.parts.push(payload);
        pending.size += payload.length;
        this.checkBlockSize(pending);
        if (h.flags & Flag.END_HEADERS) this.endBlock(dir, side);
        return;
      }
      case FrameType.RST_STREAM: {
        if (payload.length !== 4 || h.streamId === 0) throw new Error('malformed RST_STREAM frame');
        const code = payload.readUInt32BE(0);
        this.listener.reset?.(h.streamId, dir, code, errorCodeName(code), this.now);
        return;
      }
      case FrameType.SETTINGS: {
        if (h.flags & Flag.ACK) return;
        if (payload.length % 6 !== 0 || h.streamId !== 0) throw new Error('malformed SETTINGS frame');
        // A side's settings bound what the *other* side sends.
        const other = this.sides[dir === 'c2s' ? 's2c' : 'c2s'];
        for (let i = 0; i < payload.length; i += 6) {
          const id = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (id === SETTINGS_HEADER_TABLE_SIZE) other.hpack.allowTableSize(value);
          else if (id === SETTINGS_MAX_FRAME_SIZE) other.reader.allowFrameSize(value);
        }
        return;
      }
      case FrameType.GOAWAY: {
        if (payload.length < 8 || h.streamId !== 0) throw new Error('malformed GOAWAY frame');
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        const code = payload.readUInt32BE(4);
        const debug = payload.toString('latin1', 8, Math.min(payload.length, 8 + 1024));
        this.listener.goaway?.(dir, last, code, errorCodeName(code), debug, this.now);
        return;
      }
      default:
        // PRIORITY, PING, WINDOW_UPDATE: the endpoints' business.
        return;
    }
  }

  private checkBlockSize(pending: PendingBlock): void {
    if (pending.size > this.maxHeaderBlock) {
      throw new CaptureLimitError(`header block larger than ${this.maxHeaderBlock} bytes`);
    }
  }

  private endBlock(dir: Dir, side: Side): void {
    const pending = side.pending as PendingBlock;
    side.pending = undefined;
    const block = pending.parts.length === 1 ? (pending.parts[0] as Buffer) : Buffer.concat(pending.parts);
    const head = splitHead(side.hpack.decode(block));
    const { streamId, type, flags } = pending.header;
    const l = this.listener;
    if (type === FrameType.PUSH_PROMISE) {
      l.push?.(streamId, pending.promisedId ?? 0, head, this.now);
      return;
    }
    if (dir === 'c2s') {
      if (head.pseudo.some(([n]) => n === ':method')) l.requestHead?.(streamId, head, this.now);
      else l.requestTrailers?.(streamId, head.headers, this.now);
    } else {
      const status = head.pseudo.find(([n]) => n === ':status')?.[1];
      if (status === undefined) l.responseTrailers?.(streamId, head.headers, this.now);
      else if (status.length === 3 && status.startsWith('1') && status !== '101')
        l.informational?.(streamId, head, this.now);
      else l.responseHead?.(streamId, head, this.now);
    }
    if (flags & Flag.END_STREAM) l.end?.(streamId, dir, this.now);
  }
}

function splitHead(fields: Array<{ name: string; value: string }>): Http2Head {
  const pseudo: HeaderList = [];
  const headers: HeaderList = [];
  for (const f of fields) (f.name.startsWith(':') ? pseudo : headers).push([f.name, f.value]);
  return { pseudo, headers };
}

/** The value of a pseudo-header (`:method`, `:path`…). */
export function pseudoValue(head: Http2Head, name: string): string | undefined {
  return head.pseudo.find(([n]) => n === name)?.[1];
}
