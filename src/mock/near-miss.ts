/**
 * Near misses (mockttp's explain() model): when a request matches no signature, say which
 * recorded requests came closest and exactly which parts differ, so a person can fix the config
 * (an id to fold, a query parameter or JSON path to ignore) or see the app changed.
 *
 * Work is bounded: the index hands over at most a few hundred candidates, each compared part by
 * part from its stored signature parts (no re-parsing), JSON flattened to at most 500 leaves.
 */
import type { NearMiss } from './types.ts';
import { flattenJson } from './json-canon.ts';
import { pairsText, type AnswerableExchange, type BodyParts, type SignatureParts } from './signature.ts';

/** What the index keeps per signature that near-miss reads. */
export interface IndexedEntry {
  key: string;
  parts: SignatureParts;
  exchanges: AnswerableExchange[];
  /** The path's segments, split on first use and kept (misses repeat against the same entries). */
  segments?: string[];
}

export const MAX_CANDIDATES = 3;
/** Candidates compared part by part after the quick pass. */
const FULLY_COMPARED = 12;
/** Differences listed per part (query, body, headers) and in all. */
const MAX_PER_PART = 5;
const MAX_DIFFERENCES = 12;

/** How much each part counts in the score (sums to 1). */
const WEIGHTS = { host: 0.25, method: 0.15, path: 0.3, query: 0.1, body: 0.15, headers: 0.05 };

type Difference = NearMiss['differences'][number];

export function explainMiss(
  received: SignatureParts,
  entries: readonly IndexedEntry[],
): { candidates: NearMiss[]; explanation: string } {
  // A cheap first pass (host, method, path) picks the few worth a full part-by-part comparison.
  const segs = received.path.slice(1).split('/');
  const quick = entries
    .map((e) => ({ e, q: quickScore(e, received, segs) }))
    .sort((a, b) => b.q - a.q)
    .slice(0, FULLY_COMPARED);
  const scored = quick.map(({ e }) => compare(e, received)).sort((a, b) => b.score - a.score);
  const candidates = scored.slice(0, MAX_CANDIDATES);
  return { candidates, explanation: explain(received, candidates, entries) };
}

function quickScore(entry: IndexedEntry, got: SignatureParts, segs: string[]): number {
  const rec = entry.parts;
  let score = (rec.host === got.host ? WEIGHTS.host : 0) + (rec.method === got.method ? WEIGHTS.method : 0);
  if (rec.path === got.path) return score + WEIGHTS.path;
  const recSegs = (entry.segments ??= rec.path.slice(1).split('/'));
  let equal = 0;
  for (let i = 0; i < Math.min(recSegs.length, segs.length); i++) if (recSegs[i] === segs[i]) equal++;
  score += (WEIGHTS.path * equal) / Math.max(recSegs.length, segs.length);
  return score;
}

function compare(entry: IndexedEntry, got: SignatureParts): NearMiss {
  const rec = entry.parts;
  const first = entry.exchanges[0] as AnswerableExchange;
  const diffs: Difference[] = [];
  const diff = (part: string, recorded: string, receivedValue: string): void => {
    diffs.push({ part, recorded: clip(recorded), received: clip(receivedValue) });
  };

  const host = rec.host === got.host ? 1 : 0;
  if (!host) diff('host', q(rec.host), q(got.host));
  const method = rec.method === got.method ? 1 : 0;
  if (!method) diff('method', q(rec.method), q(got.method));
  const path = comparePath(rec, got, diff);
  const query = comparePairs('query.', rec.query, got.query, diff);
  const headers = comparePairs('header.', rec.headers, got.headers, diff);
  const body = compareBody(rec.body, got.body, first.request.body?.truncated === true, diff);
  // Most telling first: host, method, path, query, body, headers.
  const order = (d: Difference): number => PART_ORDER.findIndex((p) => d.part === p || d.part.startsWith(p));
  diffs.sort((a, b) => order(a) - order(b));

  const score =
    WEIGHTS.host * host +
    WEIGHTS.method * method +
    WEIGHTS.path * path +
    WEIGHTS.query * query +
    WEIGHTS.body * body +
    WEIGHTS.headers * headers;
  return {
    exchangeId: first.id,
    request: `${first.request.method} ${first.request.url}`,
    differences: diffs.slice(0, MAX_DIFFERENCES),
    score: Math.round(score * 1000) / 1000,
  };
}

const PART_ORDER = ['host', 'method', 'grpc.', 'path', 'query.', 'body', 'header.'];

/** Same length: each differing segment by position (1-based); otherwise the whole path. */
function comparePath(
  rec: SignatureParts,
  got: SignatureParts,
  diff: (p: string, r: string, g: string) => void,
): number {
  if (rec.grpc && got.grpc) {
    let same = 1;
    for (const k of ['service', 'method'] as const) {
      if (rec.grpc[k] === got.grpc[k]) continue;
      same -= 0.5;
      diff(`grpc.${k}`, q(rec.grpc[k]), q(got.grpc[k]));
    }
    return same;
  }
  const a = rec.path.slice(1).split('/');
  const b = got.path.slice(1).split('/');
  let equal = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] === b[i]) equal++;
  if (a.length !== b.length) {
    diff('path', q(rec.path), q(got.path));
  } else {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff(`path segment ${i + 1}`, q(a[i]), q(b[i]));
  }
  return equal / Math.max(a.length, b.length, 1);
}

