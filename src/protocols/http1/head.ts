/**
 * HTTP/1 message heads: parsing the start line and header fields (RFC 9112 §3-5) and deciding
 * how the body is framed (§6). Strict where leniency would let a request be read two ways by
 * two parsers (request smuggling): CRLF line endings, no obs-fold, one Content-Length.
 *
 * This runs for every message the proxy sees, so it walks the head once, checking characters
 * against lookup tables, rather than splitting it into lines and running RegExps on each. The
 * walk only accepts; on anything it does not accept it throws, and the catch in parseHead then
 * gives a bare LF anywhere in the head precedence over that error.
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
  /** The first Host field's value, if any (set by the parser; optional for heads made elsewhere). */
  host?: string | undefined;
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

/** A 256-entry membership table for a one-character class (1 = member). */
function charClass(re: RegExp): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return table;
}
// Indexed by charCodeAt(), never past the end of the string (a NaN index is a slow property
// lookup). A code above 0xff (only if a caller passes a string that is not latin1) reads as
// undefined: not a member, as for the RegExp classes these tables stand for.
const TCHAR = charClass(/[!#$%&'*+\-.^_`|~0-9A-Za-z]/);
// Field values: visible characters, spaces, tabs and obs-text; never CR, LF or NUL.
const FIELD_VCHAR = charClass(/[\t\x20-\x7e\x80-\xff]/);
const TARGET_CHAR = charClass(/[\x21-\x7e\x80-\xff]/);
// All the field lines of a head (from lastIndex to the end), each `token ":" field-value-chars`,
// separated by CRLF: exactly what the character loop in scanHead accepts (OWS is among the
// value characters). Linear: the value class excludes CR, so nothing backtracks.
const FIELD_LINES =
  /[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)*$/y;
// HTTP-version SP 3DIGIT, then SP [reason] or the end of the line (some servers omit the space
// before an empty reason). The reason itself is checked with FIELD_VCHAR.
const STATUS_LINE_START = /^HTTP\/\d\.\d [1-9]\d\d(?: |\r\n|$)/;
const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
// Connection options that matter here, as flags.
const CONNECTION_CLOSE = 1;
const CONNECTION_KEEP_ALIVE = 2;
const CONNECTION_UPGRADE = 4;

/** True when every character of text[start, end) is in `table`. */
function allIn(table: Uint8Array, text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (table[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * A parsed head. With `lazy`, the header list is only made when someone reads `headers`: the
 * scan still checks every field line, but a proxy that only needs the framing (and Host) skips
 * two strings and an array per field on every message.
 */
class ParsedHead implements Http1Head {
  method = '';
  target = '';
  status = 0;
  statusText = '';
  version = '1.1';
  host: string | undefined = undefined;
  contentLength: number | undefined = undefined;
  chunked = false;
  close = false;
  upgrade: string | undefined = undefined;
  expectContinue = false;
  private list: HeaderList | undefined;

  constructor(
    readonly raw: Buffer,
    /** The head as latin1 text (no final CRLFCRLF), kept while the header list is not made. */
    private text: string | undefined,
    /** Where the field lines start in `text` (-1: none). */
    private readonly fieldsAt: number,
  ) {
    if (text === undefined) this.list = [];
  }

  get headers(): HeaderList {
    if (this.list === undefined) {
      this.list = fieldList(this.text as string, this.fieldsAt);
      this.text = undefined;
    }
    return this.list;
  }

  set headers(list: HeaderList) {
    this.list = list;
    this.text = undefined;
  }
}

/** The field lines of an accepted head, from text[pos] on (-1: none). */
function fieldList(text: string, pos: number): HeaderList {
  const list: HeaderList = [];
  const len = text.length;
  while (pos >= 0) {
    const eol = text.indexOf('\r\n', pos);
    const end = eol < 0 ? len : eol;
    const colon = text.indexOf(':', pos);
    const b = owsBefore(text, colon + 1, end);
    list.push([text.slice(pos, colon), text.slice(owsAfter(text, colon + 1, b), b)]);
    pos = eol < 0 ? -1 : eol + 2;
  }
  return list;
}

/**
 * Parses a complete head (`text` is the latin1 view of `raw` without the final CRLFCRLF). With
 * `lazy`, head.headers is made when first read (from `text`, kept until then).
 */
export function parseHead(kind: 'request' | 'response', text: string, raw: Buffer, lazy = false): Http1Head {
  try {
    return scanHead(kind, text, raw, lazy);
  } catch (err) {
    // A bare LF ends no line here: the first one decides the error, before any other check (the
    // parser reports it with this same code when it sees it before the end of the head). The
    // scan accepts no LF outside a CRLF, so a head with a bare LF always ends up here.
    const bareLf = err instanceof Http1ParseError ? /(?<!\r)\n/.exec(text) : null;
    if (bareLf) {
      const inStartLine = text.indexOf('\n') === bareLf.index; // no CRLF (so no line) before it
      const code = !inStartLine ? 'bad-header' : kind === 'request' ? 'bad-request-line' : 'bad-status-line';
      throw new Http1ParseError(code, 'line ended by a bare LF (CRLF required)');
    }
    throw err;
  }
}

function scanHead(kind: 'request' | 'response', text: string, raw: Buffer, lazy: boolean): Http1Head {
  const len = text.length;
  const eol = text.indexOf('\r\n'); // end of the start line; -1: there are no field lines
  const head = new ParsedHead(raw, lazy ? text : undefined, eol < 0 ? -1 : eol + 2);
  const list = lazy ? undefined : head.headers;
  if (kind === 'request') parseRequestLine(text, eol < 0 ? len : eol, head);
  else parseStatusLine(text, eol < 0 ? len : eol, head);

  let connection = 0; // CONNECTION_* flags
  let transferEncoding: string | undefined;
  let upgrade: string | undefined;
  // The usual case, every field line well formed, is checked at once by a RegExp (native code,
  // several times faster than a character loop here); then each line is only split at its ':'
  // and CRLF. Otherwise the loop checks character by character and throws for the first bad line.
  let checked = false;
  if (eol >= 0) {
    FIELD_LINES.lastIndex = eol + 2;
    checked = FIELD_LINES.test(text);
  }
  // One field line per iteration: pos is its start, and -1 once the last line has been read.
  for (let pos = eol < 0 ? -1 : eol + 2; pos >= 0;) {
    let nameEnd: number;
    let i: number;
    if (checked) {
      nameEnd = text.indexOf(':', pos);
      const crlf = text.indexOf('\r\n', nameEnd);
      i = crlf < 0 ? len : crlf;
    } else {
      i = pos;
      while (i < len && TCHAR[text.charCodeAt(i)] === 1) i++;
      if (i === pos || text.charCodeAt(i) !== COLON) rejectFieldLine(text, pos);
      nameEnd = i;
      i = owsAfter(text, i + 1, len);
      while (i < len && FIELD_VCHAR[text.charCodeAt(i)] === 1) i++;
      // The value runs to the CRLF ending the line, or to the end of the head (no more lines).
      if (i < len && (text.charCodeAt(i) !== CR || text.charCodeAt(i + 1) !== LF)) rejectFieldLine(text, pos);
    }
    const valueStart = owsAfter(text, nameEnd + 1, i);
    const next = i < len ? i + 2 : -1;
    const valueEnd = owsBefore(text, valueStart, i);
    if (list !== undefined) list.push([text.slice(pos, nameEnd), text.slice(valueStart, valueEnd)]);

    // Only a few names matter for framing: compare the length first, then the letters.
    switch (nameEnd - pos) {
      case 14:
        if (isName(text, pos, 'content-length')) {
          head.contentLength = contentLength(text.slice(valueStart, valueEnd), head.contentLength);
        }
        break;
      case 17:
        if (isName(text, pos, 'transfer-encoding')) {
          const value = text.slice(valueStart, valueEnd);
          transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        }
        break;
      case 10:
        if (isName(text, pos, 'connection')) connection |= connectionOptions(text.slice(valueStart, valueEnd));
        break;
      case 7:
        if (isName(text, pos, 'upgrade')) upgrade = text.slice(valueStart, valueEnd);
        break;
      case 6:
        if (isName(text, pos, 'expect') && text.slice(valueStart, valueEnd).toLowerCase() === '100-continue') {
          head.expectContinue = true;
        }
        break;
      case 4:
        if (head.host === undefined && isName(text, pos, 'host')) head.host = text.slice(valueStart, valueEnd);
        break;
    }
    pos = next;
  }

  if (transferEncoding !== undefined) {
    // The codings in order, less empty list members: is the last one chunked, and is it the only one?
    let chunkedCount = 0;
    for (let start = 0, end = 0; start <= transferEncoding.length; start = end + 1) {
      end = listMemberEnd(transferEncoding, start);
      const a = owsAfter(transferEncoding, start, end);
      const b = owsBefore(transferEncoding, a, end);
      if (a === b) continue;
      head.chunked = b - a === 7 && isName(transferEncoding, a, 'chunked');
      if (head.chunked) chunkedCount++;
    }
    if (kind === 'request' && !head.chunked) {
      throw new Http1ParseError(
        'bad-transfer-encoding',
        `request Transfer-Encoding "${preview(transferEncoding)}" does not end in chunked`,
      );
    }
    // RFC 9112 §6.1: chunked is never applied twice; "chunked, chunked" would be read two ways.
    if (kind === 'request' && chunkedCount > 1) {
      throw new Http1ParseError('bad-transfer-encoding', 'chunked applied more than once');
    }
    if (head.contentLength !== undefined) {
      if (kind === 'request') {
        throw new Http1ParseError('bad-transfer-encoding', 'both Transfer-Encoding and Content-Length');
      }
      head.contentLength = undefined; // RFC 9112 §6.3: Transfer-Encoding overrides.
    }
  }
  const keepAlive = (connection & CONNECTION_KEEP_ALIVE) !== 0;
  head.close = (connection & CONNECTION_CLOSE) !== 0 || (head.version === '1.0' && !keepAlive);
  if (upgrade !== undefined && (connection & CONNECTION_UPGRADE) !== 0) head.upgrade = upgrade;
  return head;
}

/** Which of close, keep-alive and upgrade (in any case) a Connection value lists. */
function connectionOptions(value: string): number {
  let flags = 0;
  for (let start = 0, end = 0; start <= value.length; start = end + 1) {
    end = listMemberEnd(value, start);
    const a = owsAfter(value, start, end);
    const b = owsBefore(value, a, end);
    if (b - a === 5 && isName(value, a, 'close')) flags |= CONNECTION_CLOSE;
    else if (b - a === 10 && isName(value, a, 'keep-alive')) flags |= CONNECTION_KEEP_ALIVE;
    else if (b - a === 7 && isName(value, a, 'upgrade')) flags |= CONNECTION_UPGRADE;
  }
  return flags;
}

/**
 * Case-insensitive match of the name starting at text[start] (its length already checked)
 * against a lower-case name of letters and '-'. OR-ing in 0x20 lower-cases ASCII letters; it
 * turns no other character of a token or field value into a letter, and only CR into '-'.
 */
function isName(text: string, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    if ((text.charCodeAt(start + i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The length a Content-Length value gives, given the one seen so far (if any). */
function contentLength(value: string, seen: number | undefined): number {
  // Repeated identical values (or a list of them) are one length; different ones are an attack.
  for (let start = 0, end = 0; start <= value.length; start = end + 1) {
    end = listMemberEnd(value, start);
    const a = owsAfter(value, start, end);
    const b = owsBefore(value, a, end);
    // 1 to 15 digits: a length that a double holds exactly.
    let n = a === b || b - a > 15 ? -1 : 0;
    for (let i = a; i < b && n >= 0; i++) {
      const digit = value.charCodeAt(i) - 0x30;
      n = digit >= 0 && digit <= 9 ? n * 10 + digit : -1;
    }
    if (n < 0) throw new Http1ParseError('bad-content-length', `invalid Content-Length "${preview(value)}"`);
    if (seen !== undefined && seen !== n) {
      throw new Http1ParseError('bad-content-length', 'conflicting Content-Length values');
    }
    seen = n;
  }
  return seen as number;
}

/** method SP request-target SP HTTP-version, in text[0, eol). */
function parseRequestLine(text: string, eol: number, head: ParsedHead): void {
  const sp1 = text.indexOf(' ');
  let sp2 = eol - 1; // the last space in the line: usually 8 characters back, before HTTP/1.1
  while (sp2 >= 0 && text.charCodeAt(sp2) !== SP) sp2--;
  if (sp1 <= 0 || sp1 >= eol || sp2 === sp1) {
    throw new Http1ParseError('bad-request-line', `malformed request line "${preview(text.slice(0, eol))}"`);
  }
  if (!allIn(TCHAR, text, 0, sp1)) {
    throw new Http1ParseError('bad-request-line', `invalid method "${preview(text.slice(0, sp1))}"`);
  }
  if (sp2 === sp1 + 1 || !allIn(TARGET_CHAR, text, sp1 + 1, sp2)) {
    throw new Http1ParseError('bad-request-line', `invalid request target "${preview(text.slice(sp1 + 1, sp2))}"`);
  }
  head.method = text.slice(0, sp1);
  head.target = text.slice(sp1 + 1, sp2);
  head.version = parseVersion(text, sp2 + 1, eol);
}

/** The status line, text[0, eol). */
function parseStatusLine(text: string, eol: number, head: ParsedHead): void {
  const reasonStart = eol > 12 ? 13 : eol;
  const reasonOk = allIn(FIELD_VCHAR, text, reasonStart, eol);
  // A bare CR in the reason (or U+2028/2029, in a string that is not latin1) makes the line
  // malformed whatever its version; other bad characters in it are reported after the version.
  if (!STATUS_LINE_START.test(text) || (!reasonOk && /[\r\n\u2028\u2029]/.test(text.slice(reasonStart, eol)))) {
    throw new Http1ParseError('bad-status-line', `malformed status line "${preview(text.slice(0, eol))}"`);
  }
  head.version = parseVersion(text, 0, 8);
  head.status = Number(text.slice(9, 12));
  head.statusText = text.slice(reasonStart, eol);
  if (!reasonOk) throw new Http1ParseError('bad-status-line', 'invalid characters in the reason phrase');
}

/** HTTP/1.1 or HTTP/1.0 in text[start, end). */
function parseVersion(text: string, start: number, end: number): string {
  if (end - start === 8 && text.startsWith('HTTP/1.', start)) {
    const minor = text.charCodeAt(start + 7);
    if (minor === 0x31) return '1.1';
    if (minor === 0x30) return '1.0';
  }
  throw new Http1ParseError('bad-version', `unsupported HTTP version "${preview(text.slice(start, end))}"`);
}

/** Throws the error for the field line at text[pos], which the scan in scanHead rejected. */
function rejectFieldLine(text: string, pos: number): never {
  const end = text.indexOf('\r\n', pos);
  const line = text.slice(pos, end < 0 ? text.length : end);
  parseFieldLine(line); // throws: it rejects the very lines the scan rejects, and says why
  throw new Http1ParseError('bad-header', `invalid header line "${preview(line)}"`); // not reached
}

/**
 * Parses one field line (`name: value`) of a head or a trailer section; the value loses its
 * surrounding spaces and tabs (and nothing else: JS trim() would also eat VT, FF and NBSP).
 */
/**
 * Bytes of stray CR/LF before a request line (RFC 9112 §2.2). The parser keeps them at the start
 * of head.raw so that forwarding stays byte for byte; whoever reads head.raw again skips them.
 */
export function strayLeadLength(raw: Uint8Array): number {
  let lead = 0;
  while (lead < raw.length && (raw[lead] === 0x0d || raw[lead] === 0x0a)) lead++;
  return lead;
}

/** Parses a head again from its bytes, as Http1Head.raw holds them (one the parser accepted). */
export function parseRawHead(kind: 'request' | 'response', raw: Buffer): Http1Head {
  return parseHead(kind, raw.toString('latin1', strayLeadLength(raw), raw.length - 4), raw);
}

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
  if (!allIn(TCHAR, name, 0, colon)) throw new Http1ParseError('bad-header', `invalid header name "${preview(name)}"`);
  const end = owsBefore(line, colon + 1, line.length);
  const value = line.slice(owsAfter(line, colon + 1, end), end);
  if (!allIn(FIELD_VCHAR, value, 0, value.length)) {
    throw new Http1ParseError('bad-header', `invalid characters in header ${name}`);
  }
  return [name, value];
}

/** Where the member of a comma-separated list (RFC 9110 §5.6.1) starting at s[start] ends. */
function listMemberEnd(s: string, start: number): number {
  const comma = s.indexOf(',', start);
  return comma < 0 ? s.length : comma;
}

// OWS is SP and HTAB only (RFC 9110 §5.6.3).
/** The index after the OWS that s[start, end) begins with. */
function owsAfter(s: string, start: number, end: number): number {
  while (start < end && (s.charCodeAt(start) === SP || s.charCodeAt(start) === HTAB)) start++;
  return start;
}

/** The index where the OWS that s[start, end) ends with begins. */
function owsBefore(s: string, start: number, end: number): number {
  while (end > start && (s.charCodeAt(end - 1) === SP || s.charCodeAt(end - 1) === HTAB)) end--;
  return end;
}

function preview(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 60)}…` : clean;
}
