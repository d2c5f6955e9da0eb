/**
 * The mock's YAML config (`tapwire mock --config FILE`): matching rules per host/path, latency,
 * faults, seed and passthrough. One strict zod schema: an unknown key is an error with its path,
 * and every problem in the file is reported at once (ConfigInvalidError), as in src/config.
 *
 * Which rule applies to a request (RuleSet.resolve):
 * 1. a rule applies when its `host` glob matches the request's host (or `host:port` when the
 *    glob has a port) and its `path` glob matches the path; a missing `host`/`path` matches all;
 * 2. applying rules are ordered most specific first: by host (an exact name, then a glob with
 *    more literal characters, then no host at all), then by path the same way, then file order;
 * 3. each setting comes from the most specific rule that sets it; the others fill in what it
 *    leaves out (lists are not concatenated). So a catch-all rule sets defaults and a rule for
 *    one host overrides only what it names.
 */
import { z } from 'zod';
import { readConfigFile } from '../config/load.ts';
import { ConfigInvalidError, type ConfigIssue } from '../errors.ts';
import { parseJsonPath, type JsonPath } from './json-canon.ts';
import { compileGlob, compilePathPattern, type Glob, type PathPattern } from './path-pattern.ts';

/** A string checked by a compile function that throws an Error saying what is wrong. */
function compiled(check: (s: string) => unknown) {
  return z.string().superRefine((s, ctx) => {
    try {
      check(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
}

const hostGlob = z.string().min(1);
const pathGlob = z.string().regex(/^\//, 'a path glob starts with "/", e.g. "/users/**"');
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a header name, e.g. "x-tenant"')
  .transform((s) => s.toLowerCase());

export const mockRuleSchema = z.strictObject({
  host: hostGlob.optional(),
  path: pathGlob.optional(),
  /** Headers whose values must match (by default no header takes part in matching). */
  matchHeaders: z.array(headerName).optional(),
  /** Query parameters left out of matching (case-sensitive names). */
  ignoreQuery: z.array(z.string().min(1)).optional(),
  /** Parts of a JSON body (or of a decoded gRPC message, by field number: `$.3`) left out. */
  ignoreJsonPaths: z.array(compiled(parseJsonPath)).optional(),
  /** Templates (`/users/{id}`) or segment regexes (`[0-9]+`) that fold ids into one signature. */
  pathPatterns: z.array(compiled(compilePathPattern)).optional(),
  /** Match without looking at the body at all. */
  ignoreBody: z.boolean().optional(),
});

export const latencySchema = z
  .string()
  .regex(
    /^(none|recorded|(\d+(\.\d+)?|\.\d+)x)$/,
    'must be none, recorded, or a factor of the recorded time like 2x or 0.5x',
  );

export const faultSchema = z
  .strictObject({
    /** Named in the response header, so a test can tell an injected fault from a real one. */
    name: z.string().min(1),
    host: hostGlob.optional(),
    path: pathGlob.optional(),
    method: z
      .string()
      .min(1)
      .transform((s) => s.toUpperCase())
      .optional(),
    /** Chance that a matching request gets the fault (seeded, see `seed`). */
    probability: z.number().min(0).max(1).default(1),
    status: z.number().int().min(100).max(599).optional(),
    delayMs: z.number().nonnegative().optional(),
    /** Reset the connection instead of answering. */
    reset: z.boolean().optional(),
    /** Accept the request and never answer. */
    stall: z.boolean().optional(),
  })
  .refine((f) => f.status !== undefined || f.delayMs !== undefined || f.reset || f.stall, {
    message: 'a fault must do something: give status, delayMs, reset or stall',
  })
  .refine((f) => !(f.reset && f.stall), { message: 'reset and stall exclude each other', path: ['stall'] });

export const mockConfigSchema = z
  .strictObject({
    rules: z.array(mockRuleSchema).default([]),
    latency: latencySchema.default('none'),
    faults: z.array(faultSchema).default([]),
    /** Seed of the fault dice; the same seed gives the same faults for the same requests. */
    seed: z.number().int().optional(),
    /** Send requests that match nothing to the real host instead of answering 404. */
    passthrough: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.faults.forEach((f, i) => {
      if (seen.has(f.name))
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'name'],
          message: `"${f.name}" is already the name of another fault`,
        });
      seen.add(f.name);
    });
  });

export type MockConfig = z.output<typeof mockConfigSchema>;
export type MockRule = z.output<typeof mockRuleSchema>;
export type FaultSpec = z.output<typeof faultSchema>;

/** Settings a command line may set over the file (undefined means "not given"). */
export interface MockConfigOverrides {
  latency?: string | undefined;
  passthrough?: boolean | undefined;
  seed?: number | undefined;
}

/** Validates an already-parsed config; `source` names it in the error (a file, "the command line"). */
export function parseMockConfig(input: unknown, source: string): Readonly<MockConfig> {
  const result = mockConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const issues: ConfigIssue[] = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new ConfigInvalidError(source, issues);
  }
  return deepFreeze(result.data);
}

/** Reads, parses and validates a YAML config; flags in `overrides` win over the file. */
export function loadMockConfig(file: string | undefined, overrides: MockConfigOverrides = {}): Readonly<MockConfig> {
  const tree: Record<string, unknown> = file ? { ...readConfigFile(file) } : {};
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) tree[k] = v;
  const given = Object.values(overrides).some((v) => v !== undefined);
  return parseMockConfig(tree, file ? `${file}${given ? ' and the command line' : ''}` : 'the command line');
}

