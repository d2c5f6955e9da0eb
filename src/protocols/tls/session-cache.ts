/**
 * TLS sessions of upstream servers, for resumption: a proxy opens many connections to the same
 * few servers, and a full handshake as a client costs the server's certificate chain decoded
 * (slow on OpenSSL 3.0), verified against the CA store, converted for Node's identity check, and
 * two more signatures checked. A resumed handshake skips all of that and keeps only the key
 * exchange. The verification it skips already happened for the same name: a session is stored
 * only from a connection that was verified (or with --insecure-upstream, where nothing is) and
 * is keyed by everything that verification depended on (the name checked, the SNI, the address).
 *
 * Node checks neither the certificate nor the host name of a resumed session again (OpenSSL
 * keeps the verification result in the session); a server that declines the session makes a
 * full handshake, which is verified as any other.
 */
import type tls from 'node:tls';

export interface SessionCacheStats {
  size: number;
  /** Sessions stored (TLS 1.3 servers usually send two tickets per connection). */
  stored: number;
  /** Connections offered a stored session. */
  offered: number;
  /** Of those, handshakes the server resumed. */
  resumed: number;
}

export class TlsSessionCache {
  readonly max: number;
  private readonly entries = new Map<string, Buffer>();
  private readonly counters = { stored: 0, offered: 0, resumed: 0 };

  constructor(opts: { max?: number } = {}) {
    this.max = Math.max(1, opts.max ?? 1000);
  }

  /** A stored session for `key` (to pass as tls.connect's `session`), if any. */
  get(key: string): Buffer | undefined {
    const session = this.entries.get(key);
    if (session) this.counters.offered++;
    return session;
  }

  set(key: string, session: Buffer): void {
    this.entries.delete(key); // re-inserted last: the map's order is the LRU order
    this.entries.set(key, session);
    this.counters.stored++;
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  get stats(): SessionCacheStats {
    return { size: this.entries.size, ...this.counters };
  }

  /**
   * Keeps the sessions `socket` receives under `key`, once it is known to be verified. Call right
   * after tls.connect (TLS 1.2 sessions arrive during the handshake, before verification is
   * known; TLS 1.3 tickets after it). `trusted` says whether an unverified peer is acceptable
   * (--insecure-upstream). A handshake that was offered a session and did not resume drops the
   * stale one.
   */
  track(socket: tls.TLSSocket, key: string, offered: boolean, trusted = false): void {
    let secure = false;
    let pending: Buffer | undefined;
    const ok = () => trusted || socket.authorized;
    socket.on('session', (session: Buffer) => {
      if (!secure) pending = session;
      else if (ok()) this.set(key, session);
    });
    socket.once('secureConnect', () => {
      secure = true;
      const resumed = socket.isSessionReused();
      if (resumed) this.counters.resumed++;
      else if (offered) this.entries.delete(key);
      if (pending && ok()) this.set(key, pending);
      pending = undefined;
    });
  }
}

/**
 * The cache key of an upstream connection: the name its certificate is checked against, the SNI
 * sent (none for an IP address), and the address connected to.
 */
export function upstreamSessionKey(
  identity: string,
  servername: string | undefined,
  host: string,
  port: number,
): string {
  return `${identity}\n${servername ?? ''}\n${host}\n${port}`;
}
