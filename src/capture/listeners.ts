/**
 * The inbound (reverse proxy to the app) and outbound (forward HTTP/SOCKS proxy) listeners,
 * with connection accounting for metrics and for a clean shutdown.
 */
import net from 'node:net';
import { ListenError } from '../errors.ts';
import { HTTP2_PREFACE } from '../protocols/sniff.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import { Http1Session, type SessionDeps } from './http1-session.ts';
import { startHttp2Tap } from './http2-tap.ts';
import { handleForwardConnection, type ForwardOptions } from './forward-listener.ts';
import { handleInboundTls, type InboundTlsOptions } from './inbound-tls.ts';
import type { Listener } from './metrics.ts';
import { connectUpstream, type Target } from './upstream.ts';

export interface ProxyListener {
  readonly name: Listener;
  readonly port: number;
  readonly host: string;
  /** Stops accepting; lets open connections finish for up to `graceMs`, then closes them. */
  close(graceMs: number): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  idleTimeoutMs: number;
}

/** What a listener needs to know of a connection's handler to shut down gently. */
export interface ConnectionHandle {
  /** Nothing in flight: the connection can be closed without losing an exchange. */
  isIdle(): boolean;
  /** The connection was idle past the idle timeout (default: it is closed). */
  onIdleTimeout?(): void;
}

async function listen(
  name: Listener,
  opts: ListenOptions,
  deps: SessionDeps,
  onSocket: (s: net.Socket) => ConnectionHandle,
): Promise<ProxyListener> {
  const sockets = new Map<net.Socket, ConnectionHandle>();
  const open = deps.metrics.connectionsOpen.labels({ listener: name });
  const total = deps.metrics.connectionsTotal.labels({ listener: name });
  // allowHalfOpen: a client that half-closes after its request still gets the response.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    open.inc();
    total.inc();
    socket.once('close', () => {
      sockets.delete(socket);
      open.dec();
    });
    socket.on('error', () => {
      /* each session handles and logs its own errors; this keeps an unhandled one from crashing */
    });
    const handle = onSocket(socket);
    sockets.set(socket, handle);
    socket.setTimeout(opts.idleTimeoutMs, () => (handle.onIdleTimeout ? handle.onIdleTimeout() : socket.destroy()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError(`${name} traffic`, opts.port, opts.host, err)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    name,
    port: address.port,
    host: opts.host,
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      // Close idle connections at once; give busy ones until the deadline to finish.
      while (sockets.size > 0) {
        for (const [socket, handle] of sockets) {
          if (handle.isIdle() || Date.now() >= deadline) socket.destroy();
        }
        if (sockets.size > 0) await new Promise((r) => setTimeout(r, 20));
      }
      await closed;
    },
  };
}

export function listenInbound(
  opts: ListenOptions & {
    app: Target;
    exchange: ExchangeContext;
    tlsIn?: InboundTlsOptions;
    /** How to open a connection to the app when it is not plain TCP (an app that serves TLS). */
    appConnect?: (target: Target) => net.Socket;
  },
  deps: SessionDeps,
): Promise<ProxyListener> {
  const tlsIn = opts.tlsIn;
  if (tlsIn) {
    // TLS terminated with the app's certificate; the decrypted stream is sniffed like a tunnel.
    return listen('inbound', opts, deps, (socket) => {
      handleInboundTls(socket, tlsIn, deps);
      return { isIdle: () => false };
    });
  }
  const http1 = (socket: net.Socket) =>
    new Http1Session(
      socket,
      {
        mode: 'reverse',
        target: opts.app,
        exchange: opts.exchange,
        ...(opts.appConnect ? { connect: opts.appConnect } : {}),
      },
      deps,
    );
  const h2 = (socket: net.Socket, first: Buffer) =>
    startHttp2Tap(
      socket,
      opts.appConnect ? opts.appConnect(opts.app) : connectUpstream(opts.app, deps.connectTimeoutMs),
      { target: opts.app, exchange: opts.exchange, clientFirst: first },
      deps,
    );
  return listen('inbound', opts, deps, (socket) => sniffInbound(socket, http1, h2));
}

/**
 * HTTP/2 with prior knowledge starts with the connection preface; anything else is HTTP/1. The
 * first bytes are held until they part from the preface (the first byte, for any method but
 * PRI, POST, PUT and PATCH), then handed to the handler that owns the connection from then on.
 */
function sniffInbound(
  socket: net.Socket,
  http1: (socket: net.Socket) => Http1Session,
  h2: (socket: net.Socket, first: Buffer) => ConnectionHandle,
): ConnectionHandle {
  let owner: ConnectionHandle | undefined;
  let held: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const n = Math.min(held.length, HTTP2_PREFACE.length);
    const preface = held.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
    if (preface && n < HTTP2_PREFACE.length) return;
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (preface) {
      owner = h2(socket, held);
    } else {
      const session = http1(socket);
      owner = session;
      session.feed(held);
    }
  };
  // The client ended with at most part of a preface: no request will come.
  const onEnd = () => {
    socket.removeListener('data', onData);
    socket.end();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  return {
    isIdle: () => owner?.isIdle() ?? true,
    onIdleTimeout: () => (owner?.onIdleTimeout ? owner.onIdleTimeout() : socket.destroy()),
  };
}

export function listenOutbound(opts: ListenOptions & ForwardOptions, deps: SessionDeps): Promise<ProxyListener> {
  const forward: ForwardOptions = {
    exchange: opts.exchange,
    tcpCap: opts.tcpCap,
    ...(opts.tls ? { tls: opts.tls } : {}),
  };
  return listen('outbound', opts, deps, (socket) => handleForwardConnection(socket, forward, deps));
}
