/**
 * The mock's HTTP/2 side: one decrypted (or h2c prior-knowledge) connection becomes an HTTP/2
 * server session; each stream becomes a MockRequest, the index answers it, and the recorded
 * response goes back (status, headers fit for HTTP/2, body, trailers). gRPC streams go to
 * serve-grpc.ts. A miss is a 404 with `x-tapwire-mock: miss` and a JSON explanation.
 *
 * Also home of the context every serving handler (h2, gRPC, WebSocket, TCP) gets from the
 * front door, so that one object carries the target, the index and the hooks.
 */
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { decodeBody } from '../model/body.ts';
import type { HeaderList, HttpExchange, TcpExchange } from '../model/exchange.ts';
import { isGrpcContentType } from '../protocols/grpc/index.ts';
import type { Fault } from './faults.ts';
import type { LatencyMode } from './latency.ts';
import { serveGrpcStream } from './serve-grpc.ts';
import type { MatchResult, MockRequest } from './types.ts';

/** What the handlers need of the index (MockIndex satisfies it). */
export interface MockMatcher {
  match(req: MockRequest): MatchResult;
  /** Recorded raw TCP conversations with `host:port`, in recorded order. */
  tcpFor(dst: string): TcpExchange[];
  /**
   * True when the recorded calls of this gRPC method are conversations (the server answered
   * before the client's last message: bidi), so the call is matched on its first request
   * message; false when it is matched on all of them. Optional: without it the handler
   * matches once the client ends, or on the first message when the client then goes quiet.
   */
  grpcConversational?(service: string, method: string): boolean | undefined;
}

/** A TCP connection got a recorded conversation (hit) or none (miss). */
export type TcpMatch = { kind: 'hit'; exchangeId: string; occurrence: number } | { kind: 'miss'; explanation: string };

/** Where match results go (the responder's /matches and exit summary). */
export interface MockStats {
  record(req: MockRequest, result: MatchResult): void;
  recordTcp?(dst: string, result: TcpMatch): void;
}

export interface ServeContext {
  /** `https` when the front door terminated TLS. */
  scheme: 'http' | 'https';
  /** The target this connection was for (CONNECT/SOCKS target, --map host); '' to use :authority/Host. */
  host: string;
  /** 0 to use the port of :authority/Host (or the scheme's default). */
  port: number;
  /** The current index: read per request, since hot reload swaps it. */
  index(): MockMatcher;
  /** Latency mode, read per request (absent: none). */
  latency?: (() => LatencyMode) | undefined;
  /** The fault for this request, if one fires. */
  fault?: ((req: MockRequest) => Fault | undefined) | undefined;
  stats?: MockStats | undefined;
}

/** Bodies larger than this are refused (413): matching needs the whole body in memory. */
export const MAX_REQUEST_BODY = 32 * 1024 * 1024;

/**
 * Serves HTTP/2 on a connection whose next bytes are the client preface (bytes the front door
 * already read must be unshifted back first). Returns the session so the caller can close it.
 */
