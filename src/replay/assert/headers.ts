/**
 * Header comparison: only the headers a test chose (by default Content-Type), names
 * case-insensitive, repeated headers joined with `, ` in order, values trimmed. Content-Type is
 * compared on media type and charset only (a multipart boundary or a parameter order is not a
 * change), and the charset only when both sides name one: frameworks add or drop
 * `charset=utf-8` freely and an absent charset means the type's default. Set-Cookie is compared
 * on the cookie names (a new session id is not a change; a missing cookie is).
 */
import type { HeaderList } from '../../model/exchange.ts';

export const DEFAULT_COMPARED_HEADERS: readonly string[] = ['content-type'];

/** Reason listed when only Set-Cookie values (not names) changed. */
export const SET_COOKIE_VALUES = 'set-cookie values';

/** One header difference; `ignoredAs` set when the header's own rule already excuses it. */
export interface HeaderDifference {
  path: string;
  recorded: string;
  replayed: string;
  ignoredAs?: string;
}

/** Lower-case name → values joined with `, ` (trimmed), for every header in the list. */
export function headerMap(headers: HeaderList): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    const prev = out.get(name);
    out.set(name, prev === undefined ? v.trim() : `${prev}, ${v.trim()}`);
  }
  return out;
}

export function compareHeaders(
  recorded: HeaderList,
  replayed: HeaderList,
  names: readonly string[] = DEFAULT_COMPARED_HEADERS,
): HeaderDifference[] {
  const rec = headerMap(recorded);
  const rep = headerMap(replayed);
  const out: HeaderDifference[] = [];
  for (const name of new Set(names.map((n) => n.trim().toLowerCase()))) {
    const a = rec.get(name);
    const b = rep.get(name);
    if (a === b) continue;
    const path = `header.${name}`;
    const shown = { path, recorded: a ?? '(missing)', replayed: b ?? '(missing)' };
    if (a === undefined || b === undefined) {
      out.push(shown);
    } else if (name === 'content-type') {
      if (!sameContentType(a, b)) out.push(shown);
    } else if (name === 'set-cookie') {
      const an = cookieNames(recorded);
      const bn = cookieNames(replayed);
      if (an !== bn) out.push({ path, recorded: an, replayed: bn });
      else out.push({ ...shown, ignoredAs: SET_COOKIE_VALUES });
    } else {
      out.push(shown);
    }
  }
  return out;
}

/** Media type and charset, lower-case; `charset` undefined when not given. */
export function parseContentType(value: string): { type: string; charset: string | undefined } {
  const [type = '', ...params] = value.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const m = /^\s*charset\s*=\s*"?([^";]*)"?\s*$/i.exec(p);
    if (m) charset = (m[1] as string).toLowerCase();
  }
  return { type: type.trim().toLowerCase(), charset };
}

export function sameContentType(a: string, b: string): boolean {
  const x = parseContentType(a);
  const y = parseContentType(b);
  if (x.type !== y.type) return false;
  return x.charset === undefined || y.charset === undefined || x.charset === y.charset;
}

/** The names of the cookies set, sorted (`seen, session`); each Set-Cookie line sets one cookie. */
function cookieNames(headers: HeaderList): string {
  const names: string[] = [];
  for (const [k, v] of headers) if (k.toLowerCase() === 'set-cookie') names.push(v.split('=')[0]?.trim() ?? '');
  return names.sort().join(', ');
}
