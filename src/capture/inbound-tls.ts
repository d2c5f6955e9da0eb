/**
 * Inbound TLS (`--tls-in-cert` / `--tls-in-key`): clients keep speaking TLS to the inbound
 * port, which answers with the app's own certificate, and the decrypted traffic is recorded and
 * forwarded to the app in plaintext, or over TLS again when the app is `https://HOST:PORT`.
 * When the app speaks TLS, its ALPN choice is mirrored to the client (h2 stays h2); a plaintext
 * app is offered to clients as HTTP/1.1 only, since whether it speaks h2c is unknown.
 *
 * A client that sends plaintext HTTP to this port gets a 400 that says so (as nginx does).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { TlsInfo } from '../model/exchange.ts';
import { parseClientHello } from '../protocols/tls/clienthello.ts';
import { sniffProtocol } from '../protocols/sniff.ts';
import { errorResponse } from './error-response.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import type { SessionDeps } from './http1-session.ts';
import { startTunnel } from './tunnel.ts';
import { connectUpstream, formatTarget, type Target } from './upstream.ts';

export interface InboundTlsOptions {
  app: Target;
  /** The app itself serves TLS (`--app https://…`). */
  appTls: boolean;
  /** The certificate clients see: the app's own. */
  serverContext: tls.SecureContext;
  /** Verifies the app's certificate when it serves TLS (built once, not per connection). */
  appContext: tls.SecureContext;
  insecureApp: boolean;
  exchange: ExchangeContext;
  tcpCap: number;
}

/** Opens a connection to the app as the inbound side needs it (TLS when the app serves TLS). */
export function appConnector(
  opts: Pick<InboundTlsOptions, 'app' | 'appTls' | 'appContext' | 'insecureApp'>,
  timeoutMs: number,
  alpn?: string[],
): (target: Target) => net.Socket {
  if (!opts.appTls) return (target) => connectUpstream(target, timeoutMs);
  return (target) =>
    tls.connect({
      host: target.host,
      port: target.port,
      ...(net.isIP(target.host) ? {} : { servername: target.host }),
      secureContext: opts.appContext,
      rejectUnauthorized: !opts.insecureApp,
      timeout: timeoutMs,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
}

export function handleInboundTls(client: net.Socket, opts: InboundTlsOptions, deps: SessionDeps): void {
  let buffered: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const kind = sniffProtocol(buffered);
    if (kind === 'need-more') return;
    if (kind !== 'tls') {
      client.removeListener('data', onData);
      deps.metrics.errors.labels({ kind: 'inbound_not_tls' }).inc();
      if (kind === 'http1') {
        client.end(
          errorResponse(
            400,
            'TW_PLAINTEXT_ON_TLS_PORT',
            'this port expects TLS (tapwire terminates it with --tls-in-cert): use https://',
          ),
        );
      } else client.destroy();
      return;
    }
    const hello = parseClientHello(buffered);
    if (hello.status === 'need-more') return;
    client.removeListener('data', onData);
    client.pause();
    if (hello.status !== 'ok') {
      deps.logger.info({ reason: 'reason' in hello ? hello.reason : hello.status }, 'unreadable TLS ClientHello');
      client.destroy();
      return;
    }
    const offered = hello.alpn;
    if (opts.appTls) {
      // Connect to the app first so the client is offered exactly what the app chose.
      const app = appConnector(opts, deps.connectTimeoutMs, offered)(opts.app) as tls.TLSSocket;
      app.once('error', (err) => {
        deps.logger.info({ app: formatTarget(opts.app), err: err.message }, 'cannot reach the app over TLS');
        client.destroy();
      });
      app.once('secureConnect', () => {
        app.removeAllListeners('error');
        app.pause();
        terminate(app.alpnProtocol || undefined, app);
      });
    } else {
      terminate(offered?.includes('http/1.1') ? 'http/1.1' : undefined, undefined);
    }
    function terminate(alpn: string | undefined, app: net.Socket | undefined): void {
      client.unshift(buffered);
      const clientTls = new tls.TLSSocket(client, {
        isServer: true,
        secureContext: opts.serverContext,
        ...(alpn ? { ALPNProtocols: [alpn] } : {}),
      });
      clientTls.once('error', (err) => {
        deps.logger.info({ err: err.message }, 'inbound TLS handshake failed');
        clientTls.destroy();
        app?.destroy();
      });
      // A client that leaves mid-handshake sends only a FIN; with the listener's allowHalfOpen
      // the socket would otherwise stay open for good.
      const onEarlyEnd = () => {
        clientTls.destroy();
        app?.destroy();
      };
      clientTls.once('end', onEarlyEnd);
      clientTls.once('secure', () => {
        clientTls.removeListener('end', onEarlyEnd);
        clientTls.removeAllListeners('error');
        clientTls.on('error', () => undefined);
        const info: TlsInfo = {
          mode: 'terminated',
          ...(hello.status === 'ok' && hello.sni ? { sni: hello.sni } : {}),
          ...(alpn ? { alpn: [alpn] } : {}),
          ...(clientTls.getProtocol() ? { version: clientTls.getProtocol() as string } : {}),
        };
        const reconnect = appConnector(opts, deps.connectTimeoutMs, alpn ? [alpn] : undefined);
        const upstream = app ?? reconnect(opts.app);
        startTunnel(
          clientTls,
          upstream,
          Buffer.alloc(0),
          {
            target: opts.app,
            exchange: { ...opts.exchange, scheme: 'https', tls: info },
            tcpCap: opts.tcpCap,
            reconnect,
          },
          deps,
        );
      });
    }
  };
  client.on('data', onData);
}
