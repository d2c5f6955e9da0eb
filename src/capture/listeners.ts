/**
 * The inbound (reverse proxy to the app) and outbound (forward HTTP/SOCKS proxy) listeners,
 * with connection accounting for metrics and for a clean shutdown.
 */
import net from 'node:net';
import { ListenError } from '../errors.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import { Http1Session, type SessionDeps } from './http1-session.ts';
import { handleForwardConnection } from './forward-listener.ts';
import type { Listener } from './metrics.ts';
import type { Target } from './upstream.ts';

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
  opts: ListenOptions & { app: Target; exchange: ExchangeContext },
  deps: SessionDeps,
): Promise<ProxyListener> {
  return listen(
    'inbound',
    opts,
    deps,
    (socket) => new Http1Session(socket, { mode: 'reverse', target: opts.app, exchange: opts.exchange }, deps),
  );
}

export function listenOutbound(
  opts: ListenOptions & { exchange: ExchangeContext; tcpCap: number },
  deps: SessionDeps,
): Promise<ProxyListener> {
  return listen('outbound', opts, deps, (socket) =>
    handleForwardConnection(socket, { exchange: opts.exchange, tcpCap: opts.tcpCap }, deps),
  );
}
