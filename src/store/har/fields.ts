/**
 * Field conversions shared by HAR export and import: HTTP versions, header lists, cookies,
 * query strings, content codings.
 */
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { HeaderList } from '../../model/exchange.ts';
import type { HarCookie, HarNameValue } from './types.ts';

/** Our `1.1` / `2` / `3` as HAR spells it (`HTTP/1.1`, `HTTP/2`); anything else is kept. */
export function harHttpVersion(version: string): string {
  return /^\d(\.\d)?$/.test(version) ? `HTTP/${version}` : version;
}

/**
 * Browsers spell versions many ways: `HTTP/1.1`, `http/1.1`, `http/2.0`, `h2`, `HTTP/2`, `h3`,
 * `h3-29`, or an empty string for a failed request. Returns ours (`1.1`, `2`, `3`), or
 * `fallback` when the value says nothing.
 */
export function parseHttpVersion(value: unknown, fallback = '1.1'): string {
  if (typeof value !== 'string') return fallback;
  const v = value.trim().toLowerCase();
  if (/^h2c?$/.test(v)) return '2';
  if (/^h3(-\d+)?$/.test(v) || v === 'quic') return '3';
  const m = /^(?:https?\/)?(\d)(?:\.(\d))?$/.exec(v);
  if (!m) return fallback;
  const major = m[1] as string;
  // HTTP/2 and HTTP/3 have no minor version; `http/2.0` is Chrome's way of writing h2.
  if (major === '2' || major === '3') return major;
  return `${major}.${m[2] ?? '0'}`;
}

export function headersToHar(headers: HeaderList): HarNameValue[] {
  return headers.map(([name, value]) => ({ name, value }));
}

/** HAR header objects to our list; entries without a string name are dropped. */
export function headersFromHar(headers: unknown): HeaderList {
  if (!Array.isArray(headers)) return [];
  const out: HeaderList = [];
  for (const h of headers) {
    if (typeof h !== 'object' || h === null) continue;
    const { name, value } = h as { name?: unknown; value?: unknown };
    if (typeof name !== 'string' || name === '') continue;
    out.push([name, typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)]);
  }
  return out;
}

export function headerValues(headers: HeaderList, name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([k]) => k.toLowerCase() === lower).map(([, v]) => v);
}

/** `Cookie: a=1; b=2` (every Cookie header) as HAR cookies. */
export function requestCookies(headers: HeaderList): HarCookie[] {
  const cookies: HarCookie[] = [];
  for (const header of headerValues(headers, 'cookie')) {
    for (const part of header.split(';')) {
      const pair = part.trim();
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      cookies.push(
        eq === -1 ? { name: pair, value: '' } : { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() },
      );
    }
  }
  return cookies;
}

/** One HAR cookie per `Set-Cookie` header, with its attributes. */
export function responseCookies(headers: HeaderList): HarCookie[] {
  const cookies: HarCookie[] = [];
  for (const header of headerValues(headers, 'set-cookie')) {
    const [pair = '', ...attrs] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const cookie: HarCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() };
    for (const attr of attrs) {
      const i = attr.indexOf('=');
      const key = (i === -1 ? attr : attr.slice(0, i)).trim().toLowerCase();
      const val = i === -1 ? '' : attr.slice(i + 1).trim();
      if (key === 'path') cookie.path = val;
      else if (key === 'domain') cookie.domain = val;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'samesite') cookie.sameSite = val;
      else if (key === 'expires') {
        // HAR wants ISO 8601 where the header has an HTTP date.
        const ms = Date.parse(val);
        if (!Number.isNaN(ms)) cookie.expires = new Date(ms).toISOString();
      }
    }
    cookies.push(cookie);
  }
  return cookies;
}

export function queryString(url: string): HarNameValue[] {
  try {
    return [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    return [];
  }
}

/** The codings a HAR viewer expects decoded in `content.text`. */
const decoders: Record<string, (b: Buffer) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  br: brotliDecompressSync,
  deflate: (b) => {
    // "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
    try {
      return inflateSync(b);
    } catch {
      return inflateRawSync(b);
    }
  },
};

/** Undoes a Content-Encoding; undefined when the coding is unknown or the bytes do not decode. */
export function decodeContent(coding: string, bytes: Buffer): Buffer | undefined {
  const decode = decoders[coding.trim().toLowerCase()];
  if (!decode) return undefined;
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}
