/**
 * Which recorded exchanges a replay sends, and where: the inbound HTTP exchanges of a snapshot
 * (HTTP/1.x and HTTP/2, in recorded order), each sent to the target of its service.
 */
import type { Exchange, HttpExchange } from '../model/exchange.ts';
import { UsageError } from '../errors.ts';

/** `--target URL` (every exchange) or `--target SERVICE=URL` (the exchanges of that service). */
export interface Targets {
  /** The target of exchanges whose service has no target of its own. */
  fallback?: URL;
  byService: ReadonlyMap<string, URL>;
}

/** Parses the repeated --target values; every problem is a usage error that shows the forms. */
export function parseTargets(values: readonly string[]): Targets {
  if (values.length === 0) {
    throw new UsageError('give the service to replay against: --target URL (or --target SERVICE=URL, repeatable)');
  }
  let fallback: URL | undefined;
  const byService = new Map<string, URL>();
  for (const value of values) {
    const eq = value.indexOf('=');
    // A URL's own '=' sits after its scheme (a query): only a name before "://" is a service.
    const scheme = value.indexOf('://');
    const named = eq > 0 && (scheme < 0 || eq < scheme);
    const service = named ? value.slice(0, eq) : undefined;
    const url = toOrigin(named ? value.slice(eq + 1) : value, value);
    if (service === undefined) {
      if (fallback) throw new UsageError(`--target URL is given twice (${fallback.origin} and ${url.origin})`);
      fallback = url;
    } else {
      if (byService.has(service)) throw new UsageError(`--target ${service}=… is given twice`);
      byService.set(service, url);
    }
  }
  return fallback ? { fallback, byService } : { byService };
}

function toOrigin(text: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `--target must be a URL like http://localhost:3000 or SERVICE=URL like api=http://localhost:3000; got "${flag}"`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--target must be an http:// or https:// URL; got "${flag}"`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    // Recorded paths are kept whole: a base path on the target would silently change them.
    throw new UsageError(
      `--target takes an origin (scheme, host, port); the recorded path and query are kept. Got "${flag}"`,
    );
  }
  return url;
}

/** The target of one exchange, or undefined when its service has none (it is then skipped and counted). */
export function targetFor(x: HttpExchange, targets: Targets): URL | undefined {
  return (x.service !== undefined ? targets.byService.get(x.service) : undefined) ?? targets.fallback;
}

/** HTTP versions replayed: 1.0/1.1 over HTTP/1.1, 2 over HTTP/2. */
export function isHttp2(x: HttpExchange): boolean {
  return x.request.httpVersion === '2' || x.request.httpVersion === '2.0';
}

/** Inbound HTTP exchanges with a request worth sending (not WebSocket, gRPC or TCP: later). */
export function isReplayable(x: Exchange): x is HttpExchange {
  if (x.direction !== 'inbound' || x.protocol !== 'http') return false;
  const v = x.request.httpVersion;
  return v === '1.1' || v === '1.0' || v === '2' || v === '2.0';
}

/** Why an exchange was not replayed, for the report. */
export type SkipReason = 'outbound' | 'protocol' | 'no-target';

export function skipReason(x: Exchange, targets: Targets): SkipReason | undefined {
  if (x.direction !== 'inbound') return 'outbound';
  if (!isReplayable(x)) return 'protocol';
  if (!targetFor(x, targets)) return 'no-target';
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^\d+$/;
/** Long hex or base62 tokens (object ids, hashes, ULIDs) are ids too; words are not. */
const TOKEN = /^(?=.*\d)[0-9a-zA-Z_-]{16,}$/;

/**
 * The endpoint a request belongs to, for per-endpoint stats: method and path with id-like
 * segments collapsed (`GET /users/{id}`), query left out, so that /users/1 and /users/2 share
 * one histogram.
 */
export function endpointKey(method: string, url: string): string {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    pathname = url.split('?')[0] ?? url;
  }
  const segments = pathname.split('/').map((s) => (NUMBER.test(s) || UUID.test(s) || TOKEN.test(s) ? '{id}' : s));
  return `${method.toUpperCase()} ${segments.join('/') || '/'}`;
}
