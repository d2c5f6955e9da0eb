/**
 * HTTP/1 message heads: parsing the start line and header fields (RFC 9112 §3-5) and deciding
 * how the body is framed (§6). Strict where leniency would let a request be read two ways by
 * two parsers (request smuggling): CRLF line endings, no obs-fold, one Content-Length.
 */
import type { HeaderList } from '../../model/exchange.ts';

export type Http1ErrorCode =
  | 'bad-request-line'
  | 'bad-status-line'
  | 'bad-version'
  | 'bad-header'
  | 'head-too-large'
  | 'bad-content-length'
  | 'bad-transfer-encoding'
  | 'bad-chunk'
  | 'truncated';

export class Http1ParseError extends Error {
  constructor(
    readonly code: Http1ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Http1Head {
  /** Requests: method and request-target as sent. */
  method: string;
  target: string;
  /** Responses: status code and reason phrase. */
  status: number;
  statusText: string;
  /** `1.0` or `1.1`. */
  version: string;
  headers: HeaderList;
  /**
   * The head exactly as it came off the wire, final CRLFCRLF included (for a request, also any
   * stray empty lines that preceded its request line, so that no input byte goes unreported).
   */
  raw: Buffer;
  /** Body framing from the headers alone (the response parser adjusts for HEAD, 1xx, 204, 304). */
  contentLength: number | undefined;
  chunked: boolean;
  /** The sender asked to close after this message (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Value of the Upgrade header when Connection lists `upgrade`. */
  upgrade: string | undefined;
  expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible characters, spaces, tabs and obs-text; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;

/** Parses a complete head (`text` is the latin1 view of `raw` without the final CRLFCRLF). */
export function parseHead(kind: 'request' | 'response', text: string, raw: Buffer): Http1Head {
  const lines = text.split('\r\n');
  // A bare LF ends no line here: the first one decides the error, before any other check (the
  // parser reports it with this same code when it sees it before the end of the head).
  for (let i = 0; i < lines.length; i++) {
    if ((lines[i] as string).includes('\n')) {
      const code = i > 0 ? 'bad-header' : kind === 'request' ? 'bad-request-line' : 'bad-status-line';
      throw new Http1ParseError(code, 'line ended by a bare LF (CRLF required)');
    }
  }
  const startLine = lines[0] ?? '';
  const head: Http1Head = {
    method: '',
    target: '',
    status: 0,
    statusText: '',
    version: '1.1',
    headers: [],
    raw,
    contentLength: undefined,
    chunked: false,
    close: false,
    upgrade: undefined,
    expectContinue: false,
  };
  if (kind === 'request') parseRequestLine(startLine, head);
  else parseStatusLine(startLine, head);

  let connection = '';
  let transferEncoding: string | undefined;
  let upgrade: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const [name, value] = parseFieldLine(lines[i] as string);
    head.headers.push([name, value]);

    switch (name.toLowerCase()) {
      case 'content-length': {
        // Repeated identical values (or a list of them) are one length; different ones are an attack.
        for (const part of value.split(',')) {
          const v = trimOws(part);
          if (!/^\d{1,15}$/.test(v)) throw new Http1ParseError('bad-content-length', `invalid Content-Length "${preview(value)}"`);
          const n = Number(v);
          if (head.contentLength !== undefined && head.contentLength !== n) {
            throw new Http1ParseError('bad-content-length', 'conflicting Content-Length values');
          }
          head.contentLength = n;
        }
        break;
      }
      case 'transfer-encoding':
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case 'connection':
        connection += `,${value.toLowerCase()}`;
        break;
      case 'upgrade':
        upgrade = value;
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') head.expectContinue = true;
        break;
    }
  }

  if (transferEncoding !== undefined) {
    const codings = transferEncoding.toLowerCase().split(',').map(trimOws).filter(Boolean);
    head.chunked = codings[codings.length - 1] === 'chunked';
    if (kind === 'request' && !head.chunked) {
      throw new Http1ParseError('bad-transfer-encoding', `request Transfer-Encoding "${preview(transferEncoding)}" does not end in chunked`);
    }
    // RFC 9112 §6.1: chunked is never applied twice; "chunked, chunked" would be read two ways.
    if (kind === 'request' && codings.indexOf('chunked') !== codings.length - 1) {
      throw new Http1ParseError('bad-transfer-encoding', 'chunked applied more than once');
    }
    if (head.contentLength !== undefined) {
      if (kind === 'request') {
        throw new Http1ParseError('bad-transfer-encoding', 'both Transfer-Encoding and Content-Length');
      }
      head.contentLength = undefined; // RFC 9112 §6.3: Transfer-Encoding overrides.
    }
  }
  const tokens = connection.split(',').map(trimOws);
  const keepAlive = tokens.includes('keep-alive');
  head.close = tokens.includes('close') || (head.version === '1.0' && !keepAlive);
  if (upgrade !== undefined && tokens.includes('upgrade')) head.upgrade = upgrade;
  return head;
}

function parseRequestLine(line: string, head: Http1Head): void {
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) throw new Http1ParseError('bad-request-line', `malformed request line "${preview(line)}"`);
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!TOKEN.test(method)) throw new Http1ParseError('bad-request-line', `invalid method "${preview(method)}"`);
  if (!TARGET.test(target)) throw new Http1ParseError('bad-request-line', `invalid request target "${preview(target)}"`);
  head.method = method;
  head.target = target;
  head.version = parseVersion(version);
}

function parseStatusLine(line: string, head: Http1Head): void {
  // HTTP-version SP 3DIGIT SP [reason]; some servers omit the space before an empty reason.
  const m = /^(HTTP\/\d\.\d) ([1-9]\d\d)(?: (.*))?$/.exec(line);
  if (!m) throw new Http1ParseError('bad-status-line', `malformed status line "${preview(line)}"`);
  head.version = parseVersion(m[1] as string);
  head.status = Number(m[2]);
  head.statusText = m[3] ?? '';
  if (!FIELD_VALUE.test(head.statusText)) throw new Http1ParseError('bad-status-line', 'invalid characters in the reason phrase');
}

function parseVersion(v: string): string {
  if (v === 'HTTP/1.1') return '1.1';
  if (v === 'HTTP/1.0') return '1.0';
  throw new Http1ParseError('bad-version', `unsupported HTTP version "${preview(v)}"`);
}

/**
 * Parses one field line (`name: value`) of a head or a trailer section; the value loses its
 * surrounding spaces and tabs (and nothing else: JS trim() would also eat VT, FF and NBSP).
 */
export function parseFieldLine(line: string): [string, string] {
  if (line.includes('\n') || line.includes('\r')) {
    throw new Http1ParseError('bad-header', 'bare CR or LF in the head');
  }
  const colon = line.indexOf(':');
  if (colon <= 0) {
    throw new Http1ParseError(
      'bad-header',
      line.length > 0 && (line[0] === ' ' || line[0] === '\t')
        ? 'folded header lines (obs-fold) are not accepted'
        : `header line without a name: "${preview(line)}"`,
    );
  }
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) throw new Http1ParseError('bad-header', `invalid header name "${preview(name)}"`);
  const value = trimOws(line.slice(colon + 1));
  if (!FIELD_VALUE.test(value)) throw new Http1ParseError('bad-header', `invalid characters in header ${name}`);
  return [name, value];
}

/** Strips optional whitespace (SP and HTAB only, RFC 9110 §5.6.3). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function preview(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 60)}…` : clean;
}
