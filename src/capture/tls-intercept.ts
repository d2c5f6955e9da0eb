/**
 * Outbound TLS interception: a tunnel (CONNECT, SOCKS, later transparent) whose client sent a
 * ClientHello is terminated here with a leaf for its server name, and re-originated to the real
 * server over TLS that verifies that server. The upstream handshake runs first, offering the
 * client's own ALPN list, and the client is then offered only what the server chose, so both
 * sides speak the same protocol (h2, http/1.1, or none). The decrypted streams then go back to
 * the tunnel's protocol sniffing and are recorded as any plaintext tunnel would be.
 *
 * Never a silently trusted connection: an upstream whose certificate fails verification is
 * reported to the client (a 502 naming the reason for an HTTP/1 client, otherwise the
 * connection is closed) and recorded with a `tls` error. A client that refuses our certificate
 * (pinning) makes its host pass through untouched from its next connection on.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ExchangeError, TlsInfo } from '../model/exchange.ts';
import type { ClientHelloResult } from '../protocols/tls/clienthello.ts';

export type ClientHello = Extract<ClientHelloResult, { status: 'ok' }>;
import type { LeafCache } from '../protocols/tls/leaf-cache.ts';
import { TlsSessionCache, upstreamSessionKey } from '../protocols/tls/session-cache.ts';
import { sniffProtocol } from '../protocols/sniff.ts';
import { errorResponse } from './error-response.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import type { SessionDeps } from './http1-session.ts';
import { tcpExchange } from './tcp-tunnel.ts';
import type { TlsPolicy } from './tls-policy.ts';
import { formatTarget, type Target } from './upstream.ts';

export interface TlsInterception {
  leaves: LeafCache;
  policy: TlsPolicy;
  /**
   * Verifies real servers (system CAs plus --upstream-ca). Built once: parsing the CA list for
   * every connection cost tens of ms of CPU per handshake.
   */
  upstreamContext: tls.SecureContext;
  /** --insecure-upstream: accept any upstream certificate (unsafe; for tests against self-signed servers). */
  insecureUpstream: boolean;
  /**
   * Sessions of upstream servers, resumed by later connections to the same server under the
   * same name (no chain to decode and verify again). Made on first use when not given.
   */
  sessions?: TlsSessionCache;
  /** Something the user should see in `tapwire tail` (a host switched to passthrough). */
  notice?: (message: string) => void;
}

export interface InterceptOptions {
  target: Target;
  exchange: ExchangeContext;
  hello: ClientHello;
  /** The client's bytes read so far (the ClientHello), handed back to the TLS layer. */
  first: Buffer;
  tls: TlsInterception;
}

/** Called with the decrypted pair to sniff and record what they carry. */
export type ContinueTunnel = (
  client: tls.TLSSocket,
  upstream: tls.TLSSocket,
  exchange: ExchangeContext,
  reconnect: (target: Target) => net.Socket,
) => void;

