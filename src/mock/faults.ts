/**
 * Fault injection: rules from the mock config pick requests by host, path and method, and fire
 * with a probability drawn from a seeded PRNG, so that a run with the same seed and the same
 * requests in the same order injects the same faults. Each fault is named in the response
 * (`X-Tapwire-Fault: NAME`) so that a failing test says which fault it met.
 *
 *   status   answer this status with a short body instead of the recorded response
 *   delayMs  wait this long first (then the recorded response, or the status)
 *   reset    destroy the connection (a TCP RST where the platform allows)
 *   stall    never answer; the connection stays open until the client gives up
 */
import { compileGlob, type Glob } from './path-pattern.ts';
import type { MockRequest } from './types.ts';

export interface FaultRule {
  name: string;
  /** Globs as in the mock config's rules (path-pattern.ts): `*.example.com`, `/api/**`. */
  host?: string | undefined;
  path?: string | undefined;
  method?: string | undefined;
  /** 0..1. */
  probability: number;
  status?: number | undefined;
  delayMs?: number | undefined;
  reset?: boolean | undefined;
  stall?: boolean | undefined;
}

export interface Fault {
  name: string;
  status?: number | undefined;
  delayMs: number;
  reset: boolean;
  stall: boolean;
}

/** mulberry32: a tiny, fast PRNG with a 32-bit state; enough to make fault draws repeatable. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CompiledRule {
  rule: FaultRule;
  host: Glob | undefined;
  path: Glob | undefined;
  method: string | undefined;
}

export class FaultInjector {
  private readonly rules: CompiledRule[];
  private readonly random: () => number;
  /** Faults fired so far, by name. */
  readonly fired = new Map<string, number>();

  constructor(rules: readonly FaultRule[], seed: number) {
    this.rules = rules.map((rule) => ({
      rule,
      host: rule.host === undefined ? undefined : compileGlob(rule.host, 'host'),
      path: rule.path === undefined ? undefined : compileGlob(rule.path, 'path'),
      method: rule.method?.toUpperCase(),
    }));
    this.random = mulberry32(seed);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The fault for this request, if a rule picks it and its draw fires. */
  pick(req: Pick<MockRequest, 'host' | 'port' | 'path' | 'method'>): Fault | undefined {
    for (const c of this.rules) {
      if (c.method !== undefined && c.method !== req.method.toUpperCase()) continue;
      if (c.host && !c.host.test(c.host.withPort ? `${req.host}:${req.port}` : req.host)) continue;
      if (c.path && !c.path.test(req.path)) continue;
      // One draw per rule that applies, in rule order: the sequence depends only on the seed
      // and the requests, not on which faults happened to fire before.
      if (this.random() >= c.rule.probability) continue;
      this.fired.set(c.rule.name, (this.fired.get(c.rule.name) ?? 0) + 1);
      return {
        name: c.rule.name,
        status: c.rule.status,
        delayMs: c.rule.delayMs ?? 0,
        reset: c.rule.reset ?? false,
        stall: c.rule.stall ?? false,
      };
    }
    return undefined;
  }
}