/** Query parameters or headers by name (repeated values joined); 1 when both are empty. */
function comparePairs(
  prefix: string,
  rec: Array<[string, string]>,
  got: Array<[string, string]>,
  diff: (p: string, r: string, g: string) => void,
): number {
  const a = group(rec);
  const b = group(got);
  const names = new Set([...a.keys(), ...b.keys()]);
  if (names.size === 0) return 1;
  let equal = 0;
  let listed = 0;
  for (const name of names) {
    const ra = a.get(name);
    const gb = b.get(name);
    if (ra === gb) {
      equal++;
    } else if (listed++ < MAX_PER_PART) {
      diff(`${prefix}${name}`, ra === undefined ? ABSENT : q(ra), gb === undefined ? ABSENT : q(gb));
    }
  }
  return equal / names.size;
}

const ABSENT = '(absent)';

function group(pairs: Array<[string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of pairs) out.set(k, out.has(k) ? `${out.get(k)}, ${v}` : v);
  return out;
}

function compareBody(
  rec: BodyParts,
  got: BodyParts,
  truncated: boolean,
  diff: (p: string, r: string, g: string) => void,
): number {
  if (rec.kind === 'ignored' || got.kind === 'ignored') return 1;
  if (rec.kind !== got.kind) {
    diff('body', describeBody(rec, truncated), describeBody(got, false));
    return 0;
  }
  switch (rec.kind) {
    case 'none':
      return 1;
    case 'bytes': {
      const same = rec.sha256 === (got as typeof rec).sha256;
      if (!same) diff('body', describeBody(rec, truncated), describeBody(got, false));
      return same ? 1 : 0;
    }
    case 'form': {
      const g = got as typeof rec;
      return comparePairs('body.', rec.fields, g.fields, diff);
    }
    case 'json':
    case 'grpc': {
      const g = got as typeof rec;
      if (rec.text === g.text) return 1;
      const a = flattenJson(rec.value);
      const b = flattenJson(g.value);
      const paths = new Set([...a.keys(), ...b.keys()]);
      let equal = 0;
      let listed = 0;
      for (const p of paths) {
        const ra = a.get(p);
        const gb = b.get(p);
        if (ra === gb) equal++;
        else if (listed++ < MAX_PER_PART) diff(`body.${p}`, ra ?? ABSENT, gb ?? ABSENT);
      }
      if (truncated) diff('body', 'cut at capture (body cap reached): it can only match with ignoreBody', 'whole body');
      return paths.size === 0 ? 1 : equal / paths.size;
    }
  }
}

function describeBody(b: BodyParts, truncated: boolean): string {
  const cut = truncated ? ', cut at capture: match it with ignoreBody' : '';
  switch (b.kind) {
    case 'none':
      return 'no body';
    case 'ignored':
      return 'ignored';
    case 'bytes':
      return `${b.size} bytes, sha256 ${b.sha256.slice(0, 12)}${cut}`;
    case 'form':
      return `form ${pairsText(b.fields)}${cut}`;
    case 'json':
      return `JSON ${b.text}${cut}`;
    case 'grpc':
      return `message ${b.text}${cut}`;
  }
}

/** Values are quoted, so `(absent)` and an empty string cannot be confused. */
function q(s: string | undefined): string {
  return JSON.stringify(s ?? '');
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** One sentence for the 404 body and /matches. */
function explain(got: SignatureParts, candidates: NearMiss[], entries: readonly IndexedEntry[]): string {
  const what = `${got.method} ${got.host}${got.path}${got.query.length > 0 ? `?${pairsText(got.query)}` : ''}`;
  const best = candidates[0];
  if (!best) return `No ${got.protocol} request was recorded, so ${what} has nothing to answer it.`;
  const sameHost = entries.some((e) => e.parts.host === got.host);
  const lead = sameHost
    ? `No recorded ${got.protocol} request matches ${what}`
    : `Nothing was recorded for host ${got.host}, so ${what} matches nothing`;
  const [d, ...rest] = best.differences;
  if (!d) return `${lead}; the closest, ${best.request}, differs only in parts the signature hashes.`;
  const more = rest.length > 0 ? ` and ${rest.length} more difference${rest.length > 1 ? 's' : ''}` : '';
  return `${lead}; the closest, ${best.request}, differs in ${d.part} (recorded ${d.recorded}, received ${d.received})${more}${hint(d.part)}.`;
}

/** What in the config would make such a difference not count, when there is such a thing. */
function hint(part: string): string {
  if (part.startsWith('path segment')) return '; if that segment is an id, fold it with pathPatterns';
  if (part.startsWith('query.')) return `; if it does not matter, add ${part.slice(6)} to ignoreQuery`;
  if (part.startsWith('body.$')) return `; if it does not matter, add ${part.slice(5)} to ignoreJsonPaths`;
  return '';
}
