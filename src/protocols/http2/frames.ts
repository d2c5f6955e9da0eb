/**
 * An incremental HTTP/2 frame reader (RFC 9113 §4) for one direction of a connection.
 *
 * It is fed the bytes as they pass through the proxy, in chunks of any size. DATA payloads are
 * handed on in pieces as they arrive (padding removed), so a 16 MiB frame is never held; every
 * other frame is small by nature and handed on whole, up to a bound. Frames of unknown types are
 * skipped without holding them (§5.5). The reader checks framing only: what a frame means is
 * the observer's business.
 */

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** The largest legal frame payload (2^24 - 1, the top of SETTINGS_MAX_FRAME_SIZE). */
export const MAX_FRAME_SIZE = 0xffffff;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** The name of an HTTP/2 error code (§7), or its hex value when unknown. */
export function errorCodeName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export interface FrameHandler {
  /** A whole frame of a known type other than DATA; padding is still in the payload. */
  onFrame(header: FrameHeader, payload: Buffer): void;
  /**
   * A piece of a DATA frame's data (a view into the chunk being read: copy to keep it). `end`
   * marks the last piece of the frame, which may be empty.
   */
  onData(header: FrameHeader, piece: Buffer, end: boolean): void;
}

export class FrameError extends Error {}

/**
 * The connection went past a bound of the capture (not of the protocol): an observer stops
 * following it, but the bytes are legal and the connection is left alone.
 */
export class CaptureLimitError extends Error {}

export interface FrameReaderOptions {
  /** The client direction starts with the 24-byte connection preface. */
  preface: boolean;
  /** Largest non-DATA frame held to be handed on whole (default 256 KiB); larger ones are errors. */
  maxFrameHeld?: number;
  /** SETTINGS_MAX_FRAME_SIZE of the receiving side to start with (default 16 384, as §6.5.2). */
  maxFrameSize?: number;
}

const DEFAULT_MAX_FRAME_SIZE = 16384;

type State = 'preface' | 'header' | 'payload' | 'pad-length' | 'data' | 'padding' | 'skip' | 'failed';

export class FrameReader {
  private state: State;
  private readonly maxHeld: number;
  private maxFrameSize: number;
  /** Bytes of the preface or of a frame header read so far. */
  private readonly head = Buffer.alloc(PREFACE.length);
  private headLen = 0;
  private frame: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  /** Bytes still to read in the current state (payload, data, padding, skip). */
  private left = 0;
  private padding = 0;
  private parts: Buffer[] = [];

