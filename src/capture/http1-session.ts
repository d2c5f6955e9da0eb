/**
 * One client connection carrying HTTP/1, proxied to its upstream(s) and recorded.
 *
 * Bytes are forwarded as they came (the head as parsed, the body as wire bytes), so header
 * order and case, chunk framing and trailers reach the other side unchanged; a forward proxy
 * only rewrites the request line to origin-form. Requests are matched to responses in order,
 * which makes pipelining work. Backpressure runs both ways: a slow reader pauses the writer.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import type { ProtoRegistry } from '../protocols/grpc/index.ts';
import type { Http1Head } from '../protocols/http1/head.ts';
import { Http1Parser, type HeadDecision } from '../protocols/http1/parser.ts';
import { errorResponse, parseErrorCode, upstreamErrorCode, type ProxyErrorCode } from './error-response.ts';
import { Outbox } from './outbox.ts';
import { InFlight, originFormHead, RequestUrls, type ExchangeContext } from './http1-exchange.ts';
import type { CaptureMetrics } from './metrics.ts';
import { openUpgradeTunnel } from './upgrade-tunnel.ts';
import type { Recorder } from './recorder.ts';
import { classifyError, connectUpstream, formatTarget, parseTarget, statusForError, type Target } from './upstream.ts';

export interface SessionDeps {
  recorder: Recorder;
  metrics: CaptureMetrics;
  logger: Logger;
  maxHeaderBytes: number;
  connectTimeoutMs: number;
  /** .proto files given with --proto: gRPC messages are also decoded to JSON. */
  protos?: ProtoRegistry | undefined;
}

export interface Http1SessionOptions {
  /** `reverse`: every request goes to `target`. `forward`: requests carry absolute URLs. */
  mode: 'reverse' | 'forward';
  target?: Target;
  /** An already open connection to `target` (an HTTP tunnel through CONNECT or SOCKS). */
  upstream?: net.Socket;
  exchange: ExchangeContext;
  /**
   * Opens a new upstream connection when the session needs one (default: plain TCP). An
   * intercepted TLS tunnel reconnects over TLS with the same server name.
   */
  connect?: (target: Target) => net.Socket;
  /** Forward mode: a CONNECT request; the session hands the client socket over. */
  onConnect?: (head: Http1Head, target: Target, rest: Buffer) => void;
}

export class Http1Session {
  private readonly reqParser: Http1Parser;
  private up: net.Socket | undefined;
  private upKey = '';
  private upParser: Http1Parser | undefined;
  private readonly inflight: InFlight[] = [];
  /** The request whose body is being read from the client. */
  private current: InFlight | undefined;
  /** Client bytes held while the request parser is paused. */
  private held: Buffer | undefined;
  /** A request waiting for the responses before it (forward mode, another host). */
  private waiting: { flight: InFlight; bytes: Buffer } | undefined;
  /** A CONNECT waiting for the responses before it; then the socket is handed over. */
  private waitingConnect: (() => void) | undefined;
  /** Bytes on their way to the upstream and to the client, written once per turn. */
  private readonly upOut = new Outbox();
  private readonly clientOut = new Outbox();
  private flushScheduled = false;
  /**
   * Inside a socket's data handler: what the parse produces is written when the handler returns,
   * not from a microtask (queueMicrotask costs an AsyncResource and a bound function per call).
   */
  private inHandler = false;
  private clientEnded = false;
  private closing = false;
  private pendingError: Buffer | undefined;
  private readonly src: string;
  /** formatTarget() of the reverse-mode target, made once. */
  private reverseKey: string | undefined;
  private readonly urls: RequestUrls;
  private readonly bytesC2s;
  private readonly bytesS2c;

  constructor(
    private readonly client: net.Socket,
    private readonly opts: Http1SessionOptions,
    private readonly deps: SessionDeps,
  ) {
    this.src = `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`;
    this.urls = new RequestUrls(opts.exchange.scheme ?? 'http');
    const direction = opts.exchange.direction;
    this.bytesC2s = deps.metrics.bytes.labels({ direction, flow: 'c2s' });
    this.bytesS2c = deps.metrics.bytes.labels({ direction, flow: 's2c' });
    this.reqParser = new Http1Parser(
      { kind: 'request', maxHeadBytes: deps.maxHeaderBytes, lazyHeaders: true },
      {
        onHead: (head) => this.onRequestHead(head),
        onRaw: (bytes) => this.writeUp(bytes),
        onData: (bytes) => this.current?.reqBody.add(bytes),
        onTrailers: (t) => {
          if (this.current) this.current.reqTrailers = t;
        },
        onComplete: () => this.onRequestComplete(),
      },
    );
    if (opts.upstream && opts.target) this.attachUpstream(opts.upstream, formatTarget(opts.target), 0);
    client.on('data', this.onClientData);
    client.on('end', this.onClientEnd);
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
    // A socket handed over from a tunnel was paused while its first bytes were looked at.
    client.resume();
    opts.upstream?.resume();
  }

