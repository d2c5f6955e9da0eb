/**
 * Which TLS hosts are intercepted and which pass through untouched: the hosts named up front
 * (`--tls-passthrough`, exact names or `*.suffix`), and the hosts learned at run time whose
 * client refused our certificate (certificate pinning, a client with its own trust store). A
 * learned host passes through from its next connection on, so the app keeps working.
 */

/** Learned hosts kept; past this the oldest is forgotten (and would be tried once more). */
const MAX_LEARNED = 10_000;

export interface PassthroughReason {
  /** `configured`: named up front; `rejected`: the client refused our certificate. */
  why: 'configured' | 'rejected';
  detail?: string;
}

export class TlsPolicy {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly learned = new Map<string, string>();

  constructor(passthroughHosts: readonly string[] = []) {
    for (const raw of passthroughHosts) {
      const host = normalizeHost(raw);
      if (host.startsWith('*.')) this.suffixes.push(host.slice(1));
      else if (host) this.exact.add(host);
    }
  }

  /** Why `host` is not intercepted, or undefined when it is. */
  passthrough(host: string): PassthroughReason | undefined {
    const h = normalizeHost(host);
    if (this.exact.has(h) || this.suffixes.some((s) => h.endsWith(s))) return { why: 'configured' };
    const detail = this.learned.get(h);
    return detail === undefined ? undefined : { why: 'rejected', detail };
  }

  /** The client of `host` refused our certificate: pass it through from now on. */
  learnRejected(host: string, detail: string): void {
    const h = normalizeHost(host);
    if (this.learned.size >= MAX_LEARNED) {
      const oldest = this.learned.keys().next().value;
      if (oldest !== undefined) this.learned.delete(oldest);
    }
    this.learned.set(h, detail);
  }

  get learnedHosts(): string[] {
    return [...this.learned.keys()];
  }
}

function normalizeHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