/** `none` → undefined (answer at once); `recorded` → 1; `2x` → 2: the factor on recorded durations. */
export function latencyFactor(latency: string): number | undefined {
  if (latency === 'none') return undefined;
  if (latency === 'recorded') return 1;
  return Number(latency.slice(0, -1));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The matching settings for one request, after precedence. */
export interface ResolvedRule {
  /** Lower-case header names, sorted. */
  readonly matchHeaders: readonly string[];
  readonly ignoreQuery: ReadonlySet<string>;
  readonly ignoreJsonPaths: readonly JsonPath[];
  readonly pathPatterns: readonly PathPattern[];
  readonly ignoreBody: boolean;
}

export const DEFAULT_RULE: ResolvedRule = Object.freeze({
  matchHeaders: [],
  ignoreQuery: new Set<string>(),
  ignoreJsonPaths: [],
  pathPatterns: [],
  ignoreBody: false,
});

interface CompiledRule {
  index: number;
  host: Glob | undefined;
  path: Glob | undefined;
  rule: MockRule;
}

/** Hosts remembered with their applicable rules; past this the memo starts over (bounded memory). */
const HOST_MEMO_LIMIT = 4096;

/** Resolves the rule for a request; memoised so the hot path does a map lookup or two. */
export class RuleSet {
  private readonly rules: CompiledRule[];
  private readonly byHost = new Map<string, CompiledRule[]>();
  private readonly merged = new Map<string, ResolvedRule>();

  constructor(rules: readonly MockRule[]) {
    this.rules = rules.map((rule, index) => ({
      index,
      rule,
      host: rule.host === undefined ? undefined : compileGlob(rule.host, 'host'),
      path: rule.path === undefined ? undefined : compileGlob(rule.path, 'path'),
    }));
  }

  /** `host` lower-case without port; `port` the request's port; `path` without the query. */
  resolve(host: string, port: number, path: string): ResolvedRule {
    if (this.rules.length === 0) return DEFAULT_RULE;
    const forHost = this.rulesForHost(host, port);
    if (forHost.length === 0) return DEFAULT_RULE;
    let key = '';
    const applying: CompiledRule[] = [];
    for (const r of forHost) {
      if (r.path && !r.path.test(path)) continue;
      applying.push(r);
      key += `${r.index},`;
    }
    if (applying.length === 0) return DEFAULT_RULE;
    let rule = this.merged.get(key);
    if (!rule) {
      rule = mergeRules(applying.map((r) => r.rule));
      if (this.merged.size >= HOST_MEMO_LIMIT) this.merged.clear();
      this.merged.set(key, rule);
    }
    return rule;
  }

  private rulesForHost(host: string, port: number): CompiledRule[] {
    const memoKey = `${host}:${port}`;
    let list = this.byHost.get(memoKey);
    if (list) return list;
    list = this.rules
      .filter((r) => !r.host || r.host.test(r.host.withPort ? memoKey : host))
      .sort(
        (a, b) =>
          (b.host?.specificity ?? -1) - (a.host?.specificity ?? -1) ||
          (b.path?.specificity ?? -1) - (a.path?.specificity ?? -1) ||
          a.index - b.index,
      );
    if (this.byHost.size >= HOST_MEMO_LIMIT) this.byHost.clear();
    this.byHost.set(memoKey, list);
    return list;
  }
}

/** Rules most specific first: each setting from the first rule that sets it. */
function mergeRules(rules: MockRule[]): ResolvedRule {
  const pick = <K extends keyof MockRule>(k: K): MockRule[K] => rules.find((r) => r[k] !== undefined)?.[k];
  return Object.freeze({
    matchHeaders: [...new Set(pick('matchHeaders') ?? [])].sort(),
    ignoreQuery: new Set(pick('ignoreQuery') ?? []),
    ignoreJsonPaths: (pick('ignoreJsonPaths') ?? []).map(parseJsonPath),
    pathPatterns: (pick('pathPatterns') ?? []).map(compilePathPattern),
    ignoreBody: pick('ignoreBody') ?? false,
  });
}
