/**
 * RFC 6455 §5 frames, read incrementally from one direction of a connection. Sans-IO: bytes
 * in, frame events out. A frame's payload is handed over piece by piece as it arrives (unmasked
 * into a fresh buffer for client frames), so a huge frame is never held whole; a consumer that
 * does not need a payload says so and its bytes are only counted.
 *
 * Capture is passive: a protocol violation does not throw, it sets `error` and the parser
 * ignores everything after it (the bytes still flow between the peers, untouched).
 */

export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

const KNOWN_OPCODES = new Set<number>(Object.values(OPCODE));
/** Control frames carry at most 125 bytes and are never fragmented (§5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

export interface FrameHeader {
  fin: boolean;
  /** Set on the first frame of a compressed message (permessage-deflate, RFC 7692). */
  rsv1: boolean;
  opcode: number;
  length: number;
}

export interface FrameHandler {
  /** A frame begins; return false to skip its payload (counted by the parser, never copied). */
  onFrame(header: FrameHeader): boolean;
  /** The next piece of the payload, unmasked. The handler may keep it (it is not reused). */
  onPayload(piece: Buffer): void;
  /** The frame's last payload byte arrived (also for an empty payload). */
  onFrameEnd(): void;
}

export interface FrameParserOptions {
  /** Frames from the client are masked, frames from the server are not (§5.1). */
  fromClient: boolean;
  /** RSV1 is allowed only when an extension (permessage-deflate) gave it a meaning. */
  allowRsv1: boolean;
}

const State = { Header: 0, Payload: 1, Failed: 2 } as const;
type State = (typeof State)[keyof typeof State];

export class FrameParser {
  /** Why parsing stopped: the stream is not valid WebSocket framing from this point on. */
  error: string | undefined;
  private state: State = State.Header;
  /** Header bytes gathered so far (at most 2 + 8 + 4). */
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private readonly mask = Buffer.alloc(4);
  private masked = false;
  private left = 0;
  /** Offset into the mask of the next payload byte (the mask runs across pieces). */
  private maskAt = 0;
  private wanted = true;

  constructor(
    private readonly opts: FrameParserOptions,
    private readonly handler: FrameHandler,
  ) {}

  /** Stops parsing for good (a violation found by a layer above). */
  fail(message: string): void {
    if (this.state === State.Failed) return;
    this.state = State.Failed;
    this.error = message;
  }

  get failed(): boolean {
    return this.state === State.Failed;
  }

  /** True between frames: the stream ended on a frame boundary. */
  get atBoundary(): boolean {
    return this.state === State.Header && this.hdrLen === 0;
  }

  execute(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== State.Failed) {
      if (this.state === State.Header) at = this.readHeader(chunk, at);
      else at = this.readPayload(chunk, at);
    }
  }

  private readHeader(chunk: Buffer, at: number): number {
    // Take only the bytes the header can still need, so the payload starts where it should.
    while (at < chunk.length) {
      const need = this.headerLength();
      if (this.hdrLen >= need) break;
      this.hdr[this.hdrLen++] = chunk[at++] as number;
    }
    if (this.hdrLen < this.headerLength()) return at;
    this.startFrame();
    return at;
  }

  /** How long the header is, as far as the bytes read so far tell. */
  private headerLength(): number {
    if (this.hdrLen < 2) return 2;
    const b1 = this.hdr[1] as number;
    const len7 = b1 & 0x7f;
    const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    return 2 + ext + (b1 & 0x80 ? 4 : 0);
  }

  private startFrame(): void {
    const b0 = this.hdr[0] as number;
    const b1 = this.hdr[1] as number;
    const header: FrameHeader = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      opcode: b0 & 0x0f,
      length: b1 & 0x7f,
    };
    this.masked = (b1 & 0x80) !== 0;
    let pos = 2;
    if (header.length === 126) {
      header.length = this.hdr.readUInt16BE(2);
      pos = 4;
    } else if (header.length === 127) {
      const high = this.hdr.readUInt32BE(2);
      // §5.2: the most significant bit must be 0; past 2^53 a length is not a safe number.
      if (high > 0x1fffff) return this.fail(`frame length too large (high word 0x${high.toString(16)})`);
      header.length = high * 2 ** 32 + this.hdr.readUInt32BE(6);
      pos = 10;
    }
    if (this.masked) this.hdr.copy(this.mask, 0, pos, pos + 4);
    this.hdrLen = 0;
    const problem = this.check(b0, header);
    if (problem) return this.fail(problem);
    this.wanted = this.handler.onFrame(header);
    if (this.failed) return; // the handler found the frame breaks a message rule
    this.left = header.length;
    this.maskAt = 0;
    if (this.left === 0) this.handler.onFrameEnd();
    else this.state = State.Payload;
  }

  private check(b0: number, h: FrameHeader): string | undefined {
    if (b0 & 0x30) return 'RSV2/RSV3 set without a negotiated extension';
    if (h.rsv1 && !this.opts.allowRsv1) return 'RSV1 set without permessage-deflate';
    if (!KNOWN_OPCODES.has(h.opcode)) return `unknown opcode 0x${h.opcode.toString(16)}`;
    if (h.opcode >= 0x8) {
      if (!h.fin) return 'fragmented control frame';
      if (h.length > MAX_CONTROL_PAYLOAD) return `control frame of ${h.length} bytes (at most 125)`;
    }
    if (this.masked !== this.opts.fromClient) {
      return this.opts.fromClient ? 'unmasked frame from the client' : 'masked frame from the server';
    }
    return undefined;
  }

  private readPayload(chunk: Buffer, at: number): number {
    const n = Math.min(this.left, chunk.length - at);
    if (this.wanted) {
      const piece = chunk.subarray(at, at + n);
      this.handler.onPayload(this.masked ? this.unmask(piece) : piece);
    }
    this.left -= n;
    if (this.left === 0) {
      this.state = State.Header;
      this.handler.onFrameEnd();
    }
    return at + n;
  }

  /** A fresh buffer: the chunk itself is on its way to the other peer and must not change. */
  private unmask(piece: Buffer): Buffer {
    const out = Buffer.allocUnsafe(piece.length);
    const m = this.mask;
    let k = this.maskAt;
    for (let i = 0; i < piece.length; i++) {
      out[i] = (piece[i] as number) ^ (m[k] as number);
      k = (k + 1) & 3;
    }
    this.maskAt = k;
    return out;
  }
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  /** Mask the payload, as a client must; with a fixed key unless one is given. */
  mask?: boolean | Buffer;
  /** More bits for the first byte (RSV2/RSV3). */
  extraBits?: number;
  /** A length encoding longer than needed (7, 16 or 64 bits). */
  lengthBits?: 7 | 16 | 64;
}

/** One frame as a peer sends it (for the mock and replay sides, and for tests). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const n = payload.length;
  const bits = spec.lengthBits ?? (n < 126 ? 7 : n < 65536 ? 16 : 64);
  const first = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.extraBits ?? 0) | spec.opcode;
  const maskBit = spec.mask ? 0x80 : 0;
  const head = Buffer.alloc(bits === 7 ? 2 : bits === 16 ? 4 : 10);
  head[0] = first;
  if (bits === 7) head[1] = maskBit | n;
  else if (bits === 16) {
    head[1] = maskBit | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!spec.mask) return Buffer.concat([head, payload]);
  const key = Buffer.isBuffer(spec.mask) ? spec.mask : Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) masked[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([head, key, masked]);
}
