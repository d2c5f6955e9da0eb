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
import { startHttp2Tap } from './http2-tap.ts';
import { runTcpTunnel } from './tcp-tunnel.ts';
import { interceptTls, type TlsInterception } from './tls-intercept.ts';
import type { Target } from './upstream.ts';

/** Past this many bytes without a verdict the tunnel is taken as raw TCP. */
const SNIFF_LIMIT = 64 * 1024;

export interface TunnelOptions {
  target: Target;
  exchange: ExchangeContext;
  tcpCap: number;
  /** Outbound TLS interception (absent: TLS passes through). */
  tls?: TlsInterception;
  /** How an HTTP session inside the tunnel opens a new upstream connection (TLS when intercepted). */
  reconnect?: (target: Target) => net.Socket;
  /**
   * Called instead of recording when the tunnel closes before either side sent a byte (given for
   * the decrypted side of an intercepted TLS tunnel: clients open spare connections and drop
   * them unused, and an empty exchange per spare is noise in snapshots and in the mock).
   */
  onEmpty?: () => void;
}

export function startTunnel(
  client: net.Socket,
  upstream: net.Socket,
  first: Buffer,
  opts: TunnelOptions,
  deps: SessionDeps,
): void {
  // TLS that negotiated h2 carries HTTP/2, whatever comes first: the server's SETTINGS may well
  // arrive before the client's preface, which would otherwise read as a server-first protocol.
  const alpn = opts.exchange.tls?.alpn;
  if (alpn?.length === 1 && alpn[0] === 'h2') {
    startHttp2Tap(client, upstream, { target: opts.target, exchange: opts.exchange, clientFirst: first }, deps);
    return;
  }
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
    client.removeListener('end', onClientEnd);
    upstream.removeListener('error', onUpstreamError);
  };

  /** Server bytes held while waiting for the client (an HTTP/2 server's SETTINGS). */
  let serverHeld: Buffer | undefined;

  const raw = (serverFirst: Buffer | undefined = serverHeld) => {
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
        ...(opts.exchange.tls ? { tls: opts.exchange.tls } : {}),
      },
      deps,
    );
  };

  const decide = () => {
    if (buffered.length === 0) return;
    const kind = sniffProtocol(buffered);
    if (kind === 'need-more' && buffered.length < SNIFF_LIMIT) return;
    if (serverHeld && kind !== 'http2-preface') return raw(); // an h2 server, a client that is not
    if (kind === 'tls') {
      const hello = parseClientHello(buffered);
      if (hello.status === 'need-more' && buffered.length < SNIFF_LIMIT) return;
      detach();
      const host = hello.status === 'ok' ? (hello.sni ?? opts.target.host) : opts.target.host;
      const skip = opts.tls?.policy.passthrough(host);
      if (opts.tls && hello.status === 'ok' && !skip) {
        const interception = opts.tls;
        interceptTls(
          client,
          upstream,
          { target: opts.target, exchange: opts.exchange, hello, first: buffered, tls: interception },
          deps,
          // The decrypted pair is sniffed again (HTTP/1, h2 preface, or raw) and recorded as such.
          (plainClient, plainUpstream, exchange, reconnect) =>
            startTunnel(
              plainClient,
              plainUpstream,
              Buffer.alloc(0),
              {
                target: opts.target,
                exchange,
                tcpCap: opts.tcpCap,
                reconnect,
                onEmpty: () => deps.metrics.tlsEmptyTunnels.inc(),
              },
              deps,
            ),
        );
        return;
      }
      const tls =
        hello.status === 'ok'
          ? {
              mode: 'passthrough' as const,
              ...(hello.sni ? { sni: hello.sni } : {}),
              ...(hello.alpn ? { alpn: hello.alpn } : {}),
              version: hello.supportedVersions?.[0] ?? hello.legacyVersion,
            }
          : { mode: 'passthrough' as const };
      // Why it was not intercepted, for whoever reads the record.
      const why = !opts.tls ? undefined : skip ? skip.why : 'unreadable-client-hello';
      const exchange = why ? { ...opts.exchange, tags: { ...opts.exchange.tags, tlsPassthrough: why } } : opts.exchange;
      runTcpTunnel(
        client,
        upstream,
        { target: opts.target, exchange, tcpCap: 0, clientFirst: buffered, keepData: false, tls },
        deps,
      );
      return;
    }
    if (kind === 'http1') {
      detach();
      const session = new Http1Session(
        client,
        {
          mode: 'reverse',
          target: opts.target,
          upstream,
          exchange: opts.exchange,
          ...(opts.reconnect ? { connect: opts.reconnect } : {}),
        },
        deps,
      );
      session.feed(buffered);
      return;
    }
    if (kind === 'http2-preface') {
      // HTTP/2 (h2c prior knowledge, or h2 inside intercepted TLS): piped as is, streams recorded.
      detach();
      startHttp2Tap(
        client,
        upstream,
        { target: opts.target, exchange: opts.exchange, clientFirst: buffered, serverFirst: serverHeld },
        deps,
      );
      return;
    }
    raw();
  };

  const onClient = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    decide();
  };
  const onUpstream = (chunk: Buffer) => {
    if (decided) return;
    serverHeld = serverHeld ? Buffer.concat([serverHeld, chunk]) : chunk;
    // An HTTP/2 server sends its SETTINGS as soon as it accepts (h2c prior knowledge): they are
    // held until the client's preface. Any other server that speaks first is not HTTP.
    if (mayBeHttp2Settings(serverHeld) && serverHeld.length < SNIFF_LIMIT) return;
    raw();
  };
  // Until a handler owns the sockets, an upstream error must not go unhandled (it would crash
  // the process): end the client and record what there was.
  const onUpstreamError = () => {
    if (decided) return;
    client.destroy();
    raw();
  };
  const isEmpty = () => opts.onEmpty !== undefined && buffered.length === 0 && serverHeld === undefined;
  const onEarlyClose = () => {
    if (decided) return;
    if (isEmpty()) {
      // Nothing was said either way: not a conversation, so nothing to record.
      detach();
      client.destroy();
      upstream.destroy();
      opts.onEmpty?.();
      return;
    }
    // One side left before anything could be told apart: still a (short) TCP conversation.
    raw();
  };
  const onClientEnd = () => {
    if (decided) return;
    // An empty tunnel's client half-closed: pass its FIN on and wait for the server's answer (a
    // banner makes it a conversation after all) or for the close that ends it.
    if (isEmpty()) upstream.end();
    else onEarlyClose();
  };

  client.on('data', onClient);
  upstream.on('data', onUpstream);
  upstream.on('error', onUpstreamError);
  client.once('close', onEarlyClose);
  upstream.once('close', onEarlyClose);
  // The client half-closed without a byte: nothing will ever come to sniff (the listener allows
  // half-open connections, so the socket would otherwise wait for the idle timeout). The pipe
  // of the TCP tunnel passes the FIN on.
  client.once('end', onClientEnd);
  client.resume();
  upstream.resume();
  decide();
}

/** Whether the server's first bytes are (the start of) an HTTP/2 SETTINGS frame (§6.5). */
function mayBeHttp2Settings(b: Buffer): boolean {
  if (b.length >= 3 && b.readUIntBE(0, 3) % 6 !== 0) return false;
  // Type 4, no flags, stream 0.
  const expected = [4, 0, 0, 0, 0, 0];
  for (let i = 3; i < Math.min(b.length, 9); i++) if (b[i] !== expected[i - 3]) return false;
  return true;
}
