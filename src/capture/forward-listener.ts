/**
 * The outbound port: one listener that speaks HTTP proxy (absolute-form requests and CONNECT)
 * and SOCKS4, SOCKS4a and SOCKS5, told apart by the first byte a client sends.
 */
import type net from 'node:net';
import type { Http1Head } from '../protocols/http1/head.ts';
import { SocksServerHandshake, detectProxyProtocol, type SocksFailure } from '../protocols/socks/index.ts';
import { errorResponse, upstreamErrorCode } from './error-response.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import { Http1Session, type SessionDeps } from './http1-session.ts';
import { tcpExchange } from './tcp-tunnel.ts';
import type { TlsInterception } from './tls-intercept.ts';
import { startTunnel } from './tunnel.ts';
import type { ConnectionHandle } from './listeners.ts';
import { classifyError, connectUpstream, formatTarget, statusForError, type Target } from './upstream.ts';

export interface ForwardOptions {
  exchange: ExchangeContext;
  tcpCap: number;
  /** Outbound TLS interception; absent: TLS tunnels pass through. */
  tls?: TlsInterception;
}

export function handleForwardConnection(client: net.Socket, opts: ForwardOptions, deps: SessionDeps): ConnectionHandle {
  let session: Http1Session | undefined;
  let started = false;
  // The listener allows half-open connections, so a FIN does not end our side by itself: a
  // client that leaves before saying anything would otherwise hold the socket until the idle
  // timeout.
  const onEarlyEnd = () => client.end();
  client.once('end', onEarlyEnd);
  client.once('data', (first: Buffer) => {
    started = true;
    client.removeListener('end', onEarlyEnd);
    const kind = detectProxyProtocol(first[0] ?? 0);
    if (kind === 'http') {
      session = new Http1Session(
        client,
        {
          mode: 'forward',
          exchange: opts.exchange,
          onConnect: (head, target, rest) => {
            session = undefined; // the connection is a tunnel from now on
            connectTunnel(client, head, target, rest, opts, deps);
          },
        },
        deps,
      );
      session.feed(first);
    } else {
      socksHandshake(client, first, opts, deps);
    }
  });
  // A tunnel is never idle: it gets the shutdown grace period to finish.
  return {
    isIdle: () => !started || (session?.isIdle() ?? false),
    onIdleTimeout: () => (session ? session.onIdleTimeout() : client.destroy()),
  };
}

/** CONNECT: dial, answer 200, then look at what the tunnel carries. */
function connectTunnel(
  client: net.Socket,
  head: Http1Head,
  target: Target,
  rest: Buffer,
  opts: ForwardOptions,
  deps: SessionDeps,
): void {
  const tags = { ...opts.exchange.tags, tunnel: 'connect' };
  dial(
    client,
    target,
    { ...opts, exchange: { ...opts.exchange, tags } },
    deps,
    (err) => {
      if (err) {
        client.end(
          errorResponse(statusForError(err), upstreamErrorCode(err.kind), `${formatTarget(target)}: ${err.message}`),
        );
        return;
      }
      client.write(`HTTP/${head.version} 200 Connection Established\r\n\r\n`);
    },
    rest,
  );
}

function socksHandshake(client: net.Socket, first: Buffer, opts: ForwardOptions, deps: SessionDeps): void {
  const handshake = new SocksServerHandshake();
  // A client that half-closes in the middle of the handshake can never finish it: close too
  // (the listener allows half-open connections, so nothing else would).
  const onEnd = () => {
    client.removeListener('data', onData);
    client.end();
  };
  const onData = (chunk: Buffer) => {
    for (const step of handshake.push(chunk)) {
      switch (step.type) {
        case 'send':
          client.write(step.bytes);
          break;
        case 'need-more':
          return;
        case 'fail':
          client.removeListener('data', onData);
          client.removeListener('end', onEnd);
          deps.metrics.errors.labels({ kind: 'bad_socks' }).inc();
          deps.logger.info(
            { src: `${client.remoteAddress}:${client.remotePort}` },
            `SOCKS handshake failed: ${step.reason}`,
          );
          if (step.bytes) client.end(step.bytes);
          else client.destroy();
          return;
        case 'connect': {
          client.removeListener('data', onData);
          client.removeListener('end', onEnd); // from now on the tunnel handles the client's FIN
          client.pause();
          const tags: Record<string, string> = { ...opts.exchange.tags, tunnel: `socks${step.version}` };
          if (step.user) tags['socksUser'] = step.user;
          const target = { host: step.target.host, port: step.target.port };
          dial(
            client,
            target,
            { ...opts, exchange: { ...opts.exchange, tags } },
            deps,
            (err, upstream) => {
              if (err) {
                client.end(handshake.failedReply(socksFailure(err.kind)));
                return;
              }
              const local = upstream?.localAddress;
              client.write(
                handshake.connectedReply(local ? { host: local, port: upstream?.localPort ?? 0 } : undefined),
              );
            },
            step.rest,
          );
          return;
        }
      }
    }
  };
  client.on('data', onData);
  client.once('end', onEnd);
  onData(first);
}

function socksFailure(kind: string): SocksFailure {
  switch (kind) {
    case 'refused':
      return 'refused';
    case 'timeout':
      return 'timeout';
    case 'dns':
      return 'host-unreachable';
    default:
      return 'general';
  }
}

/**
 * Opens the tunnel's upstream. `reply` answers the client (success or failure); on success the
 * tunnel starts. A failed dial is recorded as a `tcp` Exchange with its error.
 */
function dial(
  client: net.Socket,
  target: Target,
  opts: ForwardOptions,
  deps: SessionDeps,
  reply: (err: ReturnType<typeof classifyError> | undefined, upstream?: net.Socket) => void,
  rest: Buffer,
): void {
  const startWall = Date.now();
  const startMono = performance.now();
  // Read now: the record is built after the client is gone, when Node no longer knows the peer.
  const src = `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`;
  client.pause();
  const upstream = connectUpstream(target, deps.connectTimeoutMs);
  const onError = (e: Error) => {
    const error = classifyError(e, 'connect');
    deps.metrics.errors.labels({ kind: `upstream_${error.kind}` }).inc();
    deps.logger.info({ dst: formatTarget(target), kind: error.kind }, `tunnel upstream failed: ${error.message}`);
    const durationMs = performance.now() - startMono;
    const stream = { chunks: [], bytesC2s: 0, bytesS2c: 0, truncated: false };
    deps.recorder.record(() =>
      tcpExchange({ startWall, durationMs, exchange: opts.exchange, src, dst: formatTarget(target), stream, error }),
    );
    reply(error);
  };
  upstream.once('error', onError);
  upstream.once('connect', () => {
    upstream.removeListener('error', onError);
    upstream.pause();
    reply(undefined, upstream);
    startTunnel(
      client,
      upstream,
      rest,
      { target, exchange: opts.exchange, tcpCap: opts.tcpCap, ...(opts.tls ? { tls: opts.tls } : {}) },
      deps,
    );
  });
  client.once('close', () => upstream.destroy());
}
