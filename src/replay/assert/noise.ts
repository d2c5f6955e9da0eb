/**
 * Noise: the parts of a response that differ from run to run without anything being wrong
 * (timestamps, generated ids, trace headers). A difference is not counted when the NoiseModel
 * names a reason for it; the verdict lists it with that reason instead.
 *
 * Three sources, checked in this order:
 *  1. configured ignores: `$.meta.generatedAt` (body), `header.x-trace`, `body`, `status`,
 *     optionally for one endpoint only;
 *  2. learned: JSON paths (and headers) whose values differ between two recordings of the same
 *     request in the snapshot (same method, path, query and body signature, and same status);
 *  3. volatile headers (Date, ETag, X-Request-Id, trace headers…) and value shapes.
 *
 * Shapes are conservative, because an ignored difference is a bug nobody will see: a difference
 * is ignored for its shape only when BOTH values have the SAME shape (an ISO time replaced by an
 * RFC 1123 one is a real change). Timestamps (ISO 8601 date-times, RFC 1123 dates), UUIDs and
 * ULIDs are recognised by the value alone; weaker shapes also need a telling field name: epoch
 * seconds/ms (within ±20 years of now) and date-only strings need a time-like name (`createdAt`,
 * `expires`, `date`…), long random tokens an id-like one (`requestId`, `traceId`, `etag`, `token`…).
 * So `{"id": 7}` → `{"id": 8}` and `{"count": 1715678493}` → `{"count": 1715678494}` still fail.
 */
import { parseJsonPath, type JsonPath } from '../../mock/json-canon.ts';
import { ConfigInvalidError, type ConfigIssue } from '../../errors.ts';
import type { Exchange, HttpExchange } from '../../model/exchange.ts';
import { DEFAULT_RULE } from '../../mock/match-config.ts';
import { exchangeRequest, signatureWith } from '../../mock/signature.ts';
import { decodeBody, headerValue } from '../../model/body.ts';
import { endpointKey } from '../select.ts';
import { headerMap } from './headers.ts';
import { diffJson, jsonBody } from './json-diff.ts';

export interface NoiseModel {
  /** Why a difference at `path` (`body.$.a`, `header.date`, `body`, `status`) is not counted, or undefined when it is. */
  ignored(endpoint: string, path: string, recordedValue: unknown, replayedValue: unknown): string | undefined;
  /** What was learned from the recordings, for the report. */
  learned(): Array<{ endpoint: string; path: string; reason: string }>;
}

export const REASON = {
  configured: 'configured',
  learned: 'differs between two recordings',
  header: 'volatile header',
  timestamp: 'timestamp-like',
  uuid: 'uuid-like',
  ulid: 'ulid-like',
  token: 'random-id-like',
} as const;

/** A configured ignore: a path, everywhere or for one endpoint (`GET /users/{id}`). */
export type IgnoreSpec = string | { endpoint: string; path: string };

export interface NoiseOptions {
  ignore?: readonly IgnoreSpec[];
  /** Where the ignores came from, for error messages (`replay.yaml`). */
  source?: string;
  /** The endpoint key of an exchange; must be the one the engine passes to compareResponse. */
  endpointOf?: (x: Exchange) => string;
  /** Turn shape detection and the default volatile headers off (configured and learned stay). */
  shapes?: boolean;
  /** The clock for the epoch window (ms); tests pin it. */
  now?: number;
  /** Bytes of first-seen response bodies kept while learning (default 64 MiB); past it new requests are not tracked. */
  learnBudgetBytes?: number;
}

/** The endpoint key used when none is given: the engine's (method and path, ids folded). */
export function endpointOf(x: Exchange): string {
  return x.protocol === 'tcp' ? `TCP ${x.dst ?? ''}` : endpointKey(x.request.method, x.request.url);
}

/** Headers whose values change on every response; never counted when a test chose to compare them. */
export const VOLATILE_HEADERS: ReadonlySet<string> = new Set([
  'date',
  'etag',
  'last-modified',
  'expires',
  'age',
  'x-request-id',
  'request-id',
  'x-correlation-id',
  'x-trace-id',
  'traceparent',
  'tracestate',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-amzn-requestid',
  'x-amzn-trace-id',
  'x-cloud-trace-context',
  'cf-ray',
  'server-timing',
  'x-runtime',
  'x-response-time',
  'x-envoy-upstream-service-time',
]);

