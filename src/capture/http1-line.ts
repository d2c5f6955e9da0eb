/**
 * Writes the NDJSON line of a packed HTTP exchange straight from its bytes, in the capture worker:
 * the same record buildHttpExchange() + JSON.stringify() produce (same keys, same order, same
 * escaping; http1-line.test.ts checks this on varied inputs and against the schema), without the
 * object graph, the header strings or the second pass. The heads were accepted by the proxy's
 * parser, so a light scan reads them; anything this writer does not cover (a 101, a field it has
 * no column for such as WebSocket messages, an unexpected head) returns false and the caller
 * builds the record the general way.
 */
import { bodyText } from '../model/body.ts';
import { newId } from '../model/ids.ts';
import { strayLeadLength } from '../protocols/http1/head.ts';
import { roundMs, type ExchangeContext } from './http1-exchange.ts';
import type { JsonOut } from './json-out.ts';
import type { RawHttp, Slice } from './raw-record.ts';

const HTTP_1 = 'HTTP/1.';
const CR = 0x0d;
const COLON = 0x3a;
const SP = 0x20;
const HTAB = 0x09;

/** Fields of RawHttp this writer knows; a record with any other goes the general way. */
const KNOWN_FIELDS = new Set([
  't',
  'ctx',
  'startWall',
  'durationMs',
  'connectMs',
  'ttfbMs',
  'src',
  'dst',
  'url',
  'reqHead',
  'reqBody',
  'reqSize',
  'reqTrailers',
  'resHead',
  'resBody',
  'resSize',
  'resTrailers',
  'error',
]);
const KNOWN_CTX_FIELDS = new Set(['direction', 'service', 'bodyCap', 'tags', 'scheme', 'tls']);

/** The parts of a line that depend only on the exchange context, made once per context. */
export interface ContextParts {
  /** `,"direction":…,"service":…,"protocol":"http","src":` */
  middle: string;
  /** `,"tls":{…}` or '' */
  tls: string;
  /** `,"tags":{…}}` or `}` */
  tail: string;
}

/** The context's parts, or undefined when it has fields this writer does not know. */
export function contextParts(ctx: ExchangeContext): ContextParts | undefined {
  for (const key in ctx) if (!KNOWN_CTX_FIELDS.has(key)) return undefined;
  // Through JSON.stringify, so that an absent value is left out exactly as it would be.
  const named = JSON.stringify({ direction: ctx.direction, service: ctx.service, protocol: 'http' });
  return {
    middle: `,${named.slice(1, -1)},"src":`,
    tls: ctx.tls ? `,"tls":${JSON.stringify(ctx.tls)}` : '',
    tail: ctx.tags ? `,"tags":${JSON.stringify(ctx.tags)}}` : '}',
  };
}

let lastTsMs = NaN;
let lastTs = '';
/** Exchanges start many to a millisecond: the ISO string is made once per millisecond. */
function isoTime(ms: number): string {
  if (ms !== lastTsMs) {
    lastTsMs = ms;
    lastTs = new Date(ms).toISOString();
  }
  return lastTs;
}

/** Writes the line (with its newline); false, with nothing written, when it is not for this writer. */
export function writeHttpLine(raw: RawHttp, bytes: Buffer, parts: ContextParts, out: JsonOut): boolean {
  for (const key in raw) if (!KNOWN_FIELDS.has(key)) return false;
  const mark = out.at;
  if (!writeLine(raw, bytes, parts, out)) {
    out.at = mark;
    return false;
  }
  return true;
}

function writeLine(raw: RawHttp, bytes: Buffer, parts: ContextParts, out: JsonOut): boolean {
  out.ascii(`{"v":1,"id":"${newId(raw.startWall)}","ts":"${isoTime(raw.startWall)}","durationMs":`);
  out.number(roundMs(raw.durationMs));
  out.ascii(parts.middle);
  out.string(raw.src);
  out.ascii(',"dst":');
  out.string(raw.dst);
  out.ascii(',"request":{"method":');
  const [reqStart, reqLen] = raw.reqHead;
  const req = reqStart + strayLeadLength(bytes.subarray(reqStart, reqStart + reqLen));
  const reqEnd = reqStart + reqLen - 4; // before the final CRLFCRLF
  const reqEol = lineEnd(bytes, req, reqEnd);
  const sp1 = bytes.indexOf(SP, req);
  let sp2 = reqEol - 1;
  while (sp2 > sp1 && bytes[sp2] !== SP) sp2--;
  const reqVersion = version(bytes, sp2 + 1, reqEol);
  if (sp1 <= req || sp2 <= sp1 || !reqVersion) return false;
  out.latin1String(bytes, req, sp1);
  out.ascii(',"url":');
  out.string(raw.url);
  out.ascii(`,"httpVersion":"${reqVersion}","headers":`);
  const reqType = writeFields(bytes, reqEol, reqEnd, out);
  if (reqType === false) return false;
  if (raw.reqBody) writeBody(bytes, raw.reqBody, raw.reqSize, reqType, out);
  if (raw.reqTrailers) out.raw(`,"trailers":${JSON.stringify(raw.reqTrailers)}`);
  out.byte(0x7d); // }
  if (raw.resHead) {
    const [res, resLen] = raw.resHead;
    const resEnd = res + resLen - 4;
    const resEol = lineEnd(bytes, res, resEnd);
    const resVersion = version(bytes, res, res + 8);
    const status = digit(bytes, res + 9) * 100 + digit(bytes, res + 10) * 10 + digit(bytes, res + 11);
    // A 101 may make the record a WebSocket one: the general path decides that.
    if (!resVersion || !(status >= 100 && status <= 999) || status === 101) return false;
    out.ascii(`,"response":{"status":${status},"statusText":`);
    const reason = resEol > res + 12 ? res + 13 : resEol;
    out.latin1String(bytes, reason, resEol);
    out.ascii(`,"httpVersion":"${resVersion}","headers":`);
    const resType = writeFields(bytes, resEol, resEnd, out);
    if (resType === false) return false;
    if (raw.resBody) writeBody(bytes, raw.resBody, raw.resSize, resType, out);
    if (raw.resTrailers) out.raw(`,"trailers":${JSON.stringify(raw.resTrailers)}`);
    out.byte(0x7d);
  }
  out.raw(parts.tls);
  if (raw.error) out.raw(`,"error":${JSON.stringify(raw.error)}`);
  if (raw.connectMs !== undefined || raw.ttfbMs !== undefined) {
    out.ascii(',"timings":{');
    if (raw.connectMs !== undefined) out.ascii(`"connectMs":${JSON.stringify(roundMs(raw.connectMs))}`);
    if (raw.ttfbMs !== undefined) {
      out.ascii(`${raw.connectMs !== undefined ? ',' : ''}"ttfbMs":${JSON.stringify(roundMs(raw.ttfbMs))}`);
    }
    out.byte(0x7d);
  }
  out.raw(parts.tail);
  out.byte(0x0a);
  return true;
}

