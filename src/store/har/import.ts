/**
 * HAR to exchanges. Reads what browsers really save (Chrome DevTools, Firefox) as well as our
 * own exports: an entry with `_tapwire` gives back the exchange that was exported; any other
 * entry is read field by field, tolerating missing optional fields. An entry that is not a
 * network exchange (data: or relative URL) is skipped with a reason instead of failing the file.
 */
import { ImportFormatError } from '../../errors.ts';
import { encodeBody, headerValue } from '../../model/body.ts';
import type {
  Body,
  Direction,
  Exchange,
  ExchangeError,
  HeaderList,
  HttpResponse,
  WebsocketMessage,
} from '../../model/exchange.ts';
import {
  WS_OPCODES,
  wsBodyFromChrome,
  type TapwireWebSocketEntryExtension,
  type TapwireWebSocketMessageExtension,
} from './export.ts';
import { newId } from '../../model/ids.ts';
import { parseExchange } from '../../model/migrate.ts';
import { headersFromHar, parseHttpVersion } from './fields.ts';
import type { TapwireBodyExtension, TapwireEntryExtension } from './types.ts';

export interface HarImportOptions {
  /** Direction given to entries without `_tapwire` (default `outbound`: a browser calling out). */
  direction?: Direction;
  /** Service given to entries without `_tapwire` (default: the host of each URL). */
  service?: string;
}

export interface HarSkip {
  /** 0-based index in `log.entries`. */
  index: number;
  url?: string;
  reason: string;
}

export interface HarImportResult {
  exchanges: Exchange[];
  skipped: HarSkip[];
  /** `log.creator` as `name version`, when present. */
  creator?: string;
}

type Obj = Record<string, unknown>;

class Skip extends Error {}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** True when a parsed JSON document looks like HAR (an object with a `log` object). */
export function isHar(doc: unknown): boolean {
  return isObj(doc) && isObj(doc['log']);
}

export function harToExchanges(har: unknown, options: HarImportOptions = {}): HarImportResult {
  if (!isHar(har)) throw new ImportFormatError('not a HAR file: there is no "log" object at the top level');
  const log = (har as { log: Obj }).log;
  const entries = log['entries'];
  if (!Array.isArray(entries)) throw new ImportFormatError('not a HAR file: "log.entries" is not a list');
  const result: HarImportResult = { exchanges: [], skipped: [] };
  const creator = isObj(log['creator']) ? log['creator'] : undefined;
  if (creator && str(creator['name'])) {
    result.creator = [str(creator['name']), str(creator['version'])].filter(Boolean).join(' ');
  }
  entries.forEach((entry: unknown, index) => {
    const url = isObj(entry) && isObj(entry['request']) ? str(entry['request']['url']) : undefined;
    try {
      result.exchanges.push(parseExchange(entryToExchange(entry, options)));
    } catch (err) {
      const skip: HarSkip = { index, reason: (err as Error).message };
      if (url !== undefined) skip.url = url.length > 120 ? `${url.slice(0, 117)}...` : url;
      result.skipped.push(skip);
    }
  });
  return result;
}

function entryToExchange(entry: unknown, options: HarImportOptions): unknown {
  if (!isObj(entry)) throw new Skip('the entry is not an object');
  const req = entry['request'];
  if (!isObj(req)) throw new Skip('the entry has no request');
  const rawUrl = str(req['url']);
  if (!rawUrl) throw new Skip('the request has no URL');
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Skip('the URL is relative or malformed; an exchange needs an absolute URL');
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new Skip(`${url.protocol} URLs are not network exchanges (the browser made no HTTP request)`);
  }
  const method = str(req['method']);
  if (!method) throw new Skip('the request has no method');
  const started = str(entry['startedDateTime']);
  const ms = started === undefined ? NaN : Date.parse(started);
  if (Number.isNaN(ms)) throw new Skip('startedDateTime is missing or not a date');

  const ext =
    isObj(entry['_tapwire']) && entry['_tapwire']['v'] === 1
      ? (entry['_tapwire'] as unknown as TapwireEntryExtension)
      : undefined;
  return ext ? fromExtension(entry, req, ext) : fromBrowser(entry, req, url, ms, options);
}

