/**
 * Request signatures: the key under which a recorded request is filed and a live one looked up.
 * Both sides go through the same function (a recorded Exchange is first turned into the
 * MockRequest it would have been), so they cannot disagree about what is the same request.
 *
 * What takes part, after the rule for the request's host and path is applied (match-config.ts):
 * protocol, host (lower-case; `:port` only when not 80/443, so `https://a` = `https://a:443` and
 * the scheme does not count: a call recorded over TLS may arrive in clear on a mapped port),
 * method, path (segments percent-decoded, path patterns applied), query (sorted by name, repeats
 * kept in order, ignored names dropped), the rule's headers, and the body: JSON canonicalised,
 * form fields sorted, other bytes hashed; gRPC messages deframed, decoded without schema and
 * canonicalised; WebSocket upgrades have no body.
 *
 * The key reads `http GET api.test/users/{id}?a=1` and, when headers or a body take part,
 * ends in ` #` and their canonical text (`x-tenant="acme" json:{"id":7}`) when short, else a
 * hash of it. One signature costs a few microseconds (a JSON parse and a
 * SHA-256 at most), which is what the hot path pays per request.
 */
import { createHash } from 'node:crypto';
import { decodeBody, headerValue } from '../model/body.ts';
import type { GrpcCall, GrpcExchange, HttpExchange, ProtoField, WebsocketExchange } from '../model/exchange.ts';
import { DEFAULT_INFLATE_LIMIT } from '../protocols/grpc/framing.ts';
import { GrpcDeframer, decodeProtoFields, splitGrpcPath } from '../protocols/grpc/index.ts';
import { canonicalJson, removeJsonPath } from './json-canon.ts';
import type { ResolvedRule, RuleSet } from './match-config.ts';
import { applyPathPatterns } from './path-pattern.ts';
import type { MockRequest } from './types.ts';

export type AnswerableExchange = HttpExchange | GrpcExchange | WebsocketExchange;

export type BodyParts =
  | { kind: 'none' }
  | { kind: 'ignored' }
  /** `value`: the parsed body (gRPC: one decoded message, or the array of them) minus ignored paths. */
  | { kind: 'json' | 'grpc'; value: unknown; text: string }
  | { kind: 'form'; fields: Array<[string, string]>; text: string }
  | { kind: 'bytes'; size: number; sha256: string };

/** The parts of a signature, kept for near-miss explanations. */
export interface SignatureParts {
  protocol: MockRequest['protocol'];
  method: string;
  /** Lower-case host, with `:port` unless 80 or 443. */
  host: string;
  /** Normalised path: segments percent-decoded (a decoded `/` stays `%2F`), patterns applied. */
  path: string;
  query: Array<[string, string]>;
  /** The rule's headers, `[lower-case name, values joined with ", "]`, absent ones as ''. */
  headers: Array<[string, string]>;
  body: BodyParts;
  /** gRPC only. */
  grpc?: { service: string; method: string };
}

export interface Signature {
  key: string;
  parts: SignatureParts;
}

/** Headers and body text up to this length are kept in the key as they are, beyond it hashed. */
const VERBATIM_LIMIT = 160;

/** The signature of a live request (or of a recorded one, through exchangeRequest). */
export function requestSignature(req: MockRequest, rules: RuleSet): Signature {
  const rule = rules.resolve(req.host, req.port, req.path);
  return signatureWith(req, rule);
}

export function exchangeSignature(exchange: AnswerableExchange, rules: RuleSet): Signature {
  return requestSignature(exchangeRequest(exchange), rules);
}

export function signatureWith(req: MockRequest, rule: ResolvedRule): Signature {
  const host = hostKey(req.host, req.port);
  const method = req.method.toUpperCase();
  const path = canonicalPath(req.path, rule);
  const query = canonicalPairs(req.query, rule.ignoreQuery);
  const headers = chosenHeaders(req, rule.matchHeaders);
  const body = bodyParts(req, rule);
  const parts: SignatureParts = { protocol: req.protocol, method, host, path, query, headers, body };
  if (req.protocol === 'grpc') parts.grpc = splitGrpcPath(req.path);

  let key = `${req.protocol} ${method} ${host}${path}`;
  if (query.length > 0) key += `?${pairsText(query)}`;
  // Header names are tokens and values quoted, and the body comes last: the text is unambiguous.
  const bits = headers.map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  const bodyText = bodyKey(body);
  if (bodyText) bits.push(bodyText);
  const extra = bits.join(' ');
  // Short extras go in as they are (readable, and no hash to pay); long ones as a hash.
  if (extra) key += extra.length <= VERBATIM_LIMIT ? ` #${extra}` : ` #sha256:${digest(extra)}`;
  return { key, parts };
}