  /** No request in flight: closing now loses nothing. */
  isIdle(): boolean {
    return (
      this.inflight.length === 0 && this.current === undefined && !this.reqParser.inMessage && !this.reqParser.isTunnel
    );
  }

  /** Feeds bytes that arrived before the session took over the socket. */
  feed(bytes: Buffer): void {
    if (bytes.length > 0) this.onClientData(bytes);
  }

  // ---- client side ------------------------------------------------------------------------

  private readonly onClientData = (chunk: Buffer): void => {
    this.bytesC2s.inc(chunk.length);
    if (this.closing) return; // answered and ending: what the client still sends is discarded
    if (this.held || this.reqParser.isPaused) {
      this.held = this.held ? Buffer.concat([this.held, chunk]) : chunk;
      this.client.pause();
      return;
    }
    if (this.inHandler) {
      this.parseClient(chunk);
      return;
    }
    this.inHandler = true;
    try {
      this.parseClient(chunk);
    } finally {
      this.inHandler = false;
      if (this.flushScheduled) this.flush();
    }
  };

  private parseClient(chunk: Buffer): void {
    const used = this.reqParser.execute(chunk);
    if (this.reqParser.error) {
      this.onClientParseError();
      return;
    }
    if (used < chunk.length) {
      this.held = chunk.subarray(used);
      this.client.pause();
    }
  }

  private onRequestHead(head: Http1Head): HeadDecision {
    let target: Target;
    let url: string;
    let key: string;
    // Reverse mode forwards the head as it came: its bytes in the input (when the whole head was
    // in one read) go out without a copy, and with the body bytes after them in one slice.
    let out: Buffer = this.reqParser.headWire ?? head.raw;
    if (this.opts.mode === 'forward') {
      const routed = this.routeForward(head);
      if (!routed) return 'pause';
      if (head.method === 'CONNECT') {
        this.startConnect(head, routed.target);
        return 'pause';
      }
      ({ target, url } = routed);
      key = formatTarget(target);
      out = originFormHead(head, routed.path);
    } else {
      target = this.opts.target as Target;
      key = this.reverseKey ??= formatTarget(target);
      url = this.urls.url(head, key);
    }
    const flight = new InFlight(head, url, target, this.src, this.opts.exchange, key);
    this.current = flight;
    if (this.up && this.upKey !== key && this.inflight.length > 0) {
      // Another host while responses are pending: wait for them, then switch connections.
      // (Kept past this call: the copy, never a slice of the input.)
      this.waiting = { flight, bytes: out === this.reqParser.headWire ? head.raw : out };
      return 'pause';
    }
    this.dispatch(flight, out);
    return 'continue';
  }

  /** Forward mode: where an absolute-form request (or CONNECT authority) goes. */
  private routeForward(head: Http1Head): { target: Target; url: string; path: string } | undefined {
    if (head.method === 'CONNECT') {
      const target = parseTarget(head.target);
      if (!target) {
        this.failClient(400, 'TW_BAD_CONNECT', `CONNECT needs HOST:PORT, got "${head.target.slice(0, 100)}"`);
        return undefined;
      }
      return { target, url: '', path: '' };
    }
    let parsed: URL;
    try {
      parsed = new URL(head.target);
    } catch {
      this.failClient(
        400,
        'TW_NOT_A_PROXY_REQUEST',
        `this is tapwire's forward proxy port: send absolute-form requests (GET http://host/path) or CONNECT, got "${head.target.slice(0, 100)}"`,
      );
      return undefined;
    }
    if (parsed.protocol !== 'http:') {
      this.failClient(
        501,
        'TW_SCHEME_UNSUPPORTED',
        `cannot proxy ${parsed.protocol} requests in absolute form; use CONNECT for https`,
      );
      return undefined;
    }
    const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    const target = { host, port: parsed.port ? Number(parsed.port) : 80 };
    return { target, url: head.target, path: `${parsed.pathname}${parsed.search}` };
  }

