/**
 * The in-flight state of one proxied HTTP/1 request/response, and how it becomes an Exchange.
 * The proxy fills an InFlight as bytes pass and packs it when it ends (copies of bytes, no
 * parsing); buildHttpExchange() turns the packed form into the record, in the capture worker.
 */
import { BodyCollector, encodeBody, headerValue } from '../model/body.ts';
import type {
  Direction,
  Exchange,
  ExchangeError,
  HeaderList,
  HttpExchange,
  TlsInfo,
  WebsocketExchange,
  WebsocketMessage,
} from '../model/exchange.ts';
import { newId } from '../model/ids.ts';
import { parseRawHead, strayLeadLength, type Http1Head } from '../protocols/http1/head.ts';
import { sliceOf, type Packer, type RawHttp, type RawWs, type Recordable, type WsAttachment } from './raw-record.ts';
import { formatTarget, type Target } from './upstream.ts';

export interface ExchangeContext {
  direction: Direction;
  service: string;
  bodyCap: number;
  tags?: Record<string, string> | undefined;
  /** `https` inside an intercepted or terminated TLS connection (default `http`). */
  scheme?: 'http' | 'https' | undefined;
  /** The TLS connection the exchanges travel in, written on each record. */
  tls?: TlsInfo | undefined;
}

export class InFlight implements Recordable {
  readonly startWall = Date.now();
  readonly startMono = performance.now();
  endMono = 0;
  readonly reqBody: BodyCollector;
  reqTrailers: HeaderList | undefined;
  resHead: Http1Head | undefined;
  resBody: BodyCollector | undefined;
  resTrailers: HeaderList | undefined;
  ttfbMs: number | undefined;
  connectMs: number | undefined;
  /** Bytes of the response have been written to the client: too late to answer with an error. */
  responseStarted = false;
  error: ExchangeError | undefined;
  /** The messages of the WebSocket session that followed a 101 (set by upgrade-tunnel.ts). */
  ws: WsAttachment | undefined;

  constructor(
    readonly head: Http1Head,
    readonly url: string,
    readonly target: Target,
    readonly src: string,
    private readonly ctx: ExchangeContext,
    /** formatTarget(target), when the caller has it already. */
    readonly dst: string = formatTarget(target),
  ) {
    this.reqBody = new BodyCollector(ctx.bodyCap);
  }

  responseHead(head: Http1Head): void {
    this.resHead = head;
    this.ttfbMs = performance.now() - this.startMono;
    this.resBody = new BodyCollector(this.ctx.bodyCap);
  }

  finish(error?: ExchangeError): void {
    this.endMono = performance.now();
    if (error) this.error = error;
  }

  get heldBytes(): number {
    return (
      this.head.raw.length +
      (this.resHead?.raw.length ?? 0) +
      this.reqBody.keptBytes +
      (this.resBody?.keptBytes ?? 0) +
      (this.ws?.heldBytes ?? 0)
    );
  }

  /** The bytes and numbers of this exchange, for the capture worker to build the record from. */
  pack(packer: Packer): RawHttp {
    const raw: RawHttp = {
      t: 'http',
      ctx: this.ctx,
      startWall: this.startWall,
      durationMs: (this.endMono || performance.now()) - this.startMono,
      src: this.src,
      dst: this.dst,
      url: this.url,
      reqHead: packer.add(this.head.raw),
      reqSize: this.reqBody.size,
      resSize: this.resBody?.size ?? 0,
    };
    if (this.reqBody.size > 0) raw.reqBody = packer.add(this.reqBody.bytes());
    if (this.reqTrailers) raw.reqTrailers = this.reqTrailers;
    if (this.resHead) raw.resHead = packer.add(this.resHead.raw);
    if (this.resBody && this.resBody.size > 0) raw.resBody = packer.add(this.resBody.bytes());
    if (this.resTrailers) raw.resTrailers = this.resTrailers;
    // -1 marks a connect still under way (it failed): no time to report.
    if (this.connectMs !== undefined && this.connectMs >= 0) raw.connectMs = this.connectMs;
    if (this.ttfbMs !== undefined) raw.ttfbMs = this.ttfbMs;
    if (this.error) raw.error = this.error;
    if (this.ws) raw.ws = this.ws.pack(packer);
    return raw;
  }
}

/**
 * Builds the Exchange from a packed HTTP exchange (in the capture worker): the heads are parsed
 * again from their bytes, the bodies encoded. The proxy already accepted both heads, so they parse.
 */