/** The offset of the CR ending the line that starts at `from`, or `end` for the last line. */
function lineEnd(bytes: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end && bytes[i] !== CR) i++;
  return i;
}

/** `1.1` or `1.0` for the bytes HTTP/1.1 or HTTP/1.0 in [start, end); else undefined. */
function version(bytes: Buffer, start: number, end: number): string | undefined {
  if (end - start !== 8) return undefined;
  for (let i = 0; i < 7; i++) if (bytes[start + i] !== HTTP_1.charCodeAt(i)) return undefined;
  const minor = bytes[start + 7];
  return minor === 0x31 ? '1.1' : minor === 0x30 ? '1.0' : undefined;
}

function digit(bytes: Buffer, at: number): number {
  const d = (bytes[at] as number) - 0x30;
  return d >= 0 && d <= 9 ? d : NaN;
}

/**
 * Writes the field lines after the start line (which ends at `eol`, a CR or `end`) as
 * [["name","value"],…]. Returns the first Content-Type value's [start, end), undefined without
 * one, or false when a line has no colon (not a head the proxy accepted).
 */
function writeFields(bytes: Buffer, eol: number, end: number, out: JsonOut): [number, number] | undefined | false {
  let contentType: [number, number] | undefined;
  out.byte(0x5b); // [
  for (let pos = eol + 2, first = true; pos < end + 2 && eol < end; first = false) {
    let colon = pos;
    while (colon < end && bytes[colon] !== COLON && bytes[colon] !== CR) colon++;
    if (colon >= end || bytes[colon] !== COLON || colon === pos) return false;
    let value = colon + 1;
    while (value < end && (bytes[value] === SP || bytes[value] === HTAB)) value++;
    const next = lineEnd(bytes, value, end);
    let valueEnd = next;
    while (valueEnd > value && (bytes[valueEnd - 1] === SP || bytes[valueEnd - 1] === HTAB)) valueEnd--;
    out.ascii(first ? '[' : ',[');
    out.latin1String(bytes, pos, colon);
    out.byte(0x2c);
    out.latin1String(bytes, value, valueEnd);
    out.byte(0x5d);
    if (contentType === undefined && colon - pos === 12 && isContentType(bytes, pos)) contentType = [value, valueEnd];
    pos = next + 2;
  }
  out.byte(0x5d); // ]
  return contentType;
}

const CONTENT_TYPE = 'content-type';
function isContentType(bytes: Buffer, at: number): boolean {
  for (let i = 0; i < 12; i++) if (((bytes[at + i] as number) | 0x20) !== CONTENT_TYPE.charCodeAt(i)) return false;
  return true;
}

/** `,"body":{…}` as encodeBody() makes it. */
function writeBody(
  bytes: Buffer,
  [start, length]: Slice,
  size: number,
  contentType: [number, number] | undefined,
  out: JsonOut,
): void {
  const kept = bytes.subarray(start, start + length);
  const text = bodyText(kept, size);
  if (text) {
    out.ascii(',"body":{"encoding":"utf8","data":');
    out.utf8String(text);
  } else {
    out.ascii(',"body":{"encoding":"base64","data":"');
    out.ascii(kept.toString('base64'));
    out.byte(0x22);
  }
  out.ascii(`,"size":${JSON.stringify(size)},"truncated":${size > length}`);
  if (contentType && contentType[1] > contentType[0]) {
    out.ascii(',"contentType":');
    out.latin1String(bytes, contentType[0], contentType[1]);
  }
  out.byte(0x7d);
}
