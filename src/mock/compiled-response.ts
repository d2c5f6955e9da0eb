/**
 * A recorded response turned into the bytes an HTTP/1.1 client gets, once, when the snapshot
 * is loaded: the hot path then writes a Buffer it already has (two, for HEAD) instead of
 * formatting headers per request.
 *
 * The recorded headers keep their order and case. What described the recorded connection
 * rather than the message is rewritten: Content-Length is recomputed from the body we hold
 * (the recorded one may have been chunked, or an HTTP/2 response without one),
 * Transfer-Encoding goes (we always send a length), and Connection / Keep-Alive go (this
 * connection's lifetime is ours). HTTP/2 pseudo-headers never reach an HTTP/1 client.
 */
import { STATUS_CODES } from 'node:http';
import { decodeBody } from '../model/body.ts';
import type { Body, HeaderList } from '../model/exchange.ts';

export interface CompiledResponse {
  status: number;
  /** Head bytes ending in CRLFCRLF (Content-Length included). */
  head: Buffer;
  /** Head and body in one buffer: the common write. */
  full: Buffer;
  /** The body as it will be served. */
  body: Buffer;
  /** The recorded body was cut at the capture cap: only its first bytes are served. */
  truncated: boolean;
}

/** Headers that belong to one connection, never forwarded or replayed (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te']);

/** Statuses whose responses never carry a body, and so no Content-Length we would invent. */
function bodyless(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

export interface ResponseParts {
  status: number;
  statusText?: string | undefined;
  headers: HeaderList;
  body: Buffer;
  truncated?: boolean;
  /** Headers of our own, added after the recorded ones (X-Tapwire-…). */
  extra?: HeaderList;
}

export function compileParts(parts: ResponseParts): CompiledResponse {
  const { status, body } = parts;
  const reason = parts.statusText || STATUS_CODES[status] || 'Unknown';
  const lines: string[] = [`HTTP/1.1 ${status} ${reason}`];
  let lengthWritten = false;
  const noBody = bodyless(status);
  for (const [name, value] of parts.headers) {
    if (name.startsWith(':')) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'content-length') {
      // In the place of the first recorded one, so the order stays as recorded.
      if (!lengthWritten && !noBody) lines.push(`${name}: ${body.length}`);
      lengthWritten = true;
      continue;
    }
    lines.push(`${name}: ${sanitize(value)}`);
  }
  if (!lengthWritten && !noBody) lines.push(`Content-Length: ${body.length}`);
  for (const [name, value] of parts.extra ?? []) lines.push(`${name}: ${sanitize(value)}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  const served = noBody ? Buffer.alloc(0) : body;
  return {
    status,
    head,
    full: served.length === 0 ? head : Buffer.concat([head, served]),
    body: served,
    truncated: parts.truncated ?? false,
  };
}

/** A recorded HTTP response (or none: the exchange failed before one came). */
export function compileRecorded(response: {
  status: number;
  statusText: string;
  headers: HeaderList;
  body?: Body | undefined;
}): CompiledResponse {
  const body = decodeBody(response.body);
  const truncated = response.body?.truncated ?? false;
  const extra: HeaderList = truncated
    ? [['X-Tapwire-Warning', `body truncated at capture: ${body.length} of ${response.body?.size ?? '?'} bytes`]]
    : [];
  return compileParts({
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    body,
    truncated,
    extra,
  });
}

/** A response of tapwire's own (miss, fault, error) with a JSON or text body. */
export function compileOwn(status: number, headers: HeaderList, body: string | Buffer): CompiledResponse {
  return compileParts({ status, headers, body: typeof body === 'string' ? Buffer.from(body) : body });
}

/** CR, LF and NUL can never go into a head: they would split it (a recorded value is data). */
function sanitize(value: string): string {
  return /[\r\n\0]/.test(value) ? value.replace(/[\r\n\0]/g, ' ') : value;
}