  constructor(
    opts: FrameReaderOptions,
    private readonly handler: FrameHandler,
  ) {
    this.state = opts.preface ? 'preface' : 'header';
    this.maxHeld = opts.maxFrameHeld ?? 256 * 1024;
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /**
   * The receiving side advertised SETTINGS_MAX_FRAME_SIZE `size`. The sender may use it once it
   * has seen it, which a tap cannot time exactly: the largest value advertised counts.
   */
  allowFrameSize(size: number): void {
    this.maxFrameSize = Math.max(this.maxFrameSize, Math.min(size, MAX_FRAME_SIZE));
  }

  /**
   * Reads a chunk. Broken framing throws a FrameError (so does whatever a handler throws), and
   * the reader then stays stopped: the rest of the connection cannot be framed any more.
   */
  push(chunk: Buffer): void {
    if (this.state === 'failed') return;
    let pos = 0;
    try {
      while (pos < chunk.length) pos = this.step(chunk, pos);
    } catch (err) {
      this.state = 'failed';
      this.parts = [];
      throw err;
    }
  }

  private step(chunk: Buffer, pos: number): number {
    switch (this.state) {
      case 'preface': {
        const take = Math.min(PREFACE.length - this.headLen, chunk.length - pos);
        chunk.copy(this.head, this.headLen, pos, pos + take);
        this.headLen += take;
        if (!this.head.subarray(0, this.headLen).equals(PREFACE.subarray(0, this.headLen))) {
          throw new FrameError('the client did not start with the HTTP/2 connection preface');
        }
        if (this.headLen === PREFACE.length) {
          this.headLen = 0;
          this.state = 'header';
        }
        return pos + take;
      }
      case 'header': {
        const take = Math.min(9 - this.headLen, chunk.length - pos);
        chunk.copy(this.head, this.headLen, pos, pos + take);
        this.headLen += take;
        if (this.headLen === 9) {
          this.headLen = 0;
          this.startFrame();
        }
        return pos + take;
      }
      case 'payload': {
        const take = Math.min(this.left, chunk.length - pos);
        this.parts.push(chunk.subarray(pos, pos + take));
        this.left -= take;
        if (this.left === 0) {
          const payload = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
          this.parts = [];
          this.state = 'header';
          this.handler.onFrame(this.frame, payload);
        }
        return pos + take;
      }
      case 'pad-length': {
        this.padding = chunk[pos] as number;
        this.left = this.frame.length - 1 - this.padding;
        if (this.left < 0) throw new FrameError('DATA padding longer than the frame');
        this.enterData();
        return pos + 1;
      }
      case 'data': {
        const take = Math.min(this.left, chunk.length - pos);
        this.left -= take;
        const piece = chunk.subarray(pos, pos + take);
        if (this.left > 0) {
          this.handler.onData(this.frame, piece, false);
        } else {
          this.afterData(piece);
        }
        return pos + take;
      }
      case 'padding':
      case 'skip': {
        const take = Math.min(this.left, chunk.length - pos);
        this.left -= take;
        if (this.left === 0) this.state = 'header';
        return pos + take;
      }
      default:
        return chunk.length;
    }
  }

  private startFrame(): void {
    const h = this.head;
    this.frame = {
      length: h.readUIntBE(0, 3),
      type: h[3] as number,
      flags: h[4] as number,
      streamId: h.readUInt32BE(5) & 0x7fffffff,
    };
    const { type, length, flags } = this.frame;
    // Bytes that are not frames usually show here first: a huge length the receiver never allowed.
    if (length > this.maxFrameSize) {
      throw new FrameError(`a frame of ${length} bytes exceeds the receiver's maximum frame size ${this.maxFrameSize}`);
    }
    if (type === FrameType.DATA) {
      this.padding = 0;
      if (flags & Flag.PADDED) {
        if (length === 0) throw new FrameError('padded DATA frame without a pad length');
        this.state = 'pad-length';
      } else {
        this.left = length;
        this.enterData();
      }
      return;
    }
    if (type > FrameType.CONTINUATION) {
      // Unknown types are ignored (§5.5): skipped without holding them.
      this.left = length;
      this.state = length === 0 ? 'header' : 'skip';
      return;
    }
    if (length > this.maxHeld) {
      throw new CaptureLimitError(
        `a frame of type ${type} with ${length} bytes exceeds the ${this.maxHeld}-byte bound`,
      );
    }
    if (length === 0) {
      this.state = 'header';
      this.handler.onFrame(this.frame, Buffer.alloc(0));
      return;
    }
    this.left = length;
    this.state = 'payload';
  }

  private enterData(): void {
    if (this.left === 0) this.afterData(Buffer.alloc(0));
    else this.state = 'data';
  }

  private afterData(lastPiece: Buffer): void {
    this.state = this.padding > 0 ? 'padding' : 'header';
    this.left = this.padding;
    this.handler.onData(this.frame, lastPiece, true);
  }
}

/**
 * The header block fragment of a HEADERS or PUSH_PROMISE payload: padding and priority (or the
 * promised stream id) taken off.
 */
export function headerBlockFragment(
  header: FrameHeader,
  payload: Buffer,
): { fragment: Buffer; promisedId?: number | undefined } {
  let start = 0;
  let end = payload.length;
  if (header.flags & Flag.PADDED) {
    const pad = payload[0];
    if (pad === undefined) throw new FrameError('padded frame without a pad length');
    start = 1;
    end -= pad;
  }
  let promisedId: number | undefined;
  if (header.type === FrameType.PUSH_PROMISE) {
    if (start + 4 > end) throw new FrameError('PUSH_PROMISE too short for the promised stream id');
    promisedId = payload.readUInt32BE(start) & 0x7fffffff;
    start += 4;
  } else if (header.type === FrameType.HEADERS && header.flags & Flag.PRIORITY) {
    start += 5;
  }
  if (start > end) throw new FrameError('frame padding longer than the frame');
  return { fragment: payload.subarray(start, end), promisedId };
}

/** One frame's bytes (tests and tools; the proxy itself never writes frames). */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  out.set(payload, 9);
  return out;
}
