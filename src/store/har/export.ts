/**
 * Exchanges to HAR 1.2. HAR describes HTTP only: TCP exchanges are skipped and counted. What HAR
 * has no field for (direction, service, TLS, transport errors, tags, trailers, the exact body
 * encoding) goes into `entry._tapwire`, so an import gives back the same exchanges.
 */
import { isIP } from 'node:net';
import { decodeBody, encodeBody, headerValue } from '../../model/body.ts';
import type {
  Body,
  Exchange,
  HttpExchange,
  HttpResponse,
  WebsocketExchange,
  WebsocketMessage,
  GrpcExchange,
} from '../../model/exchange.ts';
import { decodeContent, harHttpVersion, headersToHar, queryString, requestCookies, responseCookies } from './fields.ts';
import type {
  Har,
  HarContent,
  HarEntry,
  HarLog,
  HarPostData,
  HarResponse,
  HarTimings,
  TapwireBodyExtension,
  TapwireEntryExtension,
  TapwireMessageExtension,
} from './types.ts';

export interface HarExportOptions {
  /** The tapwire version written as `log.creator.version`. */
  creatorVersion: string;
  comment?: string;
}

export interface HarExportResult {
  har: Har;
  /** TCP exchanges left out: HAR cannot express them. */
  skippedTcp: number;
}

type HttpLike = HttpExchange | WebsocketExchange | GrpcExchange;

export function exchangesToHar(exchanges: Iterable<Exchange>, options: HarExportOptions): HarExportResult {
  const entries: HarEntry[] = [];
  let skippedTcp = 0;
  for (const x of exchanges) {
    if (x.protocol === 'tcp') skippedTcp++;
    else entries.push(exchangeToHarEntry(x));
  }
  return { har: { log: { ...harLogHead(options), entries } }, skippedTcp };
}

export function harLogHead(options: HarExportOptions): Omit<HarLog, 'entries'> {
  const head: Omit<HarLog, 'entries'> = {
    version: '1.2',
    creator: { name: 'tapwire', version: options.creatorVersion },
    pages: [],
  };
  if (options.comment !== undefined) head.comment = options.comment;
  return head;
}

/**
 * The HAR document as text pieces, entry by entry, so that a large snapshot is exported without
 * holding every entry in memory. `stats` is filled in as the pieces are produced.
 */
export async function* harJsonChunks(
  exchanges: AsyncIterable<Exchange> | Iterable<Exchange>,
  options: HarExportOptions,
  stats: { written: number; skippedTcp: number } = { written: 0, skippedTcp: 0 },
): AsyncGenerator<string> {
  const head = JSON.stringify({ log: harLogHead(options) }, null, 2);
  // Reopen the log object: drop its closing braces and add `"entries": [`.
  yield head.replace(/\n\s*\}\n\}$/, ',\n    "entries": [');
  for await (const x of exchanges) {
    if (x.protocol === 'tcp') {
      stats.skippedTcp++;
      continue;
    }
    const entry = JSON.stringify(exchangeToHarEntry(x), null, 2).replace(/\n/g, '\n      ');
    yield `${stats.written === 0 ? '\n' : ',\n'}      ${entry}`;
    stats.written++;
  }
  yield `${stats.written === 0 ? '' : '\n    '}]\n  }\n}\n`;
}

