/**
 * The in-flight state of one proxied HTTP/1 request/response, and how it becomes an Exchange.
 * The proxy fills an InFlight as bytes pass; toExchange() runs later, in the recorder's drain.
 */
import { BodyCollector, headerValue } from '../model/body.ts';
import type { Direction, Exchange, ExchangeError, HeaderList, HttpExchange } from '../model/exchange.ts';
import { newId } from '../model/ids.ts';
import type { Http1Head } from '../protocols/http1/head.ts';
import { formatTarget, type Target } from './upstream.ts';

export interface ExchangeContext {
  direction: Direction;
  service: string;
  bodyCap: number;
  tags?: Record<string, string> | undefined;
}

export class InFlight {
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

  constructor(
    readonly head: Http1Head,
    readonly url: string,
    readonly target: Target,
    readonly src: string,
    private readonly ctx: ExchangeContext,
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

  toExchange(): Exchange {
    const req = this.head;
    const res = this.resHead;
    const isUpgrade = res?.status === 101 && req.upgrade?.toLowerCase() === 'websocket';
    const x: HttpExchange = {
      v: 1,
      id: newId(this.startWall),
      ts: new Date(this.startWall).toISOString(),
      durationMs: round((this.endMono || performance.now()) - this.startMono),
      direction: this.ctx.direction,
      service: this.ctx.service,
      protocol: 'http',
      src: this.src,
      dst: formatTarget(this.target),
      request: {
        method: req.method,
        url: this.url,
        httpVersion: req.version,
        headers: req.headers,
      },
    };
    const reqBody = this.reqBody.toBody(headerValue(req.headers, 'content-type'));
    if (reqBody) x.request.body = reqBody;
    if (this.reqTrailers) x.request.trailers = this.reqTrailers;
    if (res) {
      x.response = { status: res.status, statusText: res.statusText, httpVersion: res.version, headers: res.headers };
      const resBody = this.resBody?.toBody(headerValue(res.headers, 'content-type'));
      if (resBody) x.response.body = resBody;
      if (this.resTrailers) x.response.trailers = this.resTrailers;
    }
    if (this.error) x.error = this.error;
    const timings: NonNullable<Exchange['timings']> = {};
    // -1 marks a connect still under way (it failed): no time to report.
    if (this.connectMs !== undefined && this.connectMs >= 0) timings.connectMs = round(this.connectMs);
    if (this.ttfbMs !== undefined) timings.ttfbMs = round(this.ttfbMs);
    if (Object.keys(timings).length > 0) x.timings = timings;
    if (this.ctx.tags) x.tags = this.ctx.tags;
    return isUpgrade ? { ...x, protocol: 'websocket' } : x;
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The URL a request was for: absolute-form as is, otherwise from Host (or the upstream). */
export function requestUrl(head: Http1Head, target: Target, scheme: string): string {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(head.target)) return head.target;
  const host = headerValue(head.headers, 'host') || formatTarget(target);
  const path = head.target.startsWith('/') ? head.target : `/${head.target === '*' ? '' : head.target}`;
  return `${scheme}://${host}${path}`;
}

const PROXY_ONLY = new Set(['proxy-connection', 'proxy-authorization']);

/**
 * For a forward proxy: the head to send to the origin, with the request line in origin-form
 * and the headers meant for the proxy removed (RFC 9112 §3.2.2); the rest byte for byte.
 */
export function originFormHead(head: Http1Head, pathAndQuery: string): Buffer {
  const text = head.raw.toString('latin1');
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