  private dispatch(flight: InFlight, headBytes: Buffer): void {
    const key = flight.dst;
    if (!this.up || this.upKey !== key) {
      this.dropUpstream();
      const started = performance.now();
      const socket = this.opts.connect
        ? this.opts.connect(flight.target)
        : connectUpstream(flight.target, this.deps.connectTimeoutMs);
      this.attachUpstream(socket, key, started);
      flight.connectMs = -1; // filled in on connect
    }
    this.inflight.push(flight);
    this.writeUp(headBytes);
  }

  private onRequestComplete(): 'pause' | void {
    const flight = this.current;
    this.current = undefined;
    // After an Upgrade (or a CONNECT to the app), what the client sends next is not HTTP if
    // the server agrees: hold it until the response says which.
    if (flight && opensTunnel(flight.head)) return 'pause';
  }

  /**
   * The connection sat idle past the idle timeout. With a request waiting for its response
   * that is the upstream's silence: answer 504 and record a timeout, not a client abort.
   */
  onIdleTimeout(): void {
    const flight = this.inflight[0];
    if (!flight) {
      this.client.destroy();
      return;
    }
    this.upstreamFailed(
      Object.assign(new Error('the upstream did not respond within the idle timeout'), { code: 'ETIMEDOUT' }),
    );
  }

  private onClientParseError(): void {
    const err = this.reqParser.error;
    if (!err) return;
    const status = err.code === 'head-too-large' ? 431 : 400;
    this.deps.metrics.errors.labels({ kind: 'bad_request' }).inc();
    this.deps.logger.info({ src: this.src, code: err.code }, `malformed request from client: ${err.message}`);
    const code = parseErrorCode(err.code);
    const broken = this.current;
    if (broken && this.inflight.includes(broken)) {
      // An earlier response may be on its way to the client: a 400 now would land inside it.
      const midResponse = this.inflight.some((f) => f.responseStarted);
      // The body went bad after its head was forwarded: the upstream can never see a whole
      // request, so that exchange ends here, with the error, and so does the connection.
      this.inflight.splice(this.inflight.indexOf(broken), 1);
      broken.finish({ kind: 'protocol', message: `malformed request body: ${err.message}`, phase: 'request' });
      this.deps.recorder.record(broken);
      this.dropUpstream();
      for (const rest of this.inflight.splice(0)) {
        rest.finish({
          kind: 'aborted',
          message: 'a later request on this connection was malformed',
          phase: 'response',
        });
        this.deps.recorder.record(rest);
      }
      if (midResponse) {
        this.client.destroy();
        return;
      }
    }
    this.failClient(status, code, err.message);
  }

  /** Answers the client with an error once the responses before it are out, then closes. */
  private failClient(status: number, code: ProxyErrorCode, message: string): void {
    this.pendingError = errorResponse(status, code, message);
    this.client.pause();
    this.current = undefined;
    if (this.inflight.length === 0) this.flushPendingError();
  }

  private flushPendingError(): void {
    if (!this.pendingError) return;
    const response = this.pendingError;
    this.pendingError = undefined;
    this.endClient(response);
    this.dropUpstream();
  }

  /**
   * Ends our side of the client connection and keeps reading (and discarding) so that the
   * client's own FIN arrives; a client that never closes is cut off after a few seconds.
   */
  private endClient(last?: Buffer): void {
    this.flush(); // what was already produced for the client goes before the end
    this.closing = true;
    if (last) this.client.end(last);
    else this.client.end();
    this.client.resume();
    setTimeout(() => this.client.destroy(), 5000).unref();
  }

  private readonly onClientEnd = (): void => {
    this.clientEnded = true;
    if (this.reqParser.finish() && this.inflight.length === 0) {
      this.closeAll();
      return;
    }
    if (this.inflight.length === 0) {
      this.closeAll();
    } else {
      this.flush(); // bytes of this same turn still in the outbox go before the FIN
      this.up?.end(); // half-close upstream too; the responses still come back
    }
  };

  private readonly onClientError = (err: Error): void => {
    this.deps.logger.debug({ src: this.src, err: err.message }, 'client connection error');
  };

