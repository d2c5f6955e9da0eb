/**
 * An HTTP/2 connection between a client and an upstream, tapped passively: the bytes of both
 * directions are piped untouched (stream.pipe, so a slow reader pauses the writer, and flow
 * control, SETTINGS and PING stay between the endpoints), while copies go through an
 * Http2Observer. Each stream becomes its own Exchange (httpVersion '2', `streamId`, one `conn`
 * for the connection), recorded when it ends both ways, is reset, or the connection goes.
 *
 * Capture fails open: when the observer cannot follow the connection (bad framing, a bound) the
 * open streams are recorded with a `protocol` error and the bytes keep flowing untouched; the
 * endpoints judge the bytes themselves, and close the connection when it is theirs to close.
 */
import type { Duplex } from 'node:stream';
import { BodyCollector, headerValue } from '../model/body.ts';
import type { Exchange, ExchangeError, GrpcExchange, HeaderList, HttpExchange, TlsInfo } from '../model/exchange.ts';
import { newId } from '../model/ids.ts';
import { buildGrpcCall, isGrpcContentType, type GrpcChunk } from '../protocols/grpc/call.ts';
import type { ProtoRegistry } from '../protocols/grpc/proto-registry.ts';
import { Http2Observer, pseudoValue, type Dir, type Http2Head } from '../protocols/http2/observer.ts';
import { roundMs, type ExchangeContext } from './http1-exchange.ts';
import type { SessionDeps } from './http1-session.ts';
import { classifyError, formatTarget, type Target } from './upstream.ts';

/** A socket as the tap uses it (net.Socket and tls.TLSSocket both fit). */
export type TapSocket = Duplex & { remoteAddress?: string | undefined; remotePort?: number | undefined };

export interface Http2TapOptions {
  target: Target;
  exchange: ExchangeContext;
  /** Default: the context's scheme, else `http`. */
  scheme?: 'http' | 'https' | undefined;
  /** Default: the context's TLS connection. */
  tls?: TlsInfo | undefined;
  /** Client bytes read before the tap started (the sniffed preface…), sent upstream first. */
  clientFirst?: Buffer | undefined;
  /** Server bytes read before the tap started (after a 101), sent to the client first. */
  serverFirst?: Buffer | undefined;
  /** h2c Upgrade: stream 1 is the HTTP/1.1 request that asked for it, already complete. */
  upgrade?: Http2Upgrade | undefined;
  protos?: ProtoRegistry | undefined;
  /** Streams recorded at a time on one connection; more are forwarded and counted as dropped. */
  maxStreams?: number;
  /** Body bytes kept at a time by one connection's streams; past it bodies are cut short. */
  maxKeptBytes?: number;
}

export interface Http2Upgrade {
  method: string;
  url: string;
  headers: HeaderList;
  httpVersion: string;
  body?: BodyCollector | undefined;
  startWall: number;
  startMono: number;
}

export interface Http2Tap {
  /** No stream open: closing the connection loses nothing. */
  isIdle(): boolean;
}

const PROTOCOL_CODES = new Set(['PROTOCOL_ERROR', 'FLOW_CONTROL_ERROR', 'FRAME_SIZE_ERROR', 'COMPRESSION_ERROR']);

class TapStream {
  readonly startWall: number;
  readonly startMono: number;
  request: Http2Head | undefined;
  reqBody: BodyCollector;
  reqTrailers: HeaderList | undefined;
  response: Http2Head | undefined;
  resBody: BodyCollector;
  resTrailers: HeaderList | undefined;
  ttfbMs: number | undefined;
  /** gRPC: DATA pieces of both directions in order (no bodies). */
  grpc: { chunks: GrpcChunk[]; kept: Record<Dir, number>; truncated: boolean } | undefined;
  readonly ended: Record<Dir, boolean> = { c2s: false, s2c: false };
  /** A direction whose kept bytes were cut short by the connection's budget. */
  readonly cut: Record<Dir, boolean> = { c2s: false, s2c: false };
  upgrade: Http2Upgrade | undefined;
  pushedBy: number | undefined;

  constructor(
    readonly id: number,
    cap: number,
    startWall: number,
    startMono: number,
  ) {
    this.startWall = startWall;
    this.startMono = startMono;
    this.reqBody = new BodyCollector(cap);
    this.resBody = new BodyCollector(cap);
  }

