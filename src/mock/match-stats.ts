/**
 * What the mock did with the requests it got: matched (per signature), missed (with the
 * explanation and the closest candidates, once per distinct request), passed through, and the
 * faults it injected. Read by /matches, /metrics and the summary `tapwire mock` prints at exit.
 * Bounded: past MAX_DISTINCT distinct entries a list stops growing and only its counts go up.
 */
import type { NearMiss } from './types.ts';

export const MAX_DISTINCT = 1000;

export interface MissEntry {
  request: string;
  signature: string;
  explanation: string;
  candidates: NearMiss[];
  count: number;
}

export interface PassEntry {
  request: string;
  /** Status the real host answered, or the error that kept it from answering. */
  status?: number;
  error?: string;
  count: number;
}

export interface MatchEntry {
  signature: string;
  /** The first request that matched it, for a person reading the list. */
  request: string;
  count: number;
}

export interface StatsSnapshot {
  matched: number;
  missed: number;
  passedThrough: number;
  malformed: number;
  faults: Record<string, number>;
  matches: MatchEntry[];
  misses: MissEntry[];
  passthroughs: PassEntry[];
  /** Distinct entries left out of the lists above once they reached their bound. */
  overflow: number;
}

export class MatchStats {
  matched = 0;
  missed = 0;
  passedThrough = 0;
  malformed = 0;
  overflow = 0;
  private readonly matches = new Map<string, MatchEntry>();
  private readonly misses = new Map<string, MissEntry>();
  private readonly passes = new Map<string, PassEntry>();
  readonly faults = new Map<string, number>();

  hit(signature: string, request: () => string): void {
    this.matched++;
    const entry = this.matches.get(signature);
    if (entry) entry.count++;
    else if (this.matches.size < MAX_DISTINCT) this.matches.set(signature, { signature, request: request(), count: 1 });
    else this.overflow++;
  }

  miss(request: string, signature: string, explanation: string, candidates: NearMiss[]): void {
    this.missed++;
    const entry = this.misses.get(request);
    if (entry) entry.count++;
    else if (this.misses.size < MAX_DISTINCT)
      this.misses.set(request, { request, signature, explanation, candidates, count: 1 });
    else this.overflow++;
  }

  passed(request: string, outcome: { status?: number; error?: string }): void {
    this.passedThrough++;
    const entry = this.passes.get(request);
    if (entry) {
      entry.count++;
      Object.assign(entry, outcome);
    } else if (this.passes.size < MAX_DISTINCT) this.passes.set(request, { request, ...outcome, count: 1 });
    else this.overflow++;
  }

  fault(name: string): void {
    this.faults.set(name, (this.faults.get(name) ?? 0) + 1);
  }

  snapshot(): StatsSnapshot {
    return {
      matched: this.matched,
      missed: this.missed,
      passedThrough: this.passedThrough,
      malformed: this.malformed,
      faults: Object.fromEntries(this.faults),
      matches: [...this.matches.values()].map((e) => ({ ...e })),
      misses: [...this.misses.values()].map((e) => ({ ...e })),
      passthroughs: [...this.passes.values()].map((e) => ({ ...e })),
      overflow: this.overflow,
    };
  }
}
