/**
 * A recorded request made ready to send to a target: method, path and query as recorded, the
 * headers as recorded minus the hop-by-hop ones (they described the recorded connection, not
 * the request), Host pointed at the target, the body decoded. The content length is left to the
 * client, which computes it from the bytes actually sent.
 */
import { decodeBody } from '../model/body.ts';
import type { HttpExchange } from '../model/exchange.ts';
import { endpointKey, isHttp2 } from './select.ts';

export interface PreparedRequest {
  recorded: HttpExchange;
  /** Scheme, host and port of the target (`http://127.0.0.1:3000`). */
  origin: string;
  h2: boolean;
  method: string;
  /** Path and query, as recorded. */
  path: string;
  /** Header pairs in recorded order (names as recorded), without hop-by-hop, Host or Content-Length. */
  headers: Array<[string, string]>;
  /** The Host / :authority to send: the target's. */
  authority: string;
  body: Buffer;
  /** The recorded body was cut at the capture cap: what is sent is shorter than what was recorded. */
  bodyTruncated: boolean;
  endpoint: string;
}

/** Never forwarded: they belong to one connection (RFC 9110 §7.6.1), or are recomputed. */
const DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'content-length',
  'http2-settings',
]);

export function prepareRequest(recorded: HttpExchange, target: URL): PreparedRequest {
  const url = new URL(recorded.request.url);
  const connectionNamed = new Set<string>();
  for (const [name, value] of recorded.request.headers) {
    if (name.toLowerCase() === 'connection') {
      for (const token of value.split(',')) connectionNamed.add(token.trim().toLowerCase());
    }
  }
  const headers: Array<[string, string]> = [];
  for (const [name, value] of recorded.request.headers) {
    const lower = name.toLowerCase();
    // HTTP/2 pseudo-headers are rebuilt from the method, path and target.
    if (lower.startsWith(':') || DROP.has(lower) || connectionNamed.has(lower)) continue;
    headers.push([name, value]);
  }
  const body = decodeBody(recorded.request.body);
  return {
    recorded,
    origin: target.origin,
    h2: isHttp2(recorded),
    method: recorded.request.method,
    path: `${url.pathname}${url.search}`,
    headers,
    authority: target.host,
    body,
    bodyTruncated: recorded.request.body?.truncated === true,
    endpoint: endpointKey(recorded.request.method, recorded.request.url),
  };
}