export function interceptTls(
  client: net.Socket,
  upstream: net.Socket,
  opts: InterceptOptions,
  deps: SessionDeps,
  next: ContinueTunnel,
): void {
  const { hello, target } = opts;
  const sni = serverName(hello.sni);
  const startWall = Date.now();
  const startMono = performance.now();
  const src = `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`;
  const dst = formatTarget(target);
  const host = sni ?? target.host;
  const offered = hello.alpn;
  const leaf = opts.tls.leaves.contextFor(host);
  leaf.catch(() => undefined); // handled where it is awaited; never an unhandled rejection

  const upTls = connectUpstreamTls(target, sni, opts.tls, deps.connectTimeoutMs, {
    socket: upstream,
    ...(offered ? { ALPNProtocols: offered } : {}),
  });
  const upTimer = setTimeout(
    () => upTls.destroy(Object.assign(new Error('TLS handshake timed out'), { code: 'ETIMEDOUT' })),
    deps.connectTimeoutMs,
  );
  upTimer.unref();

  const record = (error: ExchangeError, info: TlsInfo, tags?: Record<string, string>) => {
    const durationMs = performance.now() - startMono;
    const exchange = tags ? { ...opts.exchange, tags: { ...opts.exchange.tags, ...tags } } : opts.exchange;
    const stream = { chunks: [], bytesC2s: 0, bytesS2c: 0, truncated: false };
    deps.recorder.record(() => tcpExchange({ startWall, durationMs, exchange, src, dst, stream, tls: info, error }));
  };

  const baseInfo = (alpn?: string, version?: string | null): TlsInfo => ({
    mode: 'intercepted',
    ...(hello.sni ? { sni: hello.sni } : {}),
    ...(alpn ? { alpn: [alpn] } : offered ? { alpn: offered } : {}),
    ...(version ? { version } : {}),
  });

  const onUpstreamFailure = (err: Error) => {
    clearTimeout(upTimer);
    const reason = describeUpstreamTlsError(err);
    const message = `${dst}: TLS to the real server failed: ${reason}`;
    deps.metrics.errors.labels({ kind: 'upstream_tls' }).inc();
    deps.logger.info({ dst, sni: hello.sni, code: (err as NodeJS.ErrnoException).code }, message);
    record({ kind: 'tls', message, phase: 'connect' }, baseInfo());
    answerWithError(client, opts.first, leaf, offered, message, deps);
  };
  upTls.once('error', onUpstreamFailure);

  upTls.once('secureConnect', () => {
    clearTimeout(upTimer);
    upTls.removeListener('error', onUpstreamFailure);
    upTls.pause();
    deps.metrics.tlsHandshakes.labels({ side: 'upstream', resumed: upTls.isSessionReused() ? 'true' : 'false' }).inc();
    const alpn = upTls.alpnProtocol || undefined;
    leaf.then(
      (secureContext) => terminateClient(secureContext, alpn),
      (err: Error) => {
        deps.logger.error({ host, err: err.message }, 'could not issue a leaf certificate');
        record({ kind: 'tls', message: `could not issue a certificate for ${host}: ${err.message}` }, baseInfo(alpn));
        upTls.destroy();
        client.destroy();
      },
    );
  });

  const terminateClient = (secureContext: tls.SecureContext, alpn: string | undefined) => {
    if (client.destroyed) {
      upTls.destroy();
      return;
    }
    client.unshift(opts.first); // the ClientHello, read while sniffing, goes to the TLS layer
    const clientTls = new tls.TLSSocket(client, {
      isServer: true,
      secureContext,
      ...(alpn ? { ALPNProtocols: [alpn] } : {}),
    });
    let secure = false;
    const onHandshakeError = (err: Error) => {
      if (secure) return;
      upTls.destroy();
      const code = (err as NodeJS.ErrnoException).code ?? '';
      // Only an alert is a refusal: a client that merely drops the connection mid-handshake
      // (a load tool, a timeout) must not switch its host to passthrough for good.
      const refused = code.includes('ALERT');
      if (refused) {
        const detail = `${err.message}${code ? ` (${code})` : ''}`;
        opts.tls.policy.learnRejected(host, detail);
        const note = `the client refused tapwire's certificate for ${host} (${detail}); ${host} now passes through untouched`;
        deps.logger.warn({ host }, note);
        opts.tls.notice?.(note);
        deps.metrics.errors.labels({ kind: 'tls_client_rejected' }).inc();
        record({ kind: 'tls', message: note, phase: 'connect' }, baseInfo(alpn), { tlsFallback: 'passthrough' });
      } else if (code === 'ECONNRESET' || code === 'EPIPE') {
        // The client reset a connection it no longer wanted (a spare dial dropped): no
        // application byte either way, so counted rather than recorded (see tunnel.ts).
        deps.metrics.tlsEmptyTunnels.inc();
      } else {
        record({ kind: 'tls', message: `TLS handshake with the client failed: ${err.message}` }, baseInfo(alpn));
      }
      clientTls.destroy();
    };
    clientTls.once('error', onHandshakeError);
    clientTls.once('close', () => {
      if (!secure) {
        upTls.destroy();
      }
    });
    // A client that leaves mid-handshake (a spare connection dropped, a dial cancelled) sends
    // just a FIN, no alert and no error. The socket inherits the listener's allowHalfOpen, so
    // nothing would ever close it: both legs and their descriptors stayed open for good.
    clientTls.once('end', () => {
      if (secure) return;
      deps.metrics.tlsEmptyTunnels.inc();
      clientTls.destroy();
    });
    clientTls.once('secure', () => {
      secure = true;
      clientTls.removeListener('error', onHandshakeError);
      deps.metrics.tlsHandshakes
        .labels({ side: 'client', resumed: clientTls.isSessionReused() ? 'true' : 'false' })
        .inc();
      // Later errors belong to whoever reads the stream; this keeps one from going unhandled.
      clientTls.on('error', () => undefined);
      upTls.on('error', () => undefined);
      const info = baseInfo(alpn, clientTls.getProtocol());
      const reconnect = (t: Target) =>
        connectUpstreamTls(t, sni, opts.tls, deps.connectTimeoutMs, {
          host: t.host,
          port: t.port,
          ...(alpn ? { ALPNProtocols: [alpn] } : {}),
        });
      next(clientTls, upTls, { ...opts.exchange, scheme: 'https', tls: info }, reconnect);
    });
  };
}