/** An entry we exported: HAR fields for what HAR holds, the extension for the rest. */
function fromExtension(entry: Obj, req: Obj, ext: TapwireEntryExtension): unknown {
  const x: Obj = {
    v: 1,
    id: ext.id,
    ts: ext.ts,
    durationMs: ext.durationMs,
    direction: ext.direction,
    protocol: ext.protocol,
  };
  for (const key of ['service', 'src', 'dst', 'tls', 'error', 'timings', 'tags'] as const) {
    if (ext[key] !== undefined) x[key] = ext[key];
  }
  const postData = isObj(req['postData']) ? req['postData'] : undefined;
  x['request'] = withMessageExt(
    {
      method: req['method'],
      url: req['url'],
      httpVersion: ext.request.httpVersion,
      headers: headersFromHar(req['headers']),
    },
    ext.request,
    str(postData?.['text']),
  );
  const res = isObj(entry['response']) ? entry['response'] : undefined;
  if (ext.response && res) {
    const content = isObj(res['content']) ? res['content'] : undefined;
    x['response'] = withMessageExt(
      {
        status: res['status'],
        statusText: str(res['statusText']) ?? '',
        httpVersion: ext.response.httpVersion,
        headers: headersFromHar(res['headers']),
      },
      ext.response,
      str(content?.['text']),
    );
  }
  if (ext.protocol === 'websocket' && Array.isArray(entry['_webSocketMessages'])) {
    x['messages'] = webSocketMessages(entry['_webSocketMessages'], Date.parse(ext.ts));
    if ((ext as TapwireWebSocketEntryExtension).messagesTruncated) x['messagesTruncated'] = true;
  }
  return x;
}

const WS_TYPES = new Map(
  Object.entries(WS_OPCODES).map(([type, opcode]) => [opcode, type as WebsocketMessage['type']]),
);

/**
 * Chrome's `_webSocketMessages` (ours carry a `_tapwire` extension that gives back the exact
 * message); messages with an unknown type or opcode are left out.
 */
function webSocketMessages(list: unknown[], startMs: number): WebsocketMessage[] {
  const out: WebsocketMessage[] = [];
  for (const item of list) {
    if (!isObj(item)) continue;
    const dir = item['type'] === 'send' ? 'c2s' : item['type'] === 'receive' ? 's2c' : undefined;
    const opcode = num(item['opcode']);
    const type = opcode === undefined ? undefined : WS_TYPES.get(opcode);
    if (!dir || !type || opcode === undefined) continue;
    const data = str(item['data']) ?? '';
    const ext = isObj(item['_tapwire']) ? (item['_tapwire'] as unknown as TapwireWebSocketMessageExtension) : undefined;
    if (ext) {
      const m: WebsocketMessage = { dir, tMs: ext.tMs, type, data: wsBodyFromChrome(opcode, data, ext) };
      if (ext.code !== undefined) m.code = ext.code;
      if (ext.reason !== undefined) m.reason = ext.reason;
      out.push(m);
      continue;
    }
    const time = num(item['time']);
    const tMs =
      time === undefined || Number.isNaN(startMs) ? 0 : Math.max(0, Math.round((time * 1000 - startMs) * 1000) / 1000);
    const bytes = opcode === 2 ? Buffer.from(data, 'base64') : Buffer.from(data, 'utf8');
    out.push({ dir, tMs, type, data: encodeBody(bytes) });
  }
  return out;
}