export function serveHttp2(socket: Duplex, ctx: ServeContext): http2.ServerHttp2Session {
  // A server TLSSocket made by hand (new tls.TLSSocket(raw, {isServer})) keeps secureConnecting
  // true after its 'secure' event (only tls.Server clears it), and http2 would then wait for a
  // 'secureConnect' that never comes. The handshake is done when the front door hands over.
  if (socket instanceof tls.TLSSocket && (socket as TlsHandshakeState).secureConnecting) {
    (socket as TlsHandshakeState).secureConnecting = false;
  }
  // performServerHandshake takes any Duplex and skips the ALPN check createServer() makes, so a
  // TLS socket that negotiated no ALPN but sent the preface is served too.
  const session = http2.performServerHandshake(socket);
  session.on('error', () => undefined);
  socket.on('error', () => session.destroy());
  session.on('stream', ((
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    _f: number,
    raw: string[],
  ) => {
    stream.on('error', () => undefined);
    const base = requestBase(headers, raw ?? [], ctx);
    if (isGrpcContentType(str(headers['content-type']))) void serveGrpcStream(stream, base, ctx);
    else void serveHttpStream(stream, base, ctx);
  }) as (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void);
  return session;
}

/** Node's own flag, not in the typings. */
type TlsHandshakeState = tls.TLSSocket & { secureConnecting?: boolean };

/** A MockRequest without protocol and body, from one stream's request head. */
export type RequestBase = Omit<MockRequest, 'protocol' | 'body'>;

export function requestBase(
  headers: http2.IncomingHttpHeaders,
  raw: readonly string[],
  ctx: ServeContext,
): RequestBase {
  const list: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!name.startsWith(':')) list.push([name, raw[i + 1] as string]);
  }
  const target = str(headers[':path']) ?? '/';
  const q = target.indexOf('?');
  const authority = str(headers[':authority']) ?? str(headers['host']) ?? '';
  const { host, port } = targetOf(ctx, authority);
  return {
    scheme: ctx.scheme,
    host,
    port,
    method: str(headers[':method']) ?? 'GET',
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers: list,
    httpVersion: '2',
  };
}

/** Host and port of the context, or else of the authority (host:port, [v6]:port). */
export function targetOf(ctx: ServeContext, authority: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(authority.trim());
  const fromAuthority = { host: (m?.[1] ?? '').toLowerCase(), port: m?.[2] ? Number(m[2]) : 0 };
  const host = (ctx.host || fromAuthority.host).replace(/^\[|\]$/g, '').toLowerCase();
  const port = ctx.port || fromAuthority.port || (ctx.scheme === 'https' ? 443 : 80);
  return { host, port };
}

async function serveHttpStream(stream: http2.ServerHttp2Stream, base: RequestBase, ctx: ServeContext): Promise<void> {
  const started = performance.now();
  const body = await readBody(stream, MAX_REQUEST_BODY);
  if (body === undefined) {
    return own(stream, 413, { error: `request body over ${MAX_REQUEST_BODY} bytes: the mock cannot match it` });
  }
  const req: MockRequest = { ...base, protocol: 'http', body };
  const fault = ctx.fault?.(req);
  if (fault && !(await faultLetsThrough(stream, fault))) return;
  const result = ctx.index().match(req);
  ctx.stats?.record(req, result);
  if (result.kind === 'miss') return own(stream, 404, missBody(result), [['x-tapwire-mock', 'miss']]);
  const x = result.exchange;
  if (x.protocol !== 'http') {
    return own(stream, 502, { error: `recorded exchange ${x.id} is ${x.protocol}, not HTTP` });
  }
  await sleepUntil(started, recordedLatency(ctx, x.durationMs || (x.timings?.ttfbMs ?? 0)));
  if (stream.destroyed) return;
  if (!x.response) return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  replyRecorded(stream, x, req.method, fault ? [['x-tapwire-fault', fault.name]] : []);
}

function replyRecorded(stream: http2.ServerHttp2Stream, x: HttpExchange, method: string, extra: HeaderList): void {
  const res = x.response as NonNullable<HttpExchange['response']>;
  const noBody = method === 'HEAD' || res.status === 204 || res.status === 304 || res.status < 200;
  const body = noBody ? Buffer.alloc(0) : decodeBody(res.body);
  const trailers = toH2Headers(res.trailers ?? []);
  const headers = toH2Headers([...res.headers, ...extra], noBody ? undefined : body.length);
  if (res.body?.truncated)
    headers['x-tapwire-warning'] = `body truncated at capture: ${body.length} of ${res.body.size}`;
  const withTrailers = Object.keys(trailers).length > 0;
  try {
    stream.respond(
      { ...headers, ':status': res.status < 200 ? 502 : res.status },
      { endStream: body.length === 0 && !withTrailers, waitForTrailers: withTrailers },
    );
  } catch (err) {
    return own(stream, 502, { error: `recorded response of ${x.id} cannot be sent over HTTP/2: ${String(err)}` });
  }
  if (withTrailers) stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  if (body.length > 0 || withTrailers) stream.end(body);
}