type Target = { kind: 'json'; path: JsonPath } | { kind: 'exact'; path: string };

interface Rule {
  endpoint: string | undefined;
  target: Target;
}

const MAX_LEARNED_PER_ENDPOINT = 1000;

/** Feeds recorded exchanges one at a time (a snapshot is streamed), then hands out the model. */
export class NoiseLearner {
  private readonly configured: Rule[];
  private readonly learnedPaths = new Map<string, Map<string, Target>>();
  private readonly first = new Map<string, Recording>();
  private budget: number;
  private readonly endpointOf: (x: Exchange) => string;

  constructor(private readonly options: NoiseOptions = {}) {
    this.configured = parseIgnores(options.ignore ?? [], options.source ?? 'the replay assertions');
    this.budget = options.learnBudgetBytes ?? 64 * 1024 * 1024;
    this.endpointOf = options.endpointOf ?? endpointOf;
  }

  add(x: Exchange): void {
    // Only inbound responses are ever compared; outbound ones would only cost memory.
    if (x.direction !== 'inbound' || x.protocol === 'tcp' || !x.response) return;
    // The mock's signature with no rules: method, host, path, query and canonical body.
    const key = signatureWith(exchangeRequest(x), DEFAULT_RULE).key;
    const seen = this.first.get(key);
    if (!seen) {
      const recording = recordingOf(x.response);
      if (recording.bytes > this.budget) return;
      this.budget -= recording.bytes;
      this.first.set(key, recording);
      return;
    }
    const endpoint = this.endpointOf(x);
    const paths = this.learnedPaths.get(endpoint) ?? new Map<string, Target>();
    this.learnedPaths.set(endpoint, paths);
    for (const path of differingPaths(seen, recordingOf(x.response))) {
      if (paths.size >= MAX_LEARNED_PER_ENDPOINT) break;
      // Elements of one array are the same kind of thing: what varies in one varies in all.
      const general = path.replace(/\[\d+\]/g, '[*]');
      const t = paths.has(general) ? undefined : learnedTarget(general);
      if (t) paths.set(general, t);
    }
  }

  model(): NoiseModel {
    return new Model(this.configured, this.learnedPaths, this.options.shapes ?? true, this.options.now ?? Date.now());
  }
}

/** Learns from every exchange given (inbound ones with a response) and returns the model. */
export function learnNoise(exchanges: Iterable<Exchange>, options: NoiseOptions = {}): NoiseModel {
  const learner = new NoiseLearner(options);
  for (const x of exchanges) learner.add(x);
  return learner.model();
}

class Model implements NoiseModel {
  constructor(
    private readonly configured: readonly Rule[],
    private readonly learnedPaths: ReadonlyMap<string, ReadonlyMap<string, Target>>,
    private readonly shapes: boolean,
    private readonly now: number,
  ) {}

  ignored(endpoint: string, path: string, recorded: unknown, replayed: unknown): string | undefined {
    const steps = concreteSteps(path);
    for (const rule of this.configured) {
      if ((rule.endpoint === undefined || rule.endpoint === endpoint) && matches(rule.target, path, steps))
        return REASON.configured;
    }
    const learned = this.learnedPaths.get(endpoint);
    if (learned) for (const t of learned.values()) if (matches(t, path, steps)) return REASON.learned;
    if (!this.shapes) return undefined;
    if (path.startsWith('header.') && VOLATILE_HEADERS.has(path.slice(7))) return REASON.header;
    return shapeReason(nameOf(path, steps), recorded, replayed, this.now);
  }

  learned(): Array<{ endpoint: string; path: string; reason: string }> {
    const out: Array<{ endpoint: string; path: string; reason: string }> = [];
    for (const [endpoint, paths] of this.learnedPaths)
      for (const path of paths.keys()) out.push({ endpoint, path, reason: REASON.learned });
    return out;
  }
}

/** A model that ignores nothing but volatile headers and shapes (no snapshot to learn from). */
export function defaultNoise(options: NoiseOptions = {}): NoiseModel {
  return new NoiseLearner(options).model();
}