function withMessageExt(
  message: Obj,
  ext: { trailers?: HeaderList; body?: TapwireBodyExtension },
  harText: string | undefined,
): Obj {
  if (ext.body) {
    const body: Body = {
      encoding: ext.body.encoding,
      data: ext.body.data ?? harText ?? '',
      size: ext.body.size,
      truncated: ext.body.truncated,
    };
    if (ext.body.contentType !== undefined) body.contentType = ext.body.contentType;
    message['body'] = body;
  }
  if (ext.trailers) message['trailers'] = ext.trailers;
  return message;
}

/** An entry saved by a browser (or any HAR writer): read field by field. */
function fromBrowser(entry: Obj, req: Obj, url: URL, ms: number, options: HarImportOptions): unknown {
  // HTTP/2 pseudo-headers (:method, :path…) repeat the method and URL and are not header fields.
  const reqHeaders = headersFromHar(req['headers']).filter(([name]) => !name.startsWith(':'));
  const httpVersion = parseHttpVersion(req['httpVersion']);
  const timings = isObj(entry['timings']) ? entry['timings'] : {};
  const res = isObj(entry['response']) ? entry['response'] : undefined;
  const status = num(res?.['status']);
  const isWebsocket =
    url.protocol === 'ws:' || url.protocol === 'wss:' || entry['_resourceType'] === 'websocket' || status === 101;
  if (url.protocol === 'ws:' || url.protocol === 'wss:') url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';

  const x: Obj = {
    v: 1,
    id: newId(ms),
    ts: new Date(ms).toISOString(),
    durationMs: duration(entry, timings),
    direction: options.direction ?? 'outbound',
    service: options.service ?? url.hostname,
    protocol: isWebsocket ? 'websocket' : 'http',
    dst: `${url.hostname}:${url.port || defaultPort(url.protocol)}`,
  };
  // The URL as saved, unless a ws: scheme had to become the http: of its handshake.
  const request: Obj = {
    method: str(req['method']),
    url: isWebsocket ? url.href : String(req['url']),
    httpVersion,
    headers: reqHeaders,
  };
  const reqBody = postDataBody(req['postData'], reqHeaders);
  if (reqBody) request['body'] = reqBody;
  x['request'] = request;

  const tags: Record<string, string> = {};
  if (res && status !== undefined && status !== 0) {
    if (status < 100 || status > 999) throw new Skip(`response status ${status} is not an HTTP status`);
    x['response'] = browserResponse(res, status, httpVersion, tags);
  } else {
    // Chrome writes a blocked, cancelled or failed request as status 0 with `_error`.
    x['error'] = failure(str(res?.['_error']));
  }
  if (isWebsocket && Array.isArray(entry['_webSocketMessages'])) {
    x['messages'] = webSocketMessages(entry['_webSocketMessages'], ms);
  }
  const t = exchangeTimings(timings, x['response'] !== undefined);
  if (t) x['timings'] = t;
  if (Object.keys(tags).length > 0) x['tags'] = tags;
  return x;
}

function browserResponse(res: Obj, status: number, requestVersion: string, tags: Record<string, string>): HttpResponse {
  let headers = headersFromHar(res['headers']).filter(([name]) => !name.startsWith(':'));
  const response: HttpResponse = {
    status,
    statusText: str(res['statusText']) ?? '',
    httpVersion: parseHttpVersion(res['httpVersion'], requestVersion),
    headers,
  };
  const body = contentBody(res['content'], headerValue(headers, 'content-type'));
  if (body) {
    // Browsers save the body decoded but keep Content-Encoding: replaying both would make the
    // client decode plain bytes. The body wins; the tag says what was removed.
    const coding = headerValue(headers, 'content-encoding');
    if (coding && coding.trim().toLowerCase() !== 'identity' && !body.truncated) {
      headers = headers.filter(([name]) => !/^content-(encoding|length)$/i.test(name));
      response.headers = headers;
      tags['har.decodedContentEncoding'] = coding;
    }
    response.body = body;
  }
  return response;
}

