/**
 * The gRPC length-prefixed message framing, incrementally: a 1-byte compressed flag and a
 * 4-byte big-endian length, then the message. One GrpcDeframer per direction of a stream is fed
 * the stream's DATA payloads at whatever split they arrived in. Sans-IO, and it never throws:
 * a bad prefix or a stream that ends inside a message comes out as a message with an `error`.
 *
 * Memory is bounded: of each message at most `keep` bytes are held (more only for a compressed
 * message, which needs all its bytes to inflate, up to `inflateLimit`), and inflating stops at
 * `inflateLimit` bytes, so a zip bomb costs at most that much.
 */
import zlib from 'node:zlib';

export type GrpcDir = 'c2s' | 's2c';

/** One framed message as it came off the stream. */
export interface FramedMessage {
  dir: GrpcDir;
  /** Time of the chunk that completed the message. */
  tMs: number;
  /** Length as framed (the compressed length when compressed). */
  size: number;
  compressed: boolean;
  /** The message (inflated when compressed), at most `keep` bytes of it. */
  bytes: Buffer;
  /** Length of the whole message: the inflated length, or `size`; more than `bytes.length` when cut. */
  fullSize: number;
  /** True when `bytes` is the whole message, so it can be decoded. */
  whole: boolean;
  error?: string;
}

export interface DeframerOptions {
  dir: GrpcDir;
  /** grpc-encoding of this direction (absent or `identity` means uncompressed). */
  encoding?: string | undefined;
  /** Bytes of each message kept (the body cap). */
  keep: number;
  /** Largest message inflated (and largest compressed message held); default 16 MiB. */
  inflateLimit?: number;
}

export const DEFAULT_INFLATE_LIMIT = 16 * 1024 * 1024;
const PREFIX = 5;

export class GrpcDeframer {
  private readonly dir: GrpcDir;
  private readonly encoding: string;
  private readonly keep: number;
  private readonly inflateLimit: number;
  /** The prefix bytes read so far (fewer than 5 between messages). */
  private prefix = Buffer.alloc(0);
  /** The message being read: its flag, length, kept parts and count of bytes seen. */
  private current: { flag: number; length: number; parts: Buffer[]; held: number; seen: number } | undefined;
  /** After a bad prefix nothing can be re-synchronised: the rest is counted and kept raw. */
  private broken: { error: string; parts: Buffer[]; held: number; seen: number; tMs: number } | undefined;

  constructor(options: DeframerOptions) {
    this.dir = options.dir;
    this.encoding = (options.encoding ?? 'identity').trim().toLowerCase() || 'identity';
    this.keep = Math.max(0, options.keep);
    this.inflateLimit = options.inflateLimit ?? DEFAULT_INFLATE_LIMIT;
  }

