/**
 * The responder's index: recorded outbound requests filed by signature, answered in recorded
 * order. A Map from signature to the sequence of recorded exchanges for it: a lookup costs one
 * signature and one map get, whatever the number of recorded endpoints (never a scan). Each hit
 * advances that signature's cursor; past the end the last recorded answer repeats.
 *
 * Secondary maps (by protocol + host + method, by protocol + host, by protocol) exist only to
 * find near-miss candidates when a request matches nothing.
 */
import type { Exchange, TcpExchange } from '../model/exchange.ts';
import { RuleSet, type MockConfig } from './match-config.ts';
import { explainMiss, type IndexedEntry } from './near-miss.ts';
import { exchangeSignature, requestSignature, type AnswerableExchange, type Signature } from './signature.ts';
import type { MatchResult, MockRequest } from './types.ts';

/** Missed signatures whose explanation is remembered; past this the memo starts over. */
const MISS_MEMO_LIMIT = 1024;

/** Candidates looked at for one miss (host first, then anything of the protocol). */
export const NEAR_MISS_CANDIDATES = 200;

interface Entry extends IndexedEntry {
  /** Recorded answers in time order. */
  exchanges: AnswerableExchange[];
  /** How many times this signature was hit (the next answer is exchanges[min(next, length-1)]). */
  next: number;
}

/** What the index holds and what it left out (shown at start and on /matches). */
export interface MockIndexStats {
  /** Distinct signatures (recorded endpoints). */
  signatures: number;
  /** Outbound http/grpc/websocket exchanges filed under them. */
  exchanges: number;
  /** Outbound exchanges that failed before a response (error, no response): nothing to answer with. */
  unanswerable: number;
  /** Inbound exchanges (replay's business, not the mock's). */
  inbound: number;
  /** Outbound raw TCP conversations (served by tcpFor). */
  tcp: number;
}

export class MockIndex {
  private readonly bySignature = new Map<string, Entry>();
  private readonly byHostMethod = new Map<string, Entry[]>();
  private readonly byHost = new Map<string, Entry[]>();
  private readonly byProtocol = new Map<string, Entry[]>();
  private readonly tcp = new Map<string, TcpExchange[]>();
  /** Explanations of recent misses by signature (shared, read-only objects). */
  private readonly misses = new Map<string, ReturnType<typeof explainMiss>>();
  readonly stats: MockIndexStats = { signatures: 0, exchanges: 0, unanswerable: 0, inbound: 0, tcp: 0 };

  private constructor(readonly rules: RuleSet) {}

  static build(exchanges: Iterable<Exchange>, config: Pick<MockConfig, 'rules'>): MockIndex {
    const index = new MockIndex(new RuleSet(config.rules));
    const stamps = new Map<Exchange, number>();
    const stamp = (x: Exchange): number => {
      let t = stamps.get(x);
      if (t === undefined) stamps.set(x, (t = Date.parse(x.ts) || 0));
      return t;
    };
    for (const x of exchanges) {
      if (x.direction !== 'outbound') {
        index.stats.inbound++;
      } else if (x.protocol === 'tcp') {
        index.stats.tcp++;
        push(index.tcp, dstKey(x.dst ?? ''), x);
      } else if (!x.response) {
        // An error with no response (refused, reset, timeout): there is nothing to answer with.
        index.stats.unanswerable++;
      } else {
        index.stats.exchanges++;
        index.add(exchangeSignature(x, index.rules), x);
      }
    }
    // Recorded order is time order; sort is stable, so equal stamps keep file order.
    const byTime = (a: Exchange, b: Exchange): number => stamp(a) - stamp(b);
    for (const e of index.bySignature.values()) if (e.exchanges.length > 1) e.exchanges.sort(byTime);
    for (const list of index.tcp.values()) list.sort(byTime);
    index.stats.signatures = index.bySignature.size;
    return index;
  }

  /** Distinct recorded signatures (endpoints). */
  get size(): number {
    return this.bySignature.size;
  }

  /** The signature a live request gets (exposed for logs and /matches). */
  signature(req: MockRequest): Signature {
    return requestSignature(req, this.rules);
  }

  /** Answers a request: the next recorded exchange for its signature, or a miss with candidates. */
  match(req: MockRequest): MatchResult {
    const sig = requestSignature(req, this.rules);
    const entry = this.bySignature.get(sig.key);
    if (entry) {
      const occurrence = Math.min(entry.next, entry.exchanges.length - 1);
      if (entry.next < entry.exchanges.length) entry.next++;
      return { kind: 'hit', exchange: entry.exchanges[occurrence] as Exchange, occurrence, signature: sig.key };
    }
    // The index does not change while serving, so the same miss has the same explanation.
    let explained = this.misses.get(sig.key);
    if (!explained) {
      explained = explainMiss(sig.parts, this.candidatesFor(sig));
      if (this.misses.size >= MISS_MEMO_LIMIT) this.misses.clear();
      this.misses.set(sig.key, explained);
    }
    return { kind: 'miss', signature: sig.key, candidates: explained.candidates, explanation: explained.explanation };
  }

  /** Rewinds every sequence to its first recorded answer (a new test run, a reload). */
  reset(): void {
    for (const e of this.bySignature.values()) e.next = 0;
  }

  /** Recorded raw TCP conversations to `host:port`, in recorded order (empty when none). */
  tcpFor(dst: string): TcpExchange[] {
    return this.tcp.get(dstKey(dst)) ?? [];
  }

  private add(sig: Signature, x: AnswerableExchange): void {
    const found = this.bySignature.get(sig.key);
    if (found) {
      found.exchanges.push(x);
      return;
    }
    const entry: Entry = { key: sig.key, parts: sig.parts, exchanges: [x], next: 0 };
    this.bySignature.set(sig.key, entry);
    const p = sig.parts;
    push(this.byHostMethod, `${p.protocol} ${p.method} ${p.host}`, entry);
    push(this.byHost, `${p.protocol} ${p.host}`, entry);
    push(this.byProtocol, p.protocol, entry);
  }

  /** At most NEAR_MISS_CANDIDATES entries: same host and method, then same host, then same protocol. */
  private candidatesFor(sig: Signature): IndexedEntry[] {
    const p = sig.parts;
    const seen = new Set<IndexedEntry>();
    for (const list of [
      this.byHostMethod.get(`${p.protocol} ${p.method} ${p.host}`),
      this.byHost.get(`${p.protocol} ${p.host}`),
      this.byProtocol.get(p.protocol),
    ]) {
      for (const e of list ?? []) {
        if (seen.size >= NEAR_MISS_CANDIDATES) return [...seen];
        seen.add(e);
      }
    }
    return [...seen];
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** `Host:Port`, `[v6]:port` and `v6:port` all file under lower-case host and port. */
function dstKey(dst: string): string {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(dst.trim());
  return m ? `${(m[1] as string).toLowerCase()} ${m[2]}` : dst.trim().toLowerCase();
}