function contentBody(content: unknown, contentType: string | undefined): Body | undefined {
  if (!isObj(content)) return undefined;
  const text = str(content['text']);
  const size = num(content['size']);
  const mime = str(content['mimeType']);
  const type = contentType ?? (mime && mime !== 'x-unknown' ? mime : undefined);
  if (text === undefined || text === '') {
    // Firefox leaves the text out of large or unsaved responses: keep the size, mark it cut.
    if (!size || size <= 0) return undefined;
    const cut: Body = { encoding: 'utf8', data: '', size, truncated: true };
    if (type) cut.contentType = type;
    return cut;
  }
  if (str(content['encoding'])?.toLowerCase() === 'base64') {
    const bytes = Buffer.from(text, 'base64');
    return encodeBody(bytes, bytes.length, type);
  }
  const body: Body = { encoding: 'utf8', data: text, size: Buffer.byteLength(text), truncated: false };
  if (type) body.contentType = type;
  return body;
}

function postDataBody(postData: unknown, headers: HeaderList): Body | undefined {
  if (!isObj(postData)) return undefined;
  const mime = str(postData['mimeType']) || undefined;
  let text = str(postData['text']);
  const params = postData['params'];
  if (text === undefined && Array.isArray(params) && params.length > 0 && (!mime || /urlencoded/i.test(mime))) {
    // Only the parsed form was saved: rebuild the urlencoded text from it.
    const form = new URLSearchParams();
    for (const p of params) if (isObj(p) && str(p['name'])) form.append(p['name'] as string, str(p['value']) ?? '');
    text = form.toString();
  }
  if (!text) return undefined;
  const body: Body = { encoding: 'utf8', data: text, size: Buffer.byteLength(text), truncated: false };
  const type = headerValue(headers, 'content-type') ?? mime;
  if (type) body.contentType = type;
  return body;
}

const phases = ['blocked', 'dns', 'connect', 'send', 'wait'] as const;

function duration(entry: Obj, timings: Obj): number {
  const time = num(entry['time']);
  if (time !== undefined && time >= 0) return time;
  let total = 0;
  for (const k of [...phases, 'receive']) total += Math.max(0, num(timings[k]) ?? 0);
  return total;
}

/** HAR phases to ours; `ssl` is part of `connect` in HAR 1.2, and -1 means "did not apply". */
function exchangeTimings(timings: Obj, hasResponse: boolean): { connectMs?: number; ttfbMs?: number } | undefined {
  const out: { connectMs?: number; ttfbMs?: number } = {};
  const connect = num(timings['connect']);
  if (connect !== undefined) out.connectMs = Math.max(0, connect);
  if (hasResponse && num(timings['wait']) !== undefined) {
    out.ttfbMs = phases.reduce((sum, k) => sum + Math.max(0, num(timings[k]) ?? 0), 0);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function failure(chromeError: string | undefined): ExchangeError {
  if (!chromeError) {
    return {
      kind: 'other',
      message: 'no response was recorded (status 0: the request was blocked, cancelled or failed)',
    };
  }
  const e = chromeError.toUpperCase();
  const table: Array<[RegExp, ExchangeError['kind'], ExchangeError['phase']?]> = [
    [/NAME_NOT_RESOLVED|DNS/, 'dns', 'connect'],
    [/CONNECTION_REFUSED/, 'refused', 'connect'],
    [/CERT|SSL|TLS/, 'tls', 'connect'],
    [/TIMED_OUT|TIMEOUT/, 'timeout'],
    [/CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE/, 'reset'],
    [/ABORTED|BLOCKED|CANCEL/, 'aborted'],
    [/PROTOCOL|INVALID_HTTP|INVALID_RESPONSE/, 'protocol'],
  ];
  for (const [re, kind, phase] of table) {
    if (re.test(e)) return phase ? { kind, message: chromeError, phase } : { kind, message: chromeError };
  }
  return { kind: 'other', message: chromeError };
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' || protocol === 'wss:' ? '443' : '80';
}
