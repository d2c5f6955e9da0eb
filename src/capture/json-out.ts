/**
 * A growable byte buffer that JSON text is written into directly: from strings, from latin1 bytes
 * (header fields as they came off the wire) and from UTF-8 bytes (bodies), escaped exactly as
 * JSON.stringify would escape the same strings. The capture worker writes NDJSON lines with it
 * without building the object graph first (building and stringifying cost ~20 µs per exchange).
 */

/** Bytes that need escaping inside a JSON string: controls, `"` and `\`. */
const NEEDS_ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) NEEDS_ESCAPE[c] = 1;
NEEDS_ESCAPE[0x22] = 1;
NEEDS_ESCAPE[0x5c] = 1;
const SHORT_ESCAPES: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72 };
const HEX = '0123456789abcdef';

export class JsonOut {
  buf: Buffer;
  at = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** The bytes written so far (a view, valid until the next write). */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  /** Text known to be plain ASCII that needs no escaping (punctuation, keys, numbers). */
  ascii(text: string): void {
    const n = text.length;
    this.room(n);
    if (n > 64) {
      this.at += this.buf.write(text, this.at, 'latin1');
      return;
    }
    // Short pieces (most of a line): a loop beats Buffer#write's per-call overhead.
    const b = this.buf;
    const at = this.at;
    for (let i = 0; i < n; i++) b[at + i] = text.charCodeAt(i);
    this.at = at + n;
  }

  /** Any text, as UTF-8, as it is (already JSON). */
  raw(text: string): void {
    this.room(text.length * 3);
    this.at += this.buf.write(text, this.at, 'utf8');
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.at++] = c;
  }

  number(n: number): void {
    this.ascii(JSON.stringify(n));
  }

  /** A JSON string literal for a JS string. */
  string(text: string): void {
    const n = text.length;
    this.room(n + 2);
    const b = this.buf;
    const at = this.at + 1;
    // Copied as it is checked; anything to escape (or beyond ASCII) goes through JSON.stringify.
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80 || NEEDS_ESCAPE[c] === 1) {
        this.raw(JSON.stringify(text));
        return;
      }
      b[at + i] = c;
    }
    b[at - 1] = 0x22;
    b[at + n] = 0x22;
    this.at = at + n + 1;
  }

  /** A JSON string literal for src[start, end) read as latin1 (each byte one character). */
  latin1String(src: Uint8Array, start: number, end: number): void {
    this.room((end - start) * 6 + 2);
    const b = this.buf;
    let at = this.at;
    b[at++] = 0x22;
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      if (c >= 0x80) {
        b[at++] = 0xc0 | (c >> 6);
        b[at++] = 0x80 | (c & 0x3f);
      } else if (NEEDS_ESCAPE[c] === 1) at = escape(b, at, c);
      else b[at++] = c;
    }
    b[at++] = 0x22;
    this.at = at;
  }

  /** A JSON string literal for src, valid UTF-8 (multi-byte sequences are copied as they are). */
  utf8String(src: Uint8Array): void {
    const n = src.length;
    let i = 0;
    while (i < n && NEEDS_ESCAPE[src[i] as number] !== 1) i++;
    this.room(i + (n - i) * 6 + 2);
    const b = this.buf;
    let at = this.at;
    b[at++] = 0x22;
    b.set(i === n ? src : src.subarray(0, i), at);
    at += i;
    for (; i < n; i++) {
      const c = src[i] as number;
      if (NEEDS_ESCAPE[c] === 1) at = escape(b, at, c);
      else b[at++] = c;
    }
    b[at++] = 0x22;
    this.at = at;
  }
}

function escape(b: Buffer, at: number, c: number): number {
  b[at++] = 0x5c;
  if (c === 0x22 || c === 0x5c) {
    b[at++] = c;
    return at;
  }
  const short = SHORT_ESCAPES[c];
  if (short !== undefined) {
    b[at++] = short;
    return at;
  }
  b[at++] = 0x75; // \u00XX, lower-case hex as JSON.stringify writes it
  b[at++] = 0x30;
  b[at++] = 0x30;
  b[at++] = HEX.charCodeAt(c >> 4);
  b[at++] = HEX.charCodeAt(c & 15);
  return at;
}