/** The live request a recorded exchange stands for. */
export function exchangeRequest(exchange: AnswerableExchange): MockRequest {
  const { scheme, host, port, path, query } = splitUrl(exchange.request.url, exchange.dst);
  const body = exchange.protocol === 'grpc' ? reframe(exchange) : decodeBody(exchange.request.body);
  return {
    protocol: exchange.protocol,
    scheme,
    host,
    port,
    method: exchange.request.method,
    path,
    query,
    headers: exchange.request.headers,
    body,
    httpVersion: exchange.request.httpVersion,
  };
}

export function hostKey(host: string, port: number): string {
  const h = host.toLowerCase();
  if (port === 80 || port === 443 || port === 0) return h;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

function canonicalPath(raw: string, rule: ResolvedRule): string {
  const path = raw.startsWith('/') ? raw : `/${raw}`;
  // Nothing to decode and no pattern: the path is its own canonical form (the common case).
  if (rule.pathPatterns.length === 0 && !/[%\s]/.test(path)) return path;
  return `/${applyPathPatterns(pathSegments(path), rule.pathPatterns).join('/')}`;
}

/** Path segments after the leading `/`, percent-decoded (re-escaping only what would be ambiguous). */
export function pathSegments(path: string): string[] {
  const segs = (path.startsWith('/') ? path.slice(1) : path).split('/');
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    if (/[%\s]/.test(s)) segs[i] = safeDecode(s).replace(/[%/?#\s]/g, (c) => encodeURIComponent(c));
  }
  return segs;
}

/** `a=1&b=2` (query or form body) as decoded pairs, sorted by name, repeats in order. */
export function canonicalPairs(text: string, ignore: ReadonlySet<string>): Array<[string, string]> {
  if (text === '') return [];
  const pairs: Array<[string, string]> = [];
  let sorted = true;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = formDecode(eq < 0 ? part : part.slice(0, eq));
    if (ignore.size > 0 && ignore.has(name)) continue;
    const last = pairs[pairs.length - 1];
    if (last && last[0] > name) sorted = false;
    pairs.push([name, eq < 0 ? '' : formDecode(part.slice(eq + 1))]);
  }
  // Array.prototype.sort is stable: repeated names keep the order they were sent in.
  return sorted ? pairs : pairs.sort(byName);
}

const byName = (a: [string, string], b: [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * Decoded pairs back to text, escaping only what would be ambiguous (`%`, `&`, `#`, spaces, and
 * `=` in names), so the usual `page=2&sort=name` reads as sent and costs no encoding.
 */
export function pairsText(pairs: Array<[string, string]>): string {
  let out = '';
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i] as [string, string];
    if (i > 0) out += '&';
    out += `${AMBIGUOUS_IN_NAME.test(k) ? k.replace(ESCAPE_NAME, escapeChar) : k}=`;
    out += AMBIGUOUS_IN_VALUE.test(v) ? v.replace(ESCAPE_VALUE, escapeChar) : v;
  }
  return out;
}

const AMBIGUOUS_IN_NAME = /[%&#=\s]/;
const AMBIGUOUS_IN_VALUE = /[%&#\s]/;
const ESCAPE_NAME = /[%&#=\s]/g;
const ESCAPE_VALUE = /[%&#\s]/g;
const escapeChar = (c: string): string => encodeURIComponent(c);

function formDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  return safeDecode(s.replace(/\+/g, ' '));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function chosenHeaders(req: MockRequest, names: readonly string[]): Array<[string, string]> {
  if (names.length === 0) return [];
  return names.map((name): [string, string] => {
    const values: string[] = [];
    for (const [k, v] of req.headers) if (k.toLowerCase() === name) values.push(v);
    return [name, values.join(', ')];
  });
}

function bodyParts(req: MockRequest, rule: ResolvedRule): BodyParts {
  if (req.protocol === 'websocket') return { kind: 'none' };
  if (rule.ignoreBody) return { kind: 'ignored' };
  if (req.protocol === 'grpc') return grpcBody(req, rule);
  if (req.body.length === 0) return { kind: 'none' };
  const type = headerValue(req.headers, 'content-type')?.toLowerCase() ?? '';
  if (/[/+]json\b/.test(type) || (type === '' && looksLikeJson(req.body))) {
    const value = parseJson(req.body);
    if (value !== undefined) {
      for (const p of rule.ignoreJsonPaths) removeJsonPath(value.v, p);
      return { kind: 'json', value: value.v, text: canonicalJson(value.v) };
    }
  }
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const fields = canonicalPairs(req.body.toString('utf8'), new Set());
    return { kind: 'form', fields, text: pairsText(fields) };
  }
  return { kind: 'bytes', size: req.body.length, sha256: createHash('sha256').update(req.body).digest('hex') };
}

function looksLikeJson(body: Buffer): boolean {
  for (const c of body) {
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7b || c === 0x5b; // `{` or `[`
  }
  return false;
}

function parseJson(body: Buffer): { v: unknown } | undefined {
  try {
    return { v: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return undefined;
  }
}

/** The request messages, deframed (inflated when compressed) and decoded without a schema. */
function grpcBody(req: MockRequest, rule: ResolvedRule): BodyParts {
  if (req.body.length === 0) return { kind: 'none' };
  const deframer = new GrpcDeframer({
    dir: 'c2s',
    encoding: headerValue(req.headers, 'grpc-encoding'),
    keep: DEFAULT_INFLATE_LIMIT,
  });
  const framed = [...deframer.push(req.body, 0), ...deframer.end(0)];
  const messages = framed.map((m) => {
    const fields = m.error === undefined ? decodeProtoFields(m.bytes) : undefined;
    // Not protobuf (or broken framing): the bytes themselves decide, by hash.
    const value: unknown = fields ? protoJson(fields) : { bytes: createHash('sha256').update(m.bytes).digest('hex') };
    for (const p of rule.ignoreJsonPaths) removeJsonPath(value, p);
    return value;
  });
  const value = messages.length === 1 ? messages[0] : messages;
  return { kind: 'grpc', value, text: canonicalJson(value) };
}

/**
 * A decoded message as JSON keyed by field number (`{"1":"42","2":{"1":"x"}}`); a number seen
 * more than once becomes an array in wire order, so `$.2` and `$..7` work in ignoreJsonPaths.
 */
export function protoJson(fields: ProtoField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const repeated = new Set<string>();
  for (const f of fields) {
    const value = Array.isArray(f.value) ? protoJson(f.value) : f.value;
    const key = String(f.n);
    const prev = out[key];
    if (prev === undefined) {
      out[key] = value;
    } else if (repeated.has(key)) {
      (prev as unknown[]).push(value);
    } else {
      out[key] = [prev, value];
      repeated.add(key);
    }
  }
  return out;
}

function bodyKey(body: BodyParts): string {
  switch (body.kind) {
    case 'none':
    case 'ignored':
      return '';
    case 'json':
    case 'grpc':
    case 'form':
      return `${body.kind}:${body.text}`;
    case 'bytes':
      return `bytes:${body.sha256}`;
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/**
 * True when a recorded call was a conversation: the server sent a message before the client's
 * last one, so the client could not have sent everything first. Such calls are matched on
 * their first request message only (the serving side answers them as they go).
 */
export function isConversational(call: GrpcCall): boolean {
  let lastC2s = -1;
  call.messages.forEach((m, i) => {
    if (m.dir === 'c2s') lastC2s = i;
  });
  return call.messages.some((m, i) => m.dir === 's2c' && i < lastC2s);
}

/** Recorded gRPC request messages back into the length-prefixed form a live call sends (uncompressed). */
function reframe(exchange: GrpcExchange): Buffer {
  const parts: Buffer[] = [];
  const firstOnly = isConversational(exchange.grpc);
  for (const m of exchange.grpc.messages) {
    if (m.dir !== 'c2s') continue;
    if (firstOnly && parts.length > 0) break;
    const bytes = decodeBody(m.data);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(bytes.length, 1);
    parts.push(prefix, bytes);
  }
  return Buffer.concat(parts);
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, ws: 80, https: 443, wss: 443 };

/** Scheme, host, port, raw path and raw query of an absolute URL, without URL's normalising. */
export function splitUrl(
  url: string,
  dst?: string,
): { scheme: 'http' | 'https'; host: string; port: number; path: string; query: string } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(url);
  const scheme = (m?.[1] ?? 'http').toLowerCase();
  let authority = m ? (m[2] as string) : (dst ?? '');
  authority = authority.slice(authority.lastIndexOf('@') + 1);
  let host = authority;
  let port = DEFAULT_PORTS[scheme] ?? 80;
  const v6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(authority);
  const v4 = /^(.*):(\d+)$/.exec(authority);
  if (v6) {
    host = v6[1] as string;
    if (v6[2]) port = Number(v6[2]);
  } else if (v4) {
    host = v4[1] as string;
    port = Number(v4[2]);
  }
  const rawPath = m ? (m[3] as string) : (url.split('?')[0] ?? '');
  return {
    scheme: scheme === 'https' || scheme === 'wss' ? 'https' : 'http',
    host: host.toLowerCase(),
    port,
    path: rawPath === '' ? '/' : rawPath,
    query: m ? (m[4] ?? '') : (url.split('?')[1] ?? ''),
  };
}
