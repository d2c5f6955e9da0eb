/**
 * JSON for matching: a canonical text (sorted keys, so key order never matters), removal of
 * ignored parts by a small JSONPath subset, and a flat path→value view for near-miss diffs.
 *
 * The JSONPath subset (enough for "ignore this id / timestamp" and nothing clever):
 *   `$`            the root
 *   `.name`        a member (also `['name']` / `["name"]` for names with dots or spaces)
 *   `[3]`          an array element
 *   `[*]` / `.*`   every element or member
 *   `..name`       `name` at any depth below (recursive descent); `..*` is not supported
 */

export type JsonPathStep =
  | { kind: 'key'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'descend'; name: string };

export type JsonPath = readonly JsonPathStep[];

/** Parses a path; throws an Error whose message says what is wrong (config validation shows it). */
export function parseJsonPath(text: string): JsonPath {
  if (!text.startsWith('$')) throw new Error(`a JSON path starts with "$", e.g. "$.user.id" (got "${text}")`);
  const steps: JsonPathStep[] = [];
  let i = 1;
  const name = /^[A-Za-z0-9_$@-]+/;
  while (i < text.length) {
    const rest = text.slice(i);
    if (rest.startsWith('..')) {
      const m = name.exec(rest.slice(2));
      if (!m) throw new Error(`"..": give a member name after it, e.g. "$..updatedAt" (at ${i} in "${text}")`);
      steps.push({ kind: 'descend', name: m[0] });
      i += 2 + m[0].length;
    } else if (rest.startsWith('.*')) {
      steps.push({ kind: 'wildcard' });
      i += 2;
    } else if (rest.startsWith('.')) {
      const m = name.exec(rest.slice(1));
      if (!m) throw new Error(`expected a member name after "." (at ${i} in "${text}")`);
      steps.push({ kind: 'key', name: m[0] });
      i += 1 + m[0].length;
    } else if (rest.startsWith('[')) {
      const m = /^\[(?:(\*)|(\d+)|'([^']*)'|"([^"]*)")\]/.exec(rest);
      if (!m) throw new Error(`expected [*], [N] or ['name'] (at ${i} in "${text}")`);
      if (m[1]) steps.push({ kind: 'wildcard' });
      else if (m[2] !== undefined) steps.push({ kind: 'index', index: Number(m[2]) });
      else steps.push({ kind: 'key', name: (m[3] ?? m[4]) as string });
      i += m[0].length;
    } else {
      throw new Error(`unexpected "${rest[0]}" (at ${i} in "${text}")`);
    }
  }
  if (steps.length === 0) throw new Error('"$" alone would ignore the whole body: use ignoreBody: true instead');
  return steps;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Removes every node a path selects, in place (the value must be one the caller owns, e.g. fresh
 * from JSON.parse). Removing array elements shifts the later ones, as it would in the body.
 */
export function removeJsonPath(root: unknown, path: JsonPath): void {
  removeAt(root, path, 0);
}

function removeAt(node: unknown, path: JsonPath, at: number): void {
  const step = path[at];
  if (!step) return;
  const last = at === path.length - 1;
  switch (step.kind) {
    case 'key':
      if (!isObject(node) || !Object.hasOwn(node, step.name)) return;
      if (last) delete node[step.name];
      else removeAt(node[step.name], path, at + 1);
      return;
    case 'index':
      if (!Array.isArray(node) || step.index >= node.length) return;
      if (last) node.splice(step.index, 1);
      else removeAt(node[step.index], path, at + 1);
      return;
    case 'wildcard':
      if (Array.isArray(node)) {
        if (last) node.length = 0;
        else for (const child of node) removeAt(child, path, at + 1);
      } else if (isObject(node)) {
        for (const k of Object.keys(node)) {
          if (last) delete node[k];
          else removeAt(node[k], path, at + 1);
        }
      }
      return;
    case 'descend':
      descend(node, step.name, path, at, last);
      return;
  }
}

/** `..name`: every member called `name` at this level or any level below. */
function descend(node: unknown, name: string, path: JsonPath, at: number, last: boolean): void {
  if (Array.isArray(node)) {
    for (const child of node) descend(child, name, path, at, last);
    return;
  }
  if (!isObject(node)) return;
  if (Object.hasOwn(node, name)) {
    if (last) delete node[name];
    else removeAt(node[name], path, at + 1);
  }
  for (const k of Object.keys(node)) descend(node[k], name, path, at, last);
}

/** JSON text with object keys sorted at every level; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    let out = '{';
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (i > 0) out += ',';
      out += `${JSON.stringify(k)}:${canonicalJson(value[k])}`;
    }
    return `${out}}`;
  }
  // undefined cannot come from JSON.parse; null, numbers, strings and booleans stringify as JSON.
  return JSON.stringify(value) ?? 'null';
}

/**
 * Leaf values by path (`$.user.id` → `7`, `$.items[0]` → `"a"`), for naming what differs.
 * Empty objects and arrays are leaves too. Stops after `limit` leaves: near-miss work is bounded.
 */
export function flattenJson(value: unknown, limit = 500): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (node: unknown, path: string): void => {
    if (out.size >= limit) return;
    if (Array.isArray(node) && node.length > 0) {
      node.forEach((child, i) => walk(child, `${path}[${i}]`));
    } else if (isObject(node) && Object.keys(node).length > 0) {
      for (const k of Object.keys(node).sort())
        walk(node[k], /^[\w$@-]+$/.test(k) ? `${path}.${k}` : `${path}['${k}']`);
    } else {
      out.set(path, canonicalJson(node));
    }
  };
  walk(value, '$');
  return out;
}