export function exchangeToHarEntry(x: HttpLike): HarEntry {
  const req = x.request;
  const reqExt: TapwireMessageExtension = { httpVersion: req.httpVersion };
  if (req.trailers) reqExt.trailers = req.trailers;

  const request: HarEntry['request'] = {
    method: req.method,
    url: req.url,
    httpVersion: harHttpVersion(req.httpVersion),
    cookies: requestCookies(req.headers),
    headers: headersToHar(req.headers),
    queryString: queryString(req.url),
    headersSize: -1,
    bodySize: req.body ? req.body.size : 0,
  };
  if (req.body) {
    const mimeType = req.body.contentType ?? headerValue(req.headers, 'content-type') ?? '';
    const text = req.body.encoding === 'utf8' ? req.body.data : decodeBody(req.body).toString('utf8');
    const postData: HarPostData = { mimeType, text };
    if (req.body.encoding === 'utf8' && /^application\/x-www-form-urlencoded\b/i.test(mimeType)) {
      postData.params = [...new URLSearchParams(text)].map(([name, value]) => ({ name, value }));
    }
    request.postData = postData;
    // HAR's postData has no encoding: a binary body travels in the extension, the text is a preview.
    reqExt.body = bodyExtension(req.body, req.body.encoding === 'base64');
  }

  const ext: TapwireEntryExtension = {
    v: 1,
    id: x.id,
    ts: x.ts,
    durationMs: x.durationMs,
    direction: x.direction,
    protocol: x.protocol,
    request: reqExt,
  };
  if (x.service !== undefined) ext.service = x.service;
  if (x.src !== undefined) ext.src = x.src;
  if (x.dst !== undefined) ext.dst = x.dst;
  if (x.tls) ext.tls = x.tls;
  if (x.error) ext.error = x.error;
  if (x.timings) ext.timings = x.timings;
  if (x.tags) ext.tags = x.tags;

  let response: HarResponse;
  if (x.response) {
    const built = harResponse(x.response);
    response = built.response;
    ext.response = built.ext;
  } else {
    // HAR requires a response; status 0 with `_error` is how browsers write a failed request.
    response = {
      status: 0,
      statusText: '',
      httpVersion: '',
      cookies: [],
      headers: [],
      content: { size: 0, mimeType: 'x-unknown' },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
      _error: x.error ? `${x.error.kind}: ${x.error.message}` : 'no response',
    };
  }

  const entry: HarEntry = {
    startedDateTime: x.ts,
    time: x.durationMs,
    request,
    response,
    cache: {},
    timings: harTimings(x),
  };
  const host = serverIp(x.dst);
  if (host) entry.serverIPAddress = host;
  entry._tapwire = ext;
  if (x.protocol === 'websocket' && x.messages) {
    (entry as HarEntryWithWebSocket)._webSocketMessages = webSocketMessages(x);
    if (x.messagesTruncated) (ext as TapwireWebSocketEntryExtension).messagesTruncated = true;
  }
  return entry;
}

/** Chrome DevTools' record of one WebSocket message (`entry._webSocketMessages`). */
export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  /** Seconds since the epoch. */
  time: number;
  opcode: number;
  /** Text as is; binary as base64. */
  data: string;
  /** What Chrome's fields cannot hold exactly, for an import to give back the same message. */
  _tapwire?: TapwireWebSocketMessageExtension;
}

export interface TapwireWebSocketMessageExtension {
  tMs: number;
  encoding: Body['encoding'];
  size: number;
  truncated: boolean;
  /** Only when `data` in Chrome's form does not give the body back exactly. */
  data?: string;
  code?: number;
  reason?: string;
}

export type HarEntryWithWebSocket = HarEntry & { _webSocketMessages?: HarWebSocketMessage[] };
export type TapwireWebSocketEntryExtension = TapwireEntryExtension & { messagesTruncated?: boolean };

export const WS_OPCODES: Record<WebsocketMessage['type'], number> = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

/** The message's data as Chrome writes it: base64 for binary frames, text for the others. */
export function chromeWsData(type: WebsocketMessage['type'], body: Body): string {
  if (type === 'binary') return body.encoding === 'base64' ? body.data : Buffer.from(body.data).toString('base64');
  return body.encoding === 'utf8' ? body.data : decodeBody(body).toString('utf8');
}

/** The body a tapwire import reads back from Chrome's data and our extension. */
export function wsBodyFromChrome(
  opcode: number,
  data: string,
  ext: Omit<TapwireWebSocketMessageExtension, 'tMs'>,
): Body {
  if (ext.data !== undefined)
    return { encoding: ext.encoding, data: ext.data, size: ext.size, truncated: ext.truncated };
  const bytes = opcode === 2 ? Buffer.from(data, 'base64') : Buffer.from(data, 'utf8');
  const text = ext.encoding === 'utf8' ? bytes.toString('utf8') : bytes.toString('base64');
  return { encoding: ext.encoding, data: text, size: ext.size, truncated: ext.truncated };
}

