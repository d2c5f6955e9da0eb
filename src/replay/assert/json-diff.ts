/**
 * Field-by-field JSON comparison: objects by key (their order never matters), arrays by index,
 * numbers by value (`1.50` = `1.5` = `15e-1`, which JSON.parse already gives us), anything else by
 * type and value. Each differing leaf is reported with its path in the JSONPath subset that
 * json-canon.ts parses (`$.items[2].price`, `$['a b']`), so a path from a report can be pasted
 * into a configured ignore as it is.
 */
import { canonicalJson } from '../../mock/json-canon.ts';

/** Stands for a member or element that one side has and the other does not. */
export const MISSING: unique symbol = Symbol('missing');

/** Called once per differing leaf (a missing member or element is a leaf too). */
export type DiffVisitor = (path: string, recorded: unknown, replayed: unknown) => void;

/** Walks both values together and calls `visit` for each leaf where they differ. */
export function diffJson(recorded: unknown, replayed: unknown, visit: DiffVisitor, path = '$'): void {
  if (Array.isArray(recorded) && Array.isArray(replayed)) {
    const n = Math.max(recorded.length, replayed.length);
    for (let i = 0; i < n; i++) {
      const child = `${path}[${i}]`;
      if (i >= recorded.length) visit(child, MISSING, replayed[i]);
      else if (i >= replayed.length) visit(child, recorded[i], MISSING);
      else diffJson(recorded[i], replayed[i], visit, child);
    }
    return;
  }
  if (isObject(recorded) && isObject(replayed)) {
    // Sorted union of the keys: a stable order for the report whatever order either side used.
    const keys = [...new Set([...Object.keys(recorded), ...Object.keys(replayed)])].sort();
    for (const k of keys) {
      const child = memberPath(path, k);
      const inRec = Object.hasOwn(recorded, k);
      const inRep = Object.hasOwn(replayed, k);
      if (!inRep) visit(child, recorded[k], MISSING);
      else if (!inRec) visit(child, MISSING, replayed[k]);
      else diffJson(recorded[k], replayed[k], visit, child);
    }
    return;
  }
  if (!sameLeaf(recorded, replayed)) visit(path, recorded, replayed);
}

function sameLeaf(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Same type but not ===: an object against an array, or two containers of different kinds.
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return canonicalJson(a) === canonicalJson(b);
}

const PLAIN_NAME = /^[A-Za-z0-9_$@-]+$/;

/** `$.a` for plain names, `$['a b']` otherwise (json-canon's parser reads both back). */
export function memberPath(path: string, key: string): string {
  if (PLAIN_NAME.test(key)) return `${path}.${key}`;
  return key.includes("'") ? `${path}["${key}"]` : `${path}['${key}']`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How long a value may be when shown in a report before it is cut. */
export const SHOW_LIMIT = 200;

/** A value as a report shows it: JSON text, `(missing)`, cut to SHOW_LIMIT characters. */
export function showJson(v: unknown): string {
  if (v === MISSING) return '(missing)';
  return cut(canonicalJson(v));
}

export function cut(text: string, limit = SHOW_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** `application/json`, `application/problem+json`, `text/json`… */
export function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && /[/+]json\b/i.test(contentType);
}

/** True when the first byte that is not white space opens an object or an array. */
export function looksLikeJson(body: Buffer): boolean {
  for (const c of body) {
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7b || c === 0x5b;
  }
  return false;
}

/** The parsed body, or undefined when it is not JSON. Wrapped: `null` is a valid body. */
export function parseJson(body: Buffer): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * The body as JSON when it is JSON: declared so (`application/json`, `+json`), or undeclared and
 * opening with `{` or `[`. Undefined for other bodies and for JSON that does not parse.
 */
export function jsonBody(body: Buffer, contentType: string | undefined): { value: unknown } | undefined {
  if (body.length === 0) return undefined;
  if (isJsonType(contentType) || (contentType === undefined && looksLikeJson(body))) return parseJson(body);
  return undefined;
}