  /** Feeds one chunk; returns the messages it completed. The chunk may be reused afterwards. */
  push(chunk: Buffer, tMs: number): FramedMessage[] {
    const out: FramedMessage[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.broken) {
        this.hold(this.broken, chunk.subarray(at), this.keep);
        this.broken.tMs = tMs;
        return out;
      }
      if (!this.current) {
        const need = PREFIX - this.prefix.length;
        const take = chunk.subarray(at, at + need);
        this.prefix = Buffer.concat([this.prefix, take]);
        at += take.length;
        if (this.prefix.length < PREFIX) break;
        const flag = this.prefix[0] as number;
        const length = this.prefix.readUInt32BE(1);
        if (flag > 1) {
          // Keep the bad prefix with the rest: the bytes are the evidence.
          this.broken = {
            error: `bad gRPC message prefix (flag byte 0x${flag.toString(16)})`,
            parts: [],
            held: 0,
            seen: 0,
            tMs,
          };
          this.hold(this.broken, this.prefix, this.keep);
          this.prefix = Buffer.alloc(0);
          continue;
        }
        this.prefix = Buffer.alloc(0);
        this.current = { flag, length, parts: [], held: 0, seen: 0 };
      }
      const cur = this.current;
      const take = chunk.subarray(at, at + (cur.length - cur.seen));
      at += take.length;
      // A compressed message is inflated whole, so hold it up to the inflate limit.
      this.hold(cur, take, cur.flag === 1 ? Math.max(this.inflateLimit, this.keep) : this.keep);
      if (cur.seen === cur.length) {
        this.current = undefined;
        out.push(this.complete(cur.flag, cur.length, Buffer.concat(cur.parts, cur.held), tMs));
      }
    }
    return out;
  }

  /**
   * The stream ended: what is left becomes a message with an error. `tMs` is the end time.
   * Returns nothing when the stream ended cleanly between messages.
   */
  end(tMs: number): FramedMessage[] {
    if (this.broken) {
      const b = this.broken;
      this.broken = undefined;
      return [this.raw(b.tMs, b.seen, false, Buffer.concat(b.parts, b.held), b.error)];
    }
    if (this.current) {
      const c = this.current;
      this.current = undefined;
      const got = Buffer.concat(c.parts, c.held).subarray(0, this.keep);
      const error = `stream ended ${c.seen} bytes into a ${c.length}-byte message`;
      return [this.raw(tMs, c.length, c.flag === 1, got, error)];
    }
    if (this.prefix.length > 0) {
      const got = this.prefix;
      this.prefix = Buffer.alloc(0);
      return [this.raw(tMs, got.length, false, got, `stream ended inside a message prefix (${got.length} of 5 bytes)`)];
    }
    return [];
  }

  /** True when the deframer holds part of a message (or a broken tail). */
  get pending(): boolean {
    return this.broken !== undefined || this.current !== undefined || this.prefix.length > 0;
  }

  private hold(into: { parts: Buffer[]; held: number; seen: number }, bytes: Buffer, limit: number): void {
    into.seen += bytes.length;
    const room = limit - into.held;
    if (room <= 0 || bytes.length === 0) return;
    const part = Buffer.from(bytes.subarray(0, room));
    into.parts.push(part);
    into.held += part.length;
  }

  private complete(flag: number, length: number, held: Buffer, tMs: number): FramedMessage {
    if (flag === 0) {
      return {
        dir: this.dir,
        tMs,
        size: length,
        compressed: false,
        bytes: held,
        fullSize: length,
        whole: held.length === length,
      };
    }
    if (held.length < length) {
      return this.raw(
        tMs,
        length,
        true,
        held.subarray(0, this.keep),
        `compressed message larger than ${this.inflateLimit} bytes, not inflated`,
      );
    }
    const inflated = inflate(this.encoding, held, this.inflateLimit);
    if ('error' in inflated) return this.raw(tMs, length, true, held.subarray(0, this.keep), inflated.error);
    const bytes = inflated.bytes.subarray(0, this.keep);
    const full = inflated.bytes.length;
    return { dir: this.dir, tMs, size: length, compressed: true, bytes, fullSize: full, whole: bytes.length === full };
  }

  private raw(tMs: number, size: number, compressed: boolean, bytes: Buffer, error: string): FramedMessage {
    return { dir: this.dir, tMs, size, compressed, bytes, fullSize: size, whole: false, error };
  }
}

/** Inflates by grpc-encoding with the sync zlib APIs, never past `limit` bytes. */
export function inflate(encoding: string, bytes: Buffer, limit: number): { bytes: Buffer } | { error: string } {
  // maxOutputLength makes zlib stop (and throw) at the limit instead of growing without end.
  const options = { maxOutputLength: Math.max(1, limit) };
  try {
    switch (encoding) {
      case 'gzip':
        return { bytes: zlib.gunzipSync(bytes, options) };
      case 'deflate':
        // grpc-js writes zlib-wrapped deflate, as the spec's "deflate" (RFC 1950) says; some
        // peers send raw RFC 1951 streams, so fall back to those.
        try {
          return { bytes: zlib.inflateSync(bytes, options) };
        } catch (err) {
          if (isTooLarge(err)) throw err;
          return { bytes: zlib.inflateRawSync(bytes, options) };
        }
      case 'identity':
        return { error: 'compressed flag set but grpc-encoding is identity; kept the raw bytes' };
      default:
        return { error: `unknown grpc-encoding "${encoding}"; kept the compressed bytes` };
    }
  } catch (err) {
    if (isTooLarge(err)) return { error: `message inflates past ${limit} bytes; kept the compressed bytes` };
    return { error: `cannot inflate ${encoding} message: ${(err as Error).message}; kept the compressed bytes` };
  }
}

function isTooLarge(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
}