export function buildHttpExchange(raw: RawHttp, bytes: Buffer): Exchange {
  const req = parseRawHead('request', sliceOf(bytes, raw.reqHead) as Buffer);
  const resBytes = sliceOf(bytes, raw.resHead);
  const res = resBytes ? parseRawHead('response', resBytes) : undefined;
  const isUpgrade = res?.status === 101 && req.upgrade?.toLowerCase() === 'websocket';
  const x: HttpExchange = {
    v: 1,
    id: newId(raw.startWall),
    ts: new Date(raw.startWall).toISOString(),
    durationMs: roundMs(raw.durationMs),
    direction: raw.ctx.direction,
    service: raw.ctx.service,
    protocol: 'http',
    src: raw.src,
    dst: raw.dst,
    request: { method: req.method, url: raw.url, httpVersion: req.version, headers: req.headers },
  };
  const reqBody = sliceOf(bytes, raw.reqBody);
  if (reqBody) x.request.body = encodeBody(reqBody, raw.reqSize, headerValue(req.headers, 'content-type'));
  if (raw.reqTrailers) x.request.trailers = raw.reqTrailers;
  if (res) {
    x.response = { status: res.status, statusText: res.statusText, httpVersion: res.version, headers: res.headers };
    const resBody = sliceOf(bytes, raw.resBody);
    if (resBody) x.response.body = encodeBody(resBody, raw.resSize, headerValue(res.headers, 'content-type'));
    if (raw.resTrailers) x.response.trailers = raw.resTrailers;
  }
  if (raw.ctx.tls) x.tls = raw.ctx.tls;
  if (raw.error) x.error = raw.error;
  const timings: NonNullable<Exchange['timings']> = {};
  if (raw.connectMs !== undefined) timings.connectMs = roundMs(raw.connectMs);
  if (raw.ttfbMs !== undefined) timings.ttfbMs = roundMs(raw.ttfbMs);
  if (timings.connectMs !== undefined || timings.ttfbMs !== undefined) x.timings = timings;
  if (raw.ctx.tags) x.tags = raw.ctx.tags;
  if (raw.ws) return { ...x, protocol: 'websocket', ...wsMessages(raw.ws, bytes) };
  return isUpgrade ? { ...x, protocol: 'websocket' } : x;
}

function wsMessages(raw: RawWs, bytes: Buffer): Pick<WebsocketExchange, 'messages' | 'messagesTruncated'> {
  const messages = raw.messages.map((m) => {
    const out: WebsocketMessage = {
      dir: m.dir,
      tMs: roundMs(m.tMs),
      type: m.type,
      data: encodeBody(sliceOf(bytes, m.data) as Buffer, m.size),
    };
    if (m.code !== undefined) out.code = m.code;
    if (m.reason !== undefined) out.reason = m.reason;
    return out;
  });
  return raw.truncated ? { messages, messagesTruncated: true } : { messages };
}

/** Durations are kept to the microsecond. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The URL a request was for: absolute-form as is, otherwise from Host (or the upstream). */
export function requestUrl(head: Http1Head, target: Target, scheme: string): string {
  return new RequestUrls(scheme).url(head, formatTarget(target));
}

/**
 * requestUrl() for the requests of one connection: the `scheme://host` prefix is made once
 * for as long as the Host stays the same (it nearly always does).
 */
export class RequestUrls {
  private host: string | undefined;
  private prefix = '';

  constructor(private readonly scheme: string) {}

  /** `dst`: formatTarget() of the upstream, for requests without a Host. */
  url(head: Http1Head, dst: string): string {
    const target = head.target;
    // Origin-form (the usual case) is never an absolute URL: skip the RegExp.
    if (target.charCodeAt(0) !== 0x2f && /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) return target;
    const host = head.host || dst;
    if (host !== this.host) {
      this.host = host;
      this.prefix = `${this.scheme}://${host}`;
    }
    const path = target.charCodeAt(0) === 0x2f ? target : `/${target === '*' ? '' : target}`;
    return this.prefix + path;
  }
}

const PROXY_ONLY = new Set(['proxy-connection', 'proxy-authorization']);

/**
 * For a forward proxy: the head to send to the origin, with the request line in origin-form
 * and the headers meant for the proxy removed (RFC 9112 §3.2.2); the rest byte for byte.
 */
export function originFormHead(head: Http1Head, pathAndQuery: string): Buffer {
  // Stray CRLFs before the request line are dropped here: the request line is rewritten anyway.
  const text = head.raw.toString('latin1', strayLeadLength(head.raw));
  const lines = text.split('\r\n');
  const out = [`${head.method} ${pathAndQuery} HTTP/${head.version}`];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon > 0 && PROXY_ONLY.has(line.slice(0, colon).toLowerCase())) continue;
    out.push(line);
  }
  return Buffer.from(out.join('\r\n'), 'latin1');
}