/** What learning keeps of the first response to a request. */
interface Recording {
  status: number;
  headers: Map<string, string>;
  /** The parsed body when it is whole JSON. */
  json: { value: unknown } | undefined;
  bytes: number;
}

function recordingOf(res: NonNullable<HttpExchange['response']>): Recording {
  const body = decodeBody(res.body);
  const json = res.body?.truncated ? undefined : jsonBody(body, headerValue(res.headers, 'content-type'));
  return { status: res.status, headers: headerMap(res.headers), json, bytes: body.length * (json ? 3 : 1) };
}

/** Paths whose values differ between two recordings of one request (none when the status differs: state changed). */
function differingPaths(a: Recording, b: Recording): string[] {
  if (a.status !== b.status) return [];
  const out: string[] = [];
  for (const name of new Set([...a.headers.keys(), ...b.headers.keys()]))
    if (a.headers.get(name) !== b.headers.get(name)) out.push(`header.${name}`);
  if (a.json && b.json) {
    diffJson(a.json.value, b.json.value, (path) => {
      if (out.length < MAX_LEARNED_PER_ENDPOINT) out.push(`body.${path}`);
    });
  }
  return out;
}

function parseIgnores(specs: readonly IgnoreSpec[], source: string): Rule[] {
  const rules: Rule[] = [];
  const issues: ConfigIssue[] = [];
  specs.forEach((spec, i) => {
    const text = typeof spec === 'string' ? spec : spec.path;
    try {
      rules.push({ endpoint: typeof spec === 'string' ? undefined : spec.endpoint, target: target(text) });
    } catch (err) {
      issues.push({ path: `ignore[${i}]`, message: (err as Error).message });
    }
  });
  if (issues.length > 0) throw new ConfigInvalidError(source, issues);
  return rules;
}

/** The target of a learned path; undefined for a key the path syntax cannot spell (not learned). */
function learnedTarget(path: string): Target | undefined {
  // The root itself changed type between the two recordings: the whole body varies.
  if (path === 'body.$') return { kind: 'exact', path: 'body' };
  try {
    return target(path);
  } catch {
    return undefined;
  }
}