/** Applies a fault; true when the recorded answer should still follow (a delay only). */
export async function faultLetsThrough(stream: http2.ServerHttp2Stream, fault: Fault): Promise<boolean> {
  if (fault.delayMs > 0) await sleep(fault.delayMs);
  if (stream.destroyed) return false;
  if (fault.reset) {
    // A stream reset is what an HTTP/2 client sees of a dead connection for this request.
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return false;
  }
  if (fault.stall) return false; // no answer; the stream ends when the client gives up
  if (fault.status !== undefined) {
    own(stream, fault.status, { fault: fault.name }, [['x-tapwire-fault', fault.name]]);
    return false;
  }
  return true;
}

/** The JSON a miss answers with (HTTP/2 and WebSocket alike). */
export function missBody(result: Extract<MatchResult, { kind: 'miss' }>): object {
  return {
    error: 'tapwire mock: no recorded exchange matches this request',
    explanation: result.explanation,
    signature: result.signature,
    candidates: result.candidates,
  };
}

/** A response of tapwire's own, with a JSON body. */
function own(stream: http2.ServerHttp2Stream, status: number, json: object, extra: HeaderList = []): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = Buffer.from(JSON.stringify(json));
  stream.respond({
    ...toH2Headers(extra),
    ':status': status,
    'content-type': 'application/json',
    'content-length': body.length,
  });
  stream.end(body);
}

/** The whole request body, or undefined past `cap` (the rest is drained, not kept). */
export function readBody(stream: http2.ServerHttp2Stream, cap: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    stream.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= cap) parts.push(d);
    });
    stream.on('end', () => resolve(size <= cap ? Buffer.concat(parts, size) : undefined));
    stream.on('close', () => resolve(undefined));
  });
}

/** Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2), and Host (:authority says it). */
const H2_FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'host',
  'http2-settings',
]);
/** Headers Node's http2 refuses to send twice (ERR_HTTP2_HEADER_SINGLE_VALUE): the first wins. */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * A recorded header list as Node http2 headers: lower-case names (HTTP/2 requires it), repeats
 * as arrays in order, pseudo and connection-specific headers dropped. With `bodyLength`, a
 * content-length is the length of the body we hold (the recorded one may have been chunked or cut).
 */
export function toH2Headers(list: HeaderList, bodyLength?: number): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [rawName, rawValue] of list) {
    const name = rawName.toLowerCase();
    if (name.startsWith(':') || H2_FORBIDDEN.has(name) || !TOKEN.test(name) || name === 'content-length') continue;
    // CR, LF and NUL would make Node refuse the whole response: a recorded value is data.
    const value = rawValue.replace(/[\r\n\0]/g, ' ');
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (!SINGLE_VALUE.has(name)) out[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  if (bodyLength !== undefined) out['content-length'] = String(bodyLength);
  return out;
}

/** The wait a recorded duration becomes under the latency mode. */
export function recordedLatency(ctx: ServeContext, recordedMs: number): number {
  const mode = ctx.latency?.();
  if (!mode || mode.kind === 'none') return 0;
  return Math.max(0, recordedMs * mode.factor);
}

/** Resolves `ms` after `from` (a performance.now() time); at once when that has passed. */
export function sleepUntil(from: number, ms: number): Promise<void> {
  return sleep(from + ms - performance.now());
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Wakes waiters when something they wait on may have changed (a message came, the peer left). */
export class Changes {
  private waiters: Array<() => void> = [];

  notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  async until(ready: () => boolean): Promise<void> {
    while (!ready()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

function str(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
