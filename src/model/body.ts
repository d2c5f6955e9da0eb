/**
 * Body capture helpers. Capture keeps at most `cap` bytes of a body (the rest still streams to
 * its destination); the record says how big the body really was and whether it was cut.
 */
import { isUtf8 } from 'node:buffer';
import type { Body, HeaderList } from './exchange.ts';

export const DEFAULT_BODY_CAP = 1024 * 1024;

/** Collects copies of body chunks up to a cap; counts every byte. */
export class BodyCollector {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  size = 0;

  constructor(private readonly cap: number = DEFAULT_BODY_CAP) {}

  /** Copies what fits under the cap; the caller's buffer may be reused after this returns. */
  add(chunk: Uint8Array): void {
    this.size += chunk.length;
    const room = this.cap - this.kept;
    if (room <= 0) return;
    const take = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.parts.push(Buffer.from(take));
    this.kept += take.length;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  /** Bytes held in memory (at most the cap). */
  get keptBytes(): number {
    return this.kept;
  }

  bytes(): Buffer {
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.kept);
  }

  toBody(contentType?: string): Body | undefined {
    if (this.size === 0) return undefined;
    return encodeBody(this.bytes(), this.size, contentType);
  }
}

/** Text stays readable (utf8) when it is valid UTF-8 without control bytes; anything else is base64. */
export function encodeBody(bytes: Uint8Array, size: number = bytes.length, contentType?: string): Body {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const text = bodyText(buf, size);
  const body: Body = {
    encoding: text ? 'utf8' : 'base64',
    data: text ? text.toString('utf8') : buf.toString('base64'),
    size,
    truncated: size > bytes.length,
  };
  if (contentType) body.contentType = contentType;
  return body;
}

/**
 * The bytes a body keeps as utf8 text (the kept bytes of a body of `size` bytes in all), or
 * undefined when it is kept as base64. Shared with the capture worker's NDJSON writer, which
 * copies these bytes straight into the line.
 */
export function bodyText(buf: Buffer, size: number): Buffer | undefined {
  // A cut body may end inside a multi-byte character: judge only the complete part.
  const whole = size > buf.length ? trimPartialUtf8(buf) : buf;
  // Checks on bytes first (a loop and a native validator), so binary never becomes a string.
  return !hasControlBytes(whole) && isUtf8(whole) ? whole : undefined;
}

export function decodeBody(body: Body | undefined): Buffer {
  if (!body) return Buffer.alloc(0);
  return body.encoding === 'utf8' ? Buffer.from(body.data, 'utf8') : Buffer.from(body.data, 'base64');
}

function trimPartialUtf8(buf: Buffer): Buffer {
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  let end = buf.length;
  let i = end - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && ((buf[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return buf;
  const lead = buf[i] ?? 0;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (need > continuation + 1) end = i;
  return buf.subarray(0, end);
}

/** NUL and most C0 controls (all but tab, newlines, form feed and escape) never appear in text. */
function hasControlBytes(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = buf[i] as number;
    if (c < 32 && (c < 9 || (c > 13 && c !== 27))) return true;
  }
  return false;
}

/** First value of a header, case-insensitive. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}