  /** A request held back for another host (forward mode) that will now never be sent. */
  private abandonWaiting(message: string): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = undefined;
    waiting.flight.finish({ kind: 'aborted', message, phase: 'request' });
    this.deps.recorder.record(waiting.flight);
  }

  private readonly onClientClose = (): void => {
    this.abandonWaiting('the client closed the connection before this request was sent');
    for (const flight of this.inflight.splice(0)) {
      flight.finish({
        kind: 'aborted',
        message: 'the client closed the connection before the response ended',
        phase: 'response',
      });
      this.deps.recorder.record(flight);
    }
    this.dropUpstream();
  };

  // ---- upstream side ----------------------------------------------------------------------

  private attachUpstream(socket: net.Socket, key: string, startedAt: number): void {
    this.up = socket;
    this.upKey = key;
    const parser = new Http1Parser(
      { kind: 'response', maxHeadBytes: this.deps.maxHeaderBytes, lazyHeaders: true },
      {
        onHead: (head) => this.onResponseHead(head),
        onRaw: (bytes) => this.writeClient(bytes),
        onData: (bytes) => this.inflight[0]?.resBody?.add(bytes),
        onTrailers: (t) => {
          const f = this.inflight[0];
          if (f) f.resTrailers = t;
        },
        onComplete: () => this.onResponseComplete(),
      },
    );
    this.upParser = parser;
    if (startedAt > 0) {
      socket.once('connect', () => {
        for (const f of this.inflight) if (f.connectMs === -1) f.connectMs = performance.now() - startedAt;
      });
    }
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.up) return;
      this.bytesS2c.inc(chunk.length);
      const nested = this.inHandler;
      this.inHandler = true;
      try {
        const used = parser.execute(chunk);
        if (parser.error) {
          this.upstreamFailed(
            Object.assign(new Error(`invalid response from upstream: ${parser.error.message}`), { code: 'EPROTO' }),
            'protocol',
          );
        } else if (parser.isTunnel) {
          this.startTunnel(chunk.subarray(used));
        }
      } finally {
        this.inHandler = nested;
        if (!nested && this.flushScheduled) this.flush();
      }
    });
    socket.on('end', () => {
      if (socket !== this.up) return;
      const err = parser.finish();
      if (err && this.inflight.length > 0) {
        this.upstreamFailed(
          Object.assign(new Error('the upstream closed the connection in the middle of a response'), {
            code: 'ECONNRESET',
          }),
        );
        return;
      }
      if (this.inflight.length > 0) {
        this.upstreamFailed(
          Object.assign(new Error('the upstream closed the connection without responding'), { code: 'ECONNRESET' }),
        );
        return;
      }
      this.dropUpstream();
      if (this.clientEnded) this.closeAll();
    });
    socket.on('error', (err) => {
      if (socket !== this.up) return;
      this.upstreamFailed(err);
    });
    socket.on('drain', () => {
      if (socket === this.up && !this.held && !this.reqParser.isPaused && !this.pendingError) this.client.resume();
    });
  }

  private onResponseHead(head: Http1Head): HeadDecision {
    const flight = this.inflight[0];
    if (!flight) {
      this.upstreamFailed(
        Object.assign(new Error('the upstream sent a response nobody asked for'), { code: 'EPROTO' }),
        'protocol',
      );
      return 'tunnel'; // stop parsing; the session is being torn down
    }
    flight.responseStarted = true;
    this.writeClient(this.upParser?.headWire ?? head.raw);
    if (head.status >= 100 && head.status < 200 && head.status !== 101) return 'continue';
    flight.responseHead(head);
    if (head.status === 101 && flight.head.upgrade) return 'tunnel';
    if (flight.head.method === 'CONNECT' && head.status >= 200 && head.status < 300) return 'tunnel';
    if (flight.head.method === 'HEAD') return 'no-body';
    return 'continue';
  }

  private onResponseComplete(): void {
    const flight = this.inflight.shift();
    if (!flight) return;
    flight.finish();
    this.deps.recorder.record(flight);
    const res = flight.resHead;
    const readUntilClose =
      res !== undefined &&
      !res.chunked &&
      res.contentLength === undefined &&
      flight.head.method !== 'HEAD' &&
      res.status !== 204 &&
      res.status !== 304;
    if (flight.head.close || res?.close || (readUntilClose && this.up?.readableEnded)) {
      this.closeAll();
      return;
    }
    if (this.inflight.length > 0) return;
    if (this.waitingConnect) {
      const handOver = this.waitingConnect;
      this.waitingConnect = undefined;
      handOver();
    } else if (this.pendingError) {
      this.flushPendingError();
    } else if (this.waiting) {
      const { flight: next, bytes } = this.waiting;
      this.waiting = undefined;
      this.dispatch(next, bytes);
      this.resumeClient();
    } else if (opensTunnel(flight.head)) {
      this.resumeClient(); // the server declined the upgrade (or the CONNECT): back to HTTP
    } else if (this.clientEnded) {
      this.closeAll();
    }
  }

  private upstreamFailed(err: unknown, kind?: 'protocol'): void {
    const flight = this.inflight.shift();
    if (!flight) {
      this.dropUpstream();
      return;
    }
    const phase = flight.resHead ? 'response' : flight.connectMs === -1 ? 'connect' : 'request';
    const error = classifyError(err, phase);
    if (kind) error.kind = kind;
    flight.finish(error);
    this.deps.recorder.record(flight);
    this.deps.metrics.errors.labels({ kind: `upstream_${error.kind}` }).inc();
    this.deps.logger.info({ dst: formatTarget(flight.target), kind: error.kind }, `upstream failed: ${error.message}`);
    for (const rest of this.inflight.splice(0)) {
      rest.finish({ kind: 'aborted', message: 'an earlier request on this connection failed', phase: 'request' });
      this.deps.recorder.record(rest);
    }
    this.abandonWaiting('an earlier request on this connection failed');
    this.dropUpstream();
    if (!flight.responseStarted) {
      const status = statusForError(error);
      this.endClient(
        errorResponse(status, upstreamErrorCode(error.kind), `${formatTarget(flight.target)}: ${error.message}`),
      );
    } else {
      this.client.destroy();
    }
  }

  // ---- tunnels (Upgrade, CONNECT to the app) ----------------------------------------------

  private startTunnel(upRest: Buffer): void {
    const up = this.up;
    const flight = this.inflight.shift();
    if (!up || !flight) return;
    this.flush(); // the 101 head is still in the outbox: it must precede the tunnel bytes
    this.reqParser.becomeTunnel();
    this.client.removeListener('data', this.onClientData);
    // The tunnel carries FINs both ways from now on; the session's half-close handling would end
    // the client while the server still has things to say.
    this.client.removeListener('end', this.onClientEnd);
    up.removeAllListeners('data');
    up.removeAllListeners('end');
    up.removeAllListeners('drain');
    this.up = undefined; // the session no longer owns it: the tunnel does
    const held = this.held;
    this.held = undefined;
    // Recording (at once, or when a WebSocket session ends) is the tunnel's job.
    openUpgradeTunnel(
      { client: this.client, upstream: up, flight, exchange: this.opts.exchange, serverRest: upRest, clientHeld: held },
      this.deps,
    );
  }

  private startConnect(head: Http1Head, target: Target): void {
    const handOver = () => {
      if (this.closing || this.client.destroyed) return; // the client left before the tunnel opened
      this.client.removeListener('data', this.onClientData);
      this.client.removeListener('end', this.onClientEnd);
      this.client.removeListener('error', this.onClientError);
      this.client.removeListener('close', this.onClientClose);
      this.dropUpstream();
      const rest = this.held ?? Buffer.alloc(0);
      this.held = undefined;
      this.opts.onConnect?.(head, target, rest);
    };
    // The parser paused on this head; what the client sent after it is collected in `held`.
    if (this.inflight.length === 0) setImmediate(handOver);
    else this.waitingConnect = handOver;
  }

  // ---- writing ------------------------------------------------------------------------------

  private writeUp(bytes: Buffer): void {
    if (!this.up) return;
    this.upOut.add(bytes);
    this.scheduleFlush();
  }

  private writeClient(bytes: Buffer): void {
    if (this.closing) return;
    this.clientOut.add(bytes);
    this.scheduleFlush();
  }

  /** After the current event's parsing: everything it produced leaves in one write per side. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (!this.inHandler) queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const up = this.up;
    if (up && !this.upOut.isEmpty && !this.upOut.flushTo(up)) this.client.pause();
    if (!this.clientOut.isEmpty && !this.clientOut.flushTo(this.client)) {
      up?.pause();
      this.client.once('drain', () => up?.resume());
    }
  };

  private resumeClient(): void {
    this.reqParser.resume();
    const held = this.held;
    this.held = undefined;
    if (held) this.parseClient(held);
    if (!this.held && !this.reqParser.isPaused && !this.closing) this.client.resume();
  }

  private dropUpstream(): void {
    const up = this.up;
    this.up = undefined;
    this.upKey = '';
    this.upParser = undefined;
    this.upOut.discard(); // bytes for a connection being closed have nowhere to go
    if (up) up.destroy();
  }

  private closeAll(): void {
    this.endClient();
    this.dropUpstream();
  }
}

/** A request after which, if the server agrees, the connection stops being HTTP. */
function opensTunnel(head: Http1Head): boolean {
  return head.upgrade !== undefined || head.method === 'CONNECT';
}
