/**
 * `--passthrough`: a request the snapshot cannot answer goes to the real host, verified TLS
 * and all, and its answer is served as is. Misses are the exception path, not the hot one, so
 * Node's http client is fine here; the answer is read whole and framed like a recorded one.
 */
import http from 'node:http';
import https from 'node:https';
import type { HeaderList } from '../model/exchange.ts';
import { describeUpstreamTlsError } from '../capture/tls-intercept.ts';
import type { ResponseParts } from './compiled-response.ts';
import type { MockRequest } from './types.ts';

export interface PassthroughOptions {
  /** CAs that verify real servers (system CAs plus --upstream-ca). */
  upstreamCa: string[];
  /** Accept any certificate (unsafe; self-signed test servers only). */
  insecureUpstream: boolean;
  timeoutMs: number;
  /** Largest response body read (default 64 MiB): past it the call fails rather than grow. */
  maxBodyBytes?: number;
}

export type PassthroughOutcome =
  | { ok: true; parts: ResponseParts }
  | {
      ok: false;
      code: 'TW_UPSTREAM_TLS' | 'TW_UPSTREAM_REFUSED' | 'TW_UPSTREAM_TIMEOUT' | 'TW_UPSTREAM_OTHER';
      message: string;
    };

/** Request headers that describe this hop, not the request (plus the ones Node sets itself). */
const DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'upgrade',
  'content-length',
]);

export function passThrough(req: MockRequest, opts: PassthroughOptions): Promise<PassthroughOutcome> {
  const max = opts.maxBodyBytes ?? 64 * 1024 * 1024;
  const headers: [string, string][] = [];
  for (const [name, value] of req.headers) {
    if (name.startsWith(':') || DROP.has(name.toLowerCase())) continue;
    headers.push([name, value]);
  }
  if (req.body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(req.method))
    headers.push(['Content-Length', String(req.body.length)]);
  const secure = req.scheme === 'https';
  const common = {
    host: req.host,
    port: req.port,
    method: req.method,
    path: `${req.path || '/'}${req.query ? `?${req.query}` : ''}`,
    // Raw pairs keep the order and case of the app's headers.
    headers: headers.flat(),
    agent: false as const,
    timeout: opts.timeoutMs,
  };
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) {
          res.destroy();
          resolve({ ok: false, code: 'TW_UPSTREAM_OTHER', message: `response body larger than ${max} bytes` });
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        const list: HeaderList = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
          list.push([res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string]);
        resolve({
          ok: true,
          parts: {
            status: res.statusCode ?? 502,
            statusText: res.statusMessage,
            headers: list,
            body: Buffer.concat(chunks),
            extra: [['X-Tapwire-Mock', 'passthrough']],
          },
        });
      });
      res.on('error', (err) => resolve(failure(err)));
    };
    const out = secure
      ? https.request(
          {
            ...common,
            servername: /^[\d.]+$|:/.test(req.host) ? '' : req.host,
            ca: opts.upstreamCa,
            rejectUnauthorized: !opts.insecureUpstream,
          },
          onResponse,
        )
      : http.request(common, onResponse);
    out.on('timeout', () => out.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    out.on('error', (err) => resolve(failure(err)));
    out.end(req.method === 'HEAD' || req.method === 'GET' ? (req.body.length ? req.body : undefined) : req.body);
  });
}

function failure(err: Error): PassthroughOutcome {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH')
    return { ok: false, code: 'TW_UPSTREAM_REFUSED', message: `${err.message}` };
  if (code === 'ETIMEDOUT') return { ok: false, code: 'TW_UPSTREAM_TIMEOUT', message: err.message };
  if (/CERT|SELF_SIGNED|ALTNAME|UNABLE_TO/.test(code))
    return { ok: false, code: 'TW_UPSTREAM_TLS', message: describeUpstreamTlsError(err) };
  return { ok: false, code: 'TW_UPSTREAM_OTHER', message: `${err.message}${code ? ` (${code})` : ''}` };
}