  get phase(): 'request' | 'response' {
    return this.response ? 'response' : 'request';
  }
}

export function startHttp2Tap(
  client: TapSocket,
  upstream: TapSocket,
  opts: Http2TapOptions,
  deps: SessionDeps,
): Http2Tap {
  const conn = newId();
  const ctx = opts.exchange;
  const scheme = opts.scheme ?? ctx.scheme ?? 'http';
  const tls = opts.tls ?? ctx.tls;
  const cap = ctx.bodyCap;
  const maxStreams = opts.maxStreams ?? 1000;
  const maxKept = opts.maxKeptBytes ?? 64 * 1024 * 1024;
  const src = `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`;
  const dst = formatTarget(opts.target);
  const streams = new Map<number, TapStream>();
  let kept = 0;
  let goaway: { dir: Dir; code: string } | undefined;
  let socketError: ExchangeError | undefined;
  let upstreamConnected = !(upstream as { connecting?: boolean }).connecting;
  upstream.once('connect', () => (upstreamConnected = true));
  const direction = ctx.direction;
  const meter = {
    c2s: deps.metrics.bytes.labels({ direction, flow: 'c2s' }),
    s2c: deps.metrics.bytes.labels({ direction, flow: 's2c' }),
  };

  const open = (id: number, startWall = Date.now(), startMono = performance.now()): TapStream | undefined => {
    if (streams.has(id)) return streams.get(id);
    if (streams.size >= maxStreams) {
      deps.metrics.exchangesDropped.labels({ reason: 'http2_streams' }).inc();
      return undefined;
    }
    const s = new TapStream(id, cap, startWall, startMono);
    streams.set(id, s);
    return s;
  };

  /**
   * Keeps a copy of a body piece within the cap and the connection's budget; the size is
   * counted anyway. Once a direction was cut it keeps nothing more: a kept body has no gaps.
   */
  const keep = (s: TapStream, dir: Dir, piece: Buffer, tMs: number) => {
    const body = dir === 'c2s' ? s.reqBody : s.resBody;
    if (s.cut[dir]) {
      if (!s.grpc) body.size += piece.length;
      return;
    }
    const room = Math.min(maxKept - kept, s.grpc ? cap - s.grpc.kept[dir] : Infinity);
    const part = piece.length <= room ? piece : piece.subarray(0, Math.max(0, room));
    if (part.length < piece.length) s.cut[dir] = true;
    if (s.grpc) {
      if (s.cut[dir]) s.grpc.truncated = true;
      if (part.length === 0) return;
      s.grpc.kept[dir] += part.length;
      kept += part.length;
      s.grpc.chunks.push({ dir, tMs: roundMs(tMs - s.startMono), bytes: Buffer.from(part) });
      return;
    }
    const before = body.keptBytes;
    body.add(part);
    body.size += piece.length - part.length;
    kept += body.keptBytes - before;
  };

  const finish = (s: TapStream, error?: ExchangeError) => {
    if (!streams.delete(s.id)) return;
    kept -= s.reqBody.keptBytes + s.resBody.keptBytes + (s.grpc ? s.grpc.kept.c2s + s.grpc.kept.s2c : 0);
    if (!s.request) return; // a stream we only saw the end of (opened before a full map): nothing to say
    const durationMs = performance.now() - s.startMono;
    deps.recorder.record(() => buildExchange(s, durationMs, error));
  };

  const buildExchange = (s: TapStream, durationMs: number, error: ExchangeError | undefined): Exchange => {
    const req = s.request as Http2Head;
    const authority = pseudoValue(req, ':authority') ?? headerValue(req.headers, 'host') ?? dst;
    const path = pseudoValue(req, ':path') ?? '';
    const reqType = headerValue(req.headers, 'content-type');
    const x: HttpExchange = {
      v: 1,
      id: newId(s.startWall),
      ts: new Date(s.startWall).toISOString(),
      durationMs: roundMs(durationMs),
      direction: ctx.direction,
      service: ctx.service,
      protocol: 'http',
      src,
      dst,
      conn,
      streamId: s.id,
      request: {
        method: s.upgrade?.method ?? pseudoValue(req, ':method') ?? 'GET',
        url: s.upgrade?.url ?? `${scheme}://${authority}${path}`,
        httpVersion: s.upgrade?.httpVersion ?? '2',
        headers: req.headers,
      },
    };
    if (s.reqTrailers) x.request.trailers = s.reqTrailers;
    const res = s.response;
    const status = res ? Number(pseudoValue(res, ':status')) : NaN;
    if (res && status >= 100 && status <= 999) {
      x.response = { status, statusText: '', httpVersion: '2', headers: res.headers };
      if (s.resTrailers) x.response.trailers = s.resTrailers;
    }
    if (tls) x.tls = tls;
    if (error) x.error = error;
    if (s.ttfbMs !== undefined) x.timings = { ttfbMs: roundMs(s.ttfbMs) };
    const tags = { ...ctx.tags };
    if (s.pushedBy !== undefined) tags['h2Push'] = String(s.pushedBy);
    if (s.upgrade) tags['h2c'] = 'upgrade';
    if (Object.keys(tags).length > 0) x.tags = tags;
    if (s.grpc) {
      const grpc = buildGrpcCall({
        path,
        requestHeaders: req.headers,
        ...(res ? { responseHeaders: res.headers } : {}),
        ...(s.resTrailers ? { trailers: s.resTrailers } : {}),
        chunks: s.grpc.chunks,
        chunksTruncated: s.grpc.truncated,
        cap,
        ...((opts.protos ?? deps.protos) ? { protos: opts.protos ?? deps.protos } : {}),
      });
      const g: GrpcExchange = { ...x, protocol: 'grpc', grpc };
      return g;
    }
    const reqBody = s.upgrade?.body ?? s.reqBody;
    const body = reqBody.toBody(reqType);
    if (body) x.request.body = body;
    if (x.response) {
      const resBody = s.resBody.toBody(res ? headerValue(res.headers, 'content-type') : undefined);
      if (resBody) x.response.body = resBody;
    }
    return x;
  };

  const observer = new Http2Observer({
    requestHead: (id, head, tMs) => {
      const s = open(id, Date.now(), tMs);
      if (!s) return;
      s.request = head;
      if (isGrpcContentType(headerValue(head.headers, 'content-type'))) {
        s.grpc = { chunks: [], kept: { c2s: 0, s2c: 0 }, truncated: false };
      }
    },
    requestData: (id, piece, tMs) => {
      const s = streams.get(id);
      if (s) keep(s, 'c2s', piece, tMs);
    },
    requestTrailers: (id, trailers) => {
      const s = streams.get(id);
      if (s) s.reqTrailers = trailers;
    },
    responseHead: (id, head, tMs) => {
      const s = streams.get(id);
      if (!s) return;
      s.response = head;
      s.ttfbMs = tMs - s.startMono;
    },
    responseData: (id, piece, tMs) => {
      const s = streams.get(id);
      if (s) keep(s, 's2c', piece, tMs);
    },
    responseTrailers: (id, trailers) => {
      const s = streams.get(id);
      if (s) s.resTrailers = trailers;
    },
    end: (id, dir) => {
      const s = streams.get(id);
      if (!s) return;
      s.ended[dir] = true;
      if (s.ended.c2s && s.ended.s2c) finish(s);
    },
    reset: (id, dir, _code, name) => {
      const s = streams.get(id);
      if (!s) return;
      // After a complete response a reset only stops the rest of the upload: nothing broke.
      if (s.ended.s2c) return finish(s);
      const who = dir === 'c2s' ? 'client' : 'server';
      const kind = PROTOCOL_CODES.has(name) ? 'protocol' : dir === 'c2s' ? 'aborted' : 'reset';
      finish(s, { kind, message: `the ${who} reset the stream (RST_STREAM ${name})`, phase: s.phase });
    },
    push: (parentId, promisedId, request, tMs) => {
      const s = open(promisedId, Date.now(), tMs);
      if (!s) return;
      s.request = request;
      s.pushedBy = parentId;
      s.ended.c2s = true; // a pushed stream carries nothing from the client
    },
    goaway: (dir, lastStreamId, _code, name) => {
      goaway = { dir, code: name };
      // Streams the sender never processed will not complete: the server's GOAWAY leaves the
      // client's (odd) streams past lastStreamId, the client's the pushed (even) ones.
      const parity = dir === 's2c' ? 1 : 0;
      for (const s of [...streams.values()]) {
        if (s.id > lastStreamId && s.id % 2 === parity) {
          const who = dir === 's2c' ? 'server' : 'client';
          finish(s, {
            kind: 'reset',
            message: `the ${who} sent GOAWAY (${name}) without processing this stream`,
            phase: s.phase,
          });
        }
      }
    },
    error: (dir, message, _tMs, kind) => {
      const who = dir === 'c2s' ? 'client' : 'server';
      deps.metrics.errors.labels({ kind: kind === 'limit' ? 'http2_capture_limit' : 'http2_protocol' }).inc();
      deps.logger.info({ src, dst, dir, kind }, `HTTP/2 capture stopped on this connection: ${message}`);
      const error: ExchangeError =
        kind === 'limit'
          ? { kind: 'other', message: `capture stopped following the connection: ${message}` }
          : { kind: 'protocol', message: `invalid HTTP/2 from the ${who}: ${message}` };
      for (const s of [...streams.values()]) finish(s, { ...error, phase: s.phase });
      // Bytes that are not HTTP/2 end that connection (the chunk in hand still passes, so the
      // endpoint sees what it was sent); legal bytes past a capture bound keep flowing.
      if (kind === 'protocol') {
        setImmediate(() => {
          client.destroy();
          upstream.destroy();
        });
      }
    },
  });

  if (opts.upgrade) {
    const u = opts.upgrade;
    const s = open(1, u.startWall, u.startMono);
    if (s) {
      s.upgrade = u;
      s.request = { pseudo: [[':method', u.method]], headers: u.headers };
      s.ended.c2s = true;
    }
  }

  const feed = (dir: Dir, bytes: Buffer) => {
    meter[dir].inc(bytes.length);
    if (!observer.stopped) observer.feed(dir, bytes, performance.now());
  };

  /** The connection is gone: streams still open end here, with what was going on. */
  let closed = false;
  const closeAll = () => {
    if (closed) return;
    closed = true;
    for (const s of [...streams.values()]) {
      if (s.ended.c2s && s.ended.s2c) {
        finish(s);
        continue;
      }
      let error: ExchangeError;
      if (!upstreamConnected && socketError) error = { ...socketError, phase: 'connect' };
      else if (socketError) error = { ...socketError, phase: s.phase };
      else if (goaway && goaway.code !== 'NO_ERROR') {
        const who = goaway.dir === 's2c' ? 'server' : 'client';
        error = {
          kind: PROTOCOL_CODES.has(goaway.code) ? 'protocol' : 'reset',
          message: `the ${who} closed the connection with GOAWAY (${goaway.code}) before the stream ended`,
          phase: s.phase,
        };
      } else {
        error = { kind: 'aborted', message: 'the connection closed before the stream ended', phase: s.phase };
      }
      finish(s, error);
    }
  };

  let clientEnded = false;
  client.on('data', (d: Buffer) => feed('c2s', d));
  upstream.on('data', (d: Buffer) => feed('s2c', d));
  upstream.on('error', (err) => {
    socketError ??= classifyError(err, 'response');
    client.destroy();
  });
  client.once('end', () => (clientEnded = true));
  client.on('error', (err) => {
    // After its FIN, a reset client simply left without reading the rest.
    const code = (err as NodeJS.ErrnoException).code;
    if (!(clientEnded && (code === 'ECONNRESET' || code === 'EPIPE')))
      socketError ??= { ...classifyError(err, 'request'), kind: 'aborted' };
    upstream.destroy();
  });
  // The conversation is over when the client is gone; recording here (not on the upstream's
  // close) means a listener that stops once its client sockets are closed loses no record.
  client.on('close', () => {
    upstream.destroy();
    closeAll();
  });
  upstream.on('close', () => {
    if (!client.destroyed) client.end();
  });
  if (opts.serverFirst && opts.serverFirst.length > 0) {
    feed('s2c', opts.serverFirst);
    client.write(opts.serverFirst);
  }
  if (opts.clientFirst && opts.clientFirst.length > 0) {
    feed('c2s', opts.clientFirst);
    upstream.write(opts.clientFirst);
  }
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  upstream.resume();
  if ((client as { closed?: boolean }).closed) {
    upstream.destroy();
    closeAll();
  }
  return { isIdle: () => streams.size === 0 };
}