/**
 * The server name to use: the SNI as sent, without a `:port` some clients wrongly append
 * (a port is not part of a host_name, RFC 6066 §3).
 */
function serverName(sni: string | undefined): string | undefined {
  if (!sni) return undefined;
  const m = /^([^:]+):\d+$/.exec(sni);
  return m ? m[1] : sni;
}

/**
 * A TLS connection to the real server, verified unless --insecure-upstream, resuming the last
 * session of the same server and name when there is one (see session-cache.ts).
 */
function connectUpstreamTls(
  target: Target,
  sni: string | undefined,
  interception: TlsInterception,
  timeoutMs: number,
  extra: tls.ConnectionOptions,
): tls.TLSSocket {
  // The name checked against the certificate: the one the client asked for, else the target.
  const identity = sni ?? target.host;
  const servername = sni && !net.isIP(sni) ? sni : undefined;
  const sessions = (interception.sessions ??= new TlsSessionCache());
  const key = upstreamSessionKey(identity, servername, target.host, target.port);
  const session = sessions.get(key);
  const socket = tls.connect({
    ...(servername ? { servername } : {}),
    secureContext: interception.upstreamContext,
    rejectUnauthorized: !interception.insecureUpstream,
    checkServerIdentity: (_name, cert) => tls.checkServerIdentity(identity, cert),
    timeout: timeoutMs,
    ...(session ? { session } : {}),
    ...extra,
  });
  sessions.track(socket, key, session !== undefined, interception.insecureUpstream);
  return socket;
}

/** A reason a person can act on, from Node's TLS error codes. */
export function describeUpstreamTlsError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const hint =
    'tapwire never trusts it silently: use --upstream-ca FILE to trust a private CA, or --insecure-upstream (unsafe)';
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return `its certificate has expired; ${hint}`;
    case 'CERT_NOT_YET_VALID':
      return `its certificate is not valid yet; ${hint}`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `its certificate is for another host (${err.message}); ${hint}`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return `its certificate is not signed by a trusted CA (${code}); ${hint}`;
    case 'ETIMEDOUT':
      return 'the TLS handshake timed out';
    case 'ECONNRESET':
      return 'the server closed the connection during the TLS handshake';
    default:
      return `${err.message}${code ? ` (${code})` : ''}`;
  }
}

/**
 * Tells the client why its connection cannot go on: complete the handshake with our leaf and,
 * if it speaks HTTP/1, answer 502 with the reason; anything else is closed.
 */
function answerWithError(
  client: net.Socket,
  first: Buffer,
  leaf: Promise<tls.SecureContext>,
  offered: string[] | undefined,
  message: string,
  deps: SessionDeps,
): void {
  leaf.then(
    (secureContext) => {
      if (client.destroyed) return;
      client.unshift(first);
      const clientTls = new tls.TLSSocket(client, {
        isServer: true,
        secureContext,
        ...(offered?.includes('http/1.1') ? { ALPNProtocols: ['http/1.1'] } : {}),
      });
      clientTls.on('error', () => clientTls.destroy());
      clientTls.once('data', (first: Buffer) => {
        if (sniffProtocol(first) === 'http1') clientTls.end(errorResponse(502, 'TW_UPSTREAM_TLS', message));
        else clientTls.destroy();
      });
      setTimeout(() => clientTls.destroy(), deps.connectTimeoutMs).unref();
    },
    () => client.destroy(),
  );
}