/** `$.a` or `body.$.a` (a JSON path in the body), `header.NAME`, `body`, `status`. */
function target(text: string): Target {
  const t = text.trim();
  if (t.startsWith('$')) return { kind: 'json', path: parseJsonPath(t) };
  if (t.startsWith('body.$')) return { kind: 'json', path: parseJsonPath(t.slice(5)) };
  if (/^header\.[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(t)) return { kind: 'exact', path: t.toLowerCase() };
  if (t === 'body' || t === 'status' || t === 'grpc-status') return { kind: 'exact', path: t };
  throw new Error(`"${text}" is not a path: use "$.meta.generatedAt" (body), "header.x-trace-id", "body" or "status"`);
}

/** The steps of a concrete body path (`body.$.items[2]`), undefined for headers, status and bad text. */
function concreteSteps(path: string): JsonPath | undefined {
  if (!path.startsWith('body.$')) return undefined;
  if (path === 'body.$') return [];
  try {
    return parseJsonPath(path.slice(5));
  } catch {
    return undefined;
  }
}

function matches(t: Target, path: string, steps: JsonPath | undefined): boolean {
  if (t.kind === 'exact') return t.path === path || (t.path === 'body' && path.startsWith('body.'));
  return steps !== undefined && prefixMatch(t.path, 0, steps, 0);
}

/** True when the pattern selects the concrete path or a node that contains it. */
function prefixMatch(pattern: JsonPath, p: number, concrete: JsonPath, c: number): boolean {
  const step = pattern[p];
  if (!step) return true;
  const here = concrete[c];
  if (!here) return false;
  switch (step.kind) {
    case 'key':
      return here.kind === 'key' && here.name === step.name && prefixMatch(pattern, p + 1, concrete, c + 1);
    case 'index':
      return here.kind === 'index' && here.index === step.index && prefixMatch(pattern, p + 1, concrete, c + 1);
    case 'wildcard':
      return prefixMatch(pattern, p + 1, concrete, c + 1);
    case 'descend':
      for (let i = c; i < concrete.length; i++) {
        const s = concrete[i];
        if (s?.kind === 'key' && s.name === step.name && prefixMatch(pattern, p + 1, concrete, i + 1)) return true;
      }
      return false;
  }
}

/** The field name a value sits under: the header name, or the last member name of a body path. */
function nameOf(path: string, steps: JsonPath | undefined): string {
  if (path.startsWith('header.')) return path.slice(7);
  for (let i = (steps?.length ?? 0) - 1; i >= 0; i--) {
    const s = steps?.[i];
    if (s?.kind === 'key') return s.name;
  }
  return '';
}

// ---- shapes -------------------------------------------------------------------------------

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const RFC_1123 =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (?:GMT|UTC|[+-]\d{4})$/;
const UUID = /^(?:urn:uuid:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Crockford base32, 26 characters, the first at most 7 (48-bit time); a digit somewhere. */
const ULID = /^(?=.*\d)[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;
/** Long runs of hex or base64(url) with letters and digits mixed, an optional `req_`-style prefix. */
const TOKEN = /^(?:[A-Za-z]{1,8}[_-])?(?=[^\s]*\d)(?=[^\s]*[A-Za-z])[A-Za-z0-9+/_=.:-]{16,}$/;
const EPOCH_TEXT = /^\d{10}(?:\d{3})?(?:\.\d+)?$/;

const TIME_WORDS = new Set(
  'at on date time timestamp ts expires expiry expiration created updated modified generated deleted since until seen issued iat exp nbf'.split(
    ' ',
  ),
);
const ID_WORDS = new Set(
  'id ids uuid guid ulid token nonce etag session sid cursor trace traceparent span request correlation jti rid'.split(
    ' ',
  ),
);

const YEAR_MS = 365.25 * 24 * 3600 * 1000;

type Shape = 'iso8601' | 'iso-date' | 'rfc1123' | 'epoch-s' | 'epoch-ms' | 'uuid' | 'ulid' | 'token';

const SHAPE_REASON: Record<Shape, string> = {
  iso8601: REASON.timestamp,
  'iso-date': REASON.timestamp,
  rfc1123: REASON.timestamp,
  'epoch-s': REASON.timestamp,
  'epoch-ms': REASON.timestamp,
  uuid: REASON.uuid,
  ulid: REASON.ulid,
  token: REASON.token,
};

/** The reason to ignore a change from `recorded` to `replayed` under field `name`, by shape. */
export function shapeReason(name: string, recorded: unknown, replayed: unknown, now = Date.now()): string | undefined {
  const a = shapeOf(name, recorded, now);
  if (a === undefined || a !== shapeOf(name, replayed, now)) return undefined;
  return SHAPE_REASON[a];
}

/** The shape of one value under field `name` (exported for tests), or undefined. */
export function shapeOf(name: string, value: unknown, now = Date.now()): Shape | undefined {
  const last = lastWord(name);
  const timeName = TIME_WORDS.has(last);
  if (typeof value === 'number') return timeName ? epochShape(value, now) : undefined;
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (ISO_DATE_TIME.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T')))) return 'iso8601';
  if (RFC_1123.test(v) && !Number.isNaN(Date.parse(v))) return 'rfc1123';
  if (UUID.test(v)) return 'uuid';
  if (ULID.test(v)) return 'ulid';
  if (timeName && ISO_DATE.test(v) && !Number.isNaN(Date.parse(v))) return 'iso-date';
  if (timeName && EPOCH_TEXT.test(v)) return epochShape(Number(v), now);
  // Quotes and W/ are ETag syntax; the token inside them is what varies.
  if (ID_WORDS.has(last) && TOKEN.test(v.replace(/^(?:W\/)?"(.*)"$/, '$1'))) return 'token';
  return undefined;
}

function epochShape(n: number, now: number): Shape | undefined {
  if (!Number.isFinite(n) || n <= 0) return undefined;
  const window = 20 * YEAR_MS;
  if (Math.abs(n * 1000 - now) <= window) return 'epoch-s';
  if (Math.abs(n - now) <= window) return 'epoch-ms';
  return undefined;
}

/** `createdAt` → `at`, `x-request-id` → `id`, `trace_id` → `id`, `etag` → `etag`. */
function lastWord(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words[words.length - 1] ?? '';
}
