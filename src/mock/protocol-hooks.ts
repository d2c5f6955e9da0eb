/**
 * Where serving protocols other than HTTP/1 plugs in. The front door terminates TLS, sniffs
 * what a connection carries and hands it over: an HTTP/2 preface (or ALPN h2) to `http2`, an
 * HTTP/1 `Upgrade: websocket` to `websocket`, and a tunnel whose bytes are not HTTP (or whose
 * destination has recorded TCP conversations where the server speaks first) to `tcp`. A hook
 * that is absent means the mock cannot serve that protocol: the connection is answered with an
 * error (HTTP/1) or closed.
 */
import type { Duplex } from 'node:stream';
import type { TcpExchange } from '../model/exchange.ts';
import type { Http1Head } from '../protocols/http1/head.ts';
import type { MockEngine } from './engine.ts';
import type { MockRequest } from './types.ts';

export interface Origin {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

/** What is known of a connection when it is handed over. */
export interface ConnectionContext {
  /**
   * Where the client believes it is talking: the CONNECT or SOCKS target, or the HOST:PORT of
   * a --map listener. `fixed`: every request goes there (a --map listener), whatever its Host
   * header says; otherwise the Host header (or :authority) names the origin, as in record.
   */
  origin: Origin;
  fixed: boolean;
  /** Set when the mock terminated TLS on this connection. */
  tls?: { sni?: string | undefined; alpn?: string | undefined };
  engine: MockEngine;
  /** `src` of the client, for logs. */
  peer: string;
}

export interface ProtocolHooks {
  /** HTTP/2 (gRPC included): `first` holds bytes already read (the preface, possibly more). */
  http2?(socket: Duplex, first: Buffer, ctx: ConnectionContext): void;
  /**
   * An HTTP/1 request asking to upgrade to WebSocket, after every earlier response on the
   * connection was written. `rest` holds bytes read after the head.
   */
  websocket?(socket: Duplex, head: Http1Head, req: MockRequest, rest: Buffer, ctx: ConnectionContext): void;
  /** Raw TCP: the recorded conversations to `origin`, and the client bytes read so far. */
  tcp?(socket: Duplex, first: Buffer, conversations: readonly TcpExchange[], ctx: ConnectionContext): void;
}
