/**
 * What a tunnel (CONNECT or SOCKS) carries decides how it is recorded. The first bytes tell:
 * the client sends a TLS ClientHello (passed through, SNI and ALPN recorded), an HTTP/1
 * request (proxied and recorded as HTTP exchanges), or something else, or the server speaks
 * first (MySQL, SMTP…): both recorded as raw TCP.
 */
import type net from 'node:net';
import { parseClientHello } from '../protocols/tls/clienthello.ts';
import { sniffProtocol } from '../protocols/sniff.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import { Http1Session, type SessionDeps } from './http1-session.ts';
import { runTcpTunnel } from './tcp-tunnel.ts';
import type { Target } from './upstream.ts';

/** Past this many bytes without a verdict the tunnel is taken as raw TCP. */
const SNIFF_LIMIT = 64 * 1024;

export interface TunnelOptions {
  target: Target;
  exchange: ExchangeContext;
  tcpCap: number;
}

export function startTunnel(
  client: net.Socket,
  upstream: net.Socket,
  first: Buffer,
  opts: TunnelOptions,
  deps: SessionDeps,
): void {
  let buffered = first;
  let decided = false;

  const detach = () => {
    decided = true;
    client.pause();
    upstream.pause();
    client.removeListener('data', onClient);
    upstream.removeListener('data', onUpstream);
    client.removeListener('close', onEarlyClose);
    upstream.removeListener('close', onEarlyClose);
    client.removeListener('end', onEarlyClose);
    upstream.removeListener('error', onUpstreamError);
  };

  const raw = (serverFirst?: Buffer) => {
    detach();
    if (serverFirst) client.write(serverFirst);
    runTcpTunnel(
      client,
      upstream,
      {
        target: opts.target,
        exchange: opts.exchange,
        tcpCap: opts.tcpCap,
        clientFirst: buffered,
        keepData: true,
        ...(serverFirst ? { serverFirst } : {}),
      },
      deps,
    );
  };

  const decide = () => {
    if (buffered.length === 0) return;
    const kind = sniffProtocol(buffered);
    if (kind === 'need-more' && buffered.length < SNIFF_LIMIT) return;
    if (kind === 'tls') {
      const hello = parseClientHello(buffered);
      if (hello.status === 'need-more' && buffered.length < SNIFF_LIMIT) return;
      detach();
      const tls =
        hello.status === 'ok'
          ? {
              mode: 'passthrough' as const,
              ...(hello.sni ? { sni: hello.sni } : {}),
              ...(hello.alpn ? { alpn: hello.alpn } : {}),
              version: hello.supportedVersions?.[0] ?? hello.legacyVersion,
            }
          : { mode: 'passthrough' as const };
      runTcpTunnel(
        client,
        upstream,
        { target: opts.target, exchange: opts.exchange, tcpCap: 0, clientFirst: buffered, keepData: false, tls },
        deps,
      );
      return;
    }
    if (kind === 'http1') {
      detach();
      const session = new Http1Session(
        client,
        { mode: 'reverse', target: opts.target, upstream, exchange: opts.exchange },
        deps,
      );
      session.feed(buffered);
      return;
    }
    raw();
  };

  const onClient = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    decide();
  };
  const onUpstream = (chunk: Buffer) => {
    if (!decided) raw(chunk); // the server spoke first: not HTTP, not TLS from this client
  };
  // Until a handler owns the sockets, an upstream error must not go unhandled (it would crash
  // the process): end the client and record what there was.
  const onUpstreamError = () => {
    if (decided) return;
    client.destroy();
    raw();
  };
  const onEarlyClose = () => {
    if (decided) return;
    // One side left before anything could be told apart: still a (short) TCP conversation.
    raw();
  };

  client.on('data', onClient);
  upstream.on('data', onUpstream);
  upstream.on('error', onUpstreamError);
  client.once('close', onEarlyClose);
  upstream.once('close', onEarlyClose);
  // The client half-closed without a byte: nothing will ever come to sniff (the listener allows
  // half-open connections, so the socket would otherwise wait for the idle timeout). The pipe
  // of the TCP tunnel passes the FIN on.
  client.once('end', onEarlyClose);
  client.resume();
  upstream.resume();
  decide();
}
