/**
 * The two kinds of patterns in the mock config: globs that pick which rule (or fault) applies to
 * a host or path, and path patterns that fold variable segments (ids) into one signature, so that
 * a recording of `/users/7` answers `/users/8` when the config says the segment is an id.
 *
 * Globs:
 *   host: `*` is any run of characters (dots included: `*.example.com` matches `a.b.example.com`),
 *         `?` one character; case-insensitive. A glob with a `:` is matched against `host:port`.
 *   path: `*` is any run within one segment, `**` any number of whole segments
 *         (`/api/**` matches `/api` and `/api/v1/x`), `?` one character.
 *
 * Path patterns (`pathPatterns` in a rule):
 *   `/users/{id}`           a template: `{name}` matches any one segment, `{name:regex}` a segment
 *                           that matches the regex, `*` any segment (kept as is), anything else
 *                           itself; it matches the whole path, or a prefix when it ends in `/**`.
 *   `[0-9]+`, `[0-9a-f-]{36}`  any other text is a segment regex: every segment it matches whole
 *                           (in any path the rule covers) becomes `{*}`.
 */

export interface Glob {
  readonly source: string;
  test(value: string): boolean;
  /** Higher is more specific: an exact name beats any glob, then more literal characters win. */
  readonly specificity: number;
  /** For host globs: true when matched against `host:port` rather than the host alone. */
  readonly withPort: boolean;
}

const EXACT_BONUS = 1_000_000;

function escapeRegex(s: string): string {
  return s.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

export function compileGlob(glob: string, kind: 'host' | 'path'): Glob {
  const source = kind === 'host' ? glob.toLowerCase() : glob;
  let re = '';
  let literal = 0;
  let wild = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === '*') {
      wild = true;
      if (kind === 'path' && source[i + 1] === '*') {
        i++;
        const next = source[i + 1];
        if (re.endsWith('/') && next === undefined) {
          // `/api/**` covers `/api` itself as well as everything below it.
          re = `${re.slice(0, -1)}(?:/.*)?`;
        } else if (re.endsWith('/') && next === '/') {
          // `/a/**/b`: zero or more whole segments between `a` and `b`.
          re += '(?:.*/)?';
          i++;
        } else {
          re += '.*';
        }
      } else {
        re += kind === 'path' ? '[^/]*' : '.*';
      }
    } else if (c === '?') {
      wild = true;
      re += kind === 'path' ? '[^/]' : '.';
    } else {
      literal++;
      re += escapeRegex(c);
    }
  }
  const regex = new RegExp(`^${re}$`, kind === 'host' ? 'i' : '');
  // An exact name is a string comparison: most rules name one host.
  const test = wild ? (v: string) => regex.test(v) : (v: string) => v === source;
  return {
    source: glob,
    test,
    specificity: literal + (wild ? 0 : EXACT_BONUS),
    withPort: kind === 'host' && source.includes(':'),
  };
}

type TemplateSegment = { kind: 'literal'; text: string } | { kind: 'any' } | { kind: 'var'; name: string; re?: RegExp };

export type PathPattern =
  | { kind: 'template'; source: string; segments: TemplateSegment[]; prefix: boolean }
  | { kind: 'segment'; source: string; re: RegExp };

/** Compiles a path pattern; throws an Error that says what is wrong (shown by config validation). */
export function compilePathPattern(text: string): PathPattern {
  if (text === '') throw new Error('an empty path pattern matches nothing');
  if (!text.startsWith('/')) {
    return { kind: 'segment', source: text, re: compileRegex(text, text) };
  }
  const parts = text.split('/').slice(1);
  const prefix = parts[parts.length - 1] === '**';
  if (prefix) parts.pop();
  const segments = parts.map((p): TemplateSegment => {
    if (p === '*') return { kind: 'any' };
    if (p.includes('**')) throw new Error(`"**" is only allowed as the last segment of a template ("${text}")`);
    const m = /^\{([A-Za-z_][\w-]*)(?::(.+))?\}$/.exec(p);
    if (m)
      return m[2] === undefined
        ? { kind: 'var', name: m[1] as string }
        : { kind: 'var', name: m[1] as string, re: compileRegex(m[2], text) };
    if (p.includes('{') || p.includes('}'))
      throw new Error(`"${p}" in "${text}": write a variable as a whole segment, {name} or {name:regex}`);
    return { kind: 'literal', text: p };
  });
  return { kind: 'template', source: text, segments, prefix };
}

function compileRegex(source: string, where: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw new Error(`"${where}" is not a valid regular expression: ${(err as Error).message}`);
  }
}

/**
 * Applies the patterns to a path's segments (already percent-decoded): the first template that
 * matches renames its variable segments `{name}`, then every segment regex folds the segments
 * it matches to `{*}`. Returns the input array when nothing changed (no copy on the hot path).
 */
export function applyPathPatterns(segments: string[], patterns: readonly PathPattern[]): string[] {
  if (patterns.length === 0) return segments;
  let out = segments;
  const fixed = new Set<number>();
  for (const p of patterns) {
    if (p.kind !== 'template') continue;
    const named = matchTemplate(p, out);
    if (!named) continue;
    out = named.segments;
    for (const i of named.replaced) fixed.add(i);
    break;
  }
  for (const p of patterns) {
    if (p.kind !== 'segment') continue;
    for (let i = 0; i < out.length; i++) {
      if (fixed.has(i) || !p.re.test(out[i] as string)) continue;
      if (out === segments) out = segments.slice();
      out[i] = '{*}';
      fixed.add(i);
    }
  }
  return out;
}

function matchTemplate(
  p: PathPattern & { kind: 'template' },
  segs: string[],
): { segments: string[]; replaced: number[] } | undefined {
  if (p.prefix ? segs.length < p.segments.length : segs.length !== p.segments.length) return undefined;
  const replaced: number[] = [];
  for (let i = 0; i < p.segments.length; i++) {
    const t = p.segments[i] as TemplateSegment;
    const s = segs[i] as string;
    if (t.kind === 'literal' && t.text !== s) return undefined;
    if (t.kind === 'var') {
      if (s === '' || (t.re && !t.re.test(s))) return undefined;
      replaced.push(i);
    }
  }
  if (replaced.length === 0) return { segments: segs, replaced };
  const out = segs.slice();
  for (const i of replaced) out[i] = `{${(p.segments[i] as { name: string }).name}}`;
  return { segments: out, replaced };
}