function webSocketMessages(x: WebsocketExchange): HarWebSocketMessage[] {
  const start = Date.parse(x.ts);
  return (x.messages ?? []).map((m) => {
    const opcode = WS_OPCODES[m.type];
    const data = chromeWsData(m.type, m.data);
    const ext: TapwireWebSocketMessageExtension = {
      tMs: m.tMs,
      encoding: m.data.encoding,
      size: m.data.size,
      truncated: m.data.truncated,
    };
    if (wsBodyFromChrome(opcode, data, ext).data !== m.data.data) ext.data = m.data.data;
    if (m.code !== undefined) ext.code = m.code;
    if (m.reason !== undefined) ext.reason = m.reason;
    return { type: m.dir === 'c2s' ? 'send' : 'receive', time: (start + m.tMs) / 1000, opcode, data, _tapwire: ext };
  });
}

function harResponse(res: HttpResponse): { response: HarResponse; ext: TapwireMessageExtension } {
  const ext: TapwireMessageExtension = { httpVersion: res.httpVersion };
  if (res.trailers) ext.trailers = res.trailers;
  const mimeType = res.body?.contentType ?? headerValue(res.headers, 'content-type') ?? 'x-unknown';
  const content: HarContent = { size: 0, mimeType };
  if (res.body) {
    const body = res.body;
    const coding = headerValue(res.headers, 'content-encoding');
    // HAR viewers expect the text decoded; the bytes as captured stay in the extension.
    const decoded = coding && !body.truncated ? decodeContent(coding, decodeBody(body)) : undefined;
    if (decoded) {
      const shown = encodeBody(decoded);
      content.size = decoded.length;
      content.compression = decoded.length - body.size;
      content.text = shown.data;
      if (shown.encoding === 'base64') content.encoding = 'base64';
      ext.body = bodyExtension(body, true);
    } else {
      content.size = body.size;
      content.text = body.data;
      if (body.encoding === 'base64') content.encoding = 'base64';
      if (body.truncated)
        content.comment = `truncated by tapwire: the text holds the start of a ${body.size}-byte body`;
      ext.body = bodyExtension(body, false);
    }
  }
  const response: HarResponse = {
    status: res.status,
    statusText: res.statusText,
    httpVersion: harHttpVersion(res.httpVersion),
    cookies: responseCookies(res.headers),
    headers: headersToHar(res.headers),
    content,
    redirectURL: headerValue(res.headers, 'location') ?? '',
    headersSize: -1,
    bodySize: res.body ? res.body.size : 0,
  };
  return { response, ext };
}

function bodyExtension(body: Body, withData: boolean): TapwireBodyExtension {
  const ext: TapwireBodyExtension = { encoding: body.encoding, size: body.size, truncated: body.truncated };
  if (body.contentType !== undefined) ext.contentType = body.contentType;
  if (withData) ext.data = body.data;
  return ext;
}

/**
 * HAR splits the time into phases; we know the connect time and the time to first byte.
 * `connect` + `wait` + `receive` add up to `time`; phases we cannot tell apart are -1.
 */
function harTimings(x: HttpLike): HarTimings {
  const connectMs = x.timings?.connectMs;
  const ttfbMs = x.timings?.ttfbMs;
  const connect = connectMs !== undefined && connectMs > 0 ? connectMs : -1;
  const wait =
    ttfbMs !== undefined
      ? Math.max(0, ttfbMs - Math.max(connect, 0))
      : Math.max(0, x.durationMs - Math.max(connect, 0));
  const receive = ttfbMs !== undefined ? Math.max(0, x.durationMs - ttfbMs) : 0;
  return { blocked: -1, dns: -1, connect, ssl: -1, send: 0, wait, receive };
}

function serverIp(dst: string | undefined): string | undefined {
  if (!dst) return undefined;
  const colon = dst.lastIndexOf(':');
  const host = dst.startsWith('[') ? dst.slice(1, dst.indexOf(']')) : colon === -1 ? dst : dst.slice(0, colon);
  return isIP(host) ? host : undefined;
}
