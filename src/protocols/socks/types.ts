/**
 * Shared types of the SOCKS server handshake (SOCKS4, SOCKS4a, SOCKS5). The handshake is
 * sans-IO: the listener feeds it the bytes it reads and carries out the steps it gets back.
 */

/** Where the client asked to be connected. */
export interface SocksTarget {
  /** IPv4 dotted quad, IPv6 in canonical form (RFC 5952, e.g. `::1`), or the domain as sent. */
  host: string;
  port: number;
  /** How the address travelled on the wire: a SOCKS4a or SOCKS5 domain stays a domain. */
  addressType: 'ipv4' | 'ipv6' | 'domain';
}

/**
 * One thing the listener must do. `push()` returns a list whose last element is always
 * `need-more`, `connect` or `fail`; only `send` steps come before it.
 */
export type SocksStep =
  /** Wait for more bytes from the client, then call `push()` again. */
  | { type: 'need-more' }
  /** Write these bytes to the client, then carry on with the next step. */
  | { type: 'send'; bytes: Buffer }
  /**
   * The handshake is done: dial `target`, then write `connectedReply()` or `failedReply()`.
   * `rest` holds the bytes the client sent after its request; they are already tunnel data
   * and belong to the upstream connection, in order, before anything read later.
   * `user` is the SOCKS5 username or the SOCKS4 userid (never the password), for the record.
   */
  | { type: 'connect'; version: 4 | 5; target: SocksTarget; user?: string; rest: Buffer }
  /** Write `bytes` (if any) to the client, then close the connection. */
  | { type: 'fail'; bytes?: Buffer; reason: string };

/** Why dialling the target failed, mapped to each version's reply code. */
export type SocksFailure = 'refused' | 'unreachable' | 'host-unreachable' | 'timeout' | 'general' | 'not-allowed';

export interface SocksServerOptions {
  /**
   * Checks SOCKS5 username/password credentials (RFC 1929). Without it any credentials are
   * accepted: the username is still reported so the capture can record who called. An
   * exception thrown here counts as a rejection.
   */
  authenticate?: (user: string, password: string) => boolean;
  /**
   * Refuse clients that do not authenticate: SOCKS5 clients must pick username/password and
   * SOCKS4 is refused (it cannot carry a password). Defaults to true when `authenticate` is
   * given (a checker that could be skipped would protect nothing), false otherwise.
   */
  requireAuth?: boolean;
}

/** The outcome of parsing one message from the front of the buffered bytes. */
export type Parsed<T> =
  { kind: 'need-more' } | { kind: 'error'; reason: string; reply?: Buffer } | { kind: 'ok'; value: T; size: number };

export const NEED_MORE = { kind: 'need-more' } as const;
