/**
 * Schemaless protobuf decoding: bytes to ProtoField[] (see the ProtoField comment in
 * src/model/exchange.ts) without a .proto. The wire format says how long each field is but not
 * what it means, so a length-delimited field is a guess: nested message, text, or bytes.
 *
 * The guess for a len field, in order:
 * 1. it parses *strictly* as a message (field numbers 1..2^29-1, wire types 0,1,2,3,5 with groups
 *    closed by their own number, varints at most 10 bytes with no bits past 64, every byte
 *    consumed) and is not printable text: a message;
 * 2. it parses as a message and is printable text too (short text often parses: " A" is field 4 =
 *    65): a message only when its first byte is a control byte (a tag of fields 1..3, which
 *    encoders write first and text rarely starts with), else a string;
 * 3. printable text (valid UTF-8, no C0 control but tab, LF, CR): a string (empty is a string);
 * 4. anything else: base64 bytes (this includes packed repeated scalars: the wire cannot tell).
 *
 * Never throws: input that is not a message gives `undefined`; cost is O(bytes × depth) and
 * depth is bounded.
 */
import { isUtf8 } from 'node:buffer';
import type { ProtoField } from '../../model/exchange.ts';

export const DEFAULT_MAX_DEPTH = 24;
const MAX_FIELD_NUMBER = 2 ** 29 - 1;

export interface WireDecodeOptions {
  /** Nested messages and groups deeper than this are not parsed (len fields become text or bytes). */
  maxDepth?: number;
}

/** Decodes a whole message; `undefined` when the bytes are not one (empty bytes are the empty message). */
export function decodeProtoFields(bytes: Uint8Array, options: WireDecodeOptions = {}): ProtoField[] | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const reader = new Reader(buf, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  const fields = reader.message(0, buf.length, 0, 0);
  return fields && reader.pos === buf.length ? fields : undefined;
}

/** Valid UTF-8 without control bytes other than tab, LF and CR. */
export function isPrintableText(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c < 0x20 ? c !== 9 && c !== 10 && c !== 13 : c === 0x7f) return false;
  }
  return isUtf8(buf);
}

/** A cursor over one buffer; every read checks bounds and reports failure as `undefined`. */
class Reader {
  pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly maxDepth: number,
  ) {}

  /**
   * Fields from `start` to `end`. With `group` > 0 the message is a group body and must stop at
   * the end-group tag of that field number (left consumed).
   */
  message(start: number, end: number, depth: number, group: number): ProtoField[] | undefined {
    this.pos = start;
    const fields: ProtoField[] = [];
    while (this.pos < end) {
      const tag = this.varint32(end);
      if (tag === undefined) return undefined;
      const n = Math.floor(tag / 8);
      const wire = tag & 7;
      if (n < 1 || n > MAX_FIELD_NUMBER) return undefined;
      if (wire === 4) return group === n ? fields : undefined;
      const field = this.field(n, wire, end, depth);
      if (!field) return undefined;
      fields.push(field);
    }
    // A group must be closed by its end tag before the enclosing bytes run out.
    return group === 0 && this.pos === end ? fields : undefined;
  }

  private field(n: number, wire: number, end: number, depth: number): ProtoField | undefined {
    switch (wire) {
      case 0: {
        const value = this.varint64(end);
        return value === undefined ? undefined : { n, wire: 'varint', value };
      }
      case 1: {
        if (end - this.pos < 8) return undefined;
        const lo = this.buf.readUInt32LE(this.pos);
        const hi = this.buf.readUInt32LE(this.pos + 4);
        this.pos += 8;
        return { n, wire: 'i64', value: uint64ToString(lo, hi) };
      }
      case 5: {
        if (end - this.pos < 4) return undefined;
        const value = String(this.buf.readUInt32LE(this.pos));
        this.pos += 4;
        return { n, wire: 'i32', value };
      }
      case 2: {
        const length = this.varint32(end);
        if (length === undefined || length > end - this.pos) return undefined;
        const from = this.pos;
        const to = from + length;
        const field = this.len(n, from, to, depth);
        this.pos = to;
        return field;
      }
      case 3: {
        if (depth >= this.maxDepth) return undefined;
        const fields = this.message(this.pos, end, depth + 1, n);
        return fields ? { n, wire: 'group', value: fields } : undefined;
      }
      default:
        return undefined;
    }
  }

  private len(n: number, from: number, to: number, depth: number): ProtoField {
    const bytes = this.buf.subarray(from, to);
    const text = isPrintableText(bytes);
    let nested: ProtoField[] | undefined;
    if (bytes.length > 0 && depth < this.maxDepth && (!text || (bytes[0] as number) < 0x20)) {
      nested = this.message(from, to, depth + 1, 0);
    }
    if (nested) return { n, wire: 'len', as: 'message', value: nested };
    if (text) return { n, wire: 'len', as: 'string', value: bytes.toString('utf8') };
    return { n, wire: 'len', as: 'bytes', value: bytes.toString('base64') };
  }

  /** A varint that must fit 32 bits (tags and lengths), as a number. */
  private varint32(end: number): number | undefined {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= end) return undefined;
      const b = this.buf[this.pos++] as number;
      value += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return value <= 0xffffffff ? value : undefined;
    }
    return undefined;
  }

  /**
   * An unsigned 64-bit varint as a decimal string. Numbers carry the first 49 bits exactly; only
   * longer varints (negative int32/int64 take 10 bytes) go through BigInt.
   */
  private varint64(end: number): string | undefined {
    let small = 0;
    let big: bigint | undefined;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) return undefined;
      const b = this.buf[this.pos++] as number;
      // The 10th byte holds bit 63 only; more would overflow 64 bits.
      if (i === 9 && b > 1) return undefined;
      if (i < 7) small += (b & 0x7f) * 2 ** (7 * i);
      else big = (big ?? BigInt(small)) + (BigInt(b & 0x7f) << BigInt(7 * i));
      if (b < 0x80) return big === undefined ? String(small) : big.toString();
    }
    return undefined;
  }
}

function uint64ToString(lo: number, hi: number): string {
  // Below 2^53 a number is exact; above it BigInt is.
  if (hi < 0x200000) return String(hi * 0x100000000 + lo);
  return ((BigInt(hi) << 32n) + BigInt(lo)).toString();
}
