/**
 * HTTP/1.1 to one target origin: an undici Pool with keep-alive and no pipelining (a replayed
 * request never waits behind another on the same connection). Dispatched with a raw handler so
 * that response headers come back as recorded ones are kept: ordered pairs, case and repeats.
 */
import { Pool, type Dispatcher } from 'undici';
import { BodyCollector } from '../model/body.ts';
import type { HeaderList } from '../model/exchange.ts';
import type { PreparedRequest } from './prepare.ts';
import { classify, TransportError, type Client, type ClientOptions } from './transport.ts';
import type { ReplayedResponse } from './types.ts';

export class Http1Client implements Client {
  private readonly pool: Pool;

  constructor(
    origin: string,
    private readonly options: ClientOptions,
  ) {
    this.pool = new Pool(origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // The request's own deadline (below) is the one that counts; these only back it up.
      headersTimeout: options.timeoutMs + 1000,
      bodyTimeout: options.timeoutMs + 1000,
      connect: {
        rejectUnauthorized: options.insecure !== true,
        ...(options.ca && options.ca.length > 0 ? { ca: [...options.ca] } : {}),
      },
    });
  }

  send(req: PreparedRequest, signal?: AbortSignal): Promise<ReplayedResponse> {
    return new Promise<ReplayedResponse>((resolve, reject) => {
      const headers: string[] = [];
      for (const [name, value] of req.headers) headers.push(name, value);
      headers.push('host', req.authority);
      const body = new BodyCollector(this.options.bodyCap);
      let status = 0;
      let responseHeaders: HeaderList = [];
      let abortRequest: ((err?: Error) => void) | undefined;
      let settled = false;
      const finish = (err?: unknown, trailers?: HeaderList) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(classify(err));
        else {
          const response: ReplayedResponse = {
            status,
            headers: responseHeaders,
            body: body.bytes(),
            httpVersion: '1.1',
          };
          if (trailers && trailers.length > 0) response.trailers = trailers;
          resolve(response);
        }
      };
      const cancel = (err: TransportError) => {
        if (abortRequest) abortRequest(err);
        finish(err);
      };
      const onAbort = () => cancel(new TransportError('aborted', 'the run was stopped'));
      const timer = setTimeout(
        () => cancel(new TransportError('timeout', `no complete response within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });

      const handler: Dispatcher.DispatchHandler = {
        onConnect: (abort) => {
          abortRequest = abort;
          if (settled) abort(new TransportError('aborted', 'cancelled'));
        },
        onHeaders: (statusCode, raw) => {
          if (statusCode < 200) return true; // 1xx: the final head follows
          status = statusCode;
          responseHeaders = pairs(raw);
          return true;
        },
        onData: (chunk) => {
          body.add(chunk);
          return true;
        },
        onComplete: (trailers) => finish(undefined, trailers ? pairs(trailers) : undefined),
        onError: (err) => finish(err),
      };
      try {
        this.pool.dispatch(
          {
            path: req.path,
            method: req.method as Dispatcher.HttpMethod,
            headers,
            body: req.body.length > 0 || bodyExpected(req.method) ? req.body : null,
            // Replays re-send what was recorded; undici must not retry on its own.
            idempotent: false,
            blocking: true,
          },
          handler,
        );
      } catch (err) {
        finish(err);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Methods whose empty body is still sent with `Content-Length: 0`, as clients do. */
function bodyExpected(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

function pairs(raw: ReadonlyArray<Buffer | string>): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([String(raw[i]), String(raw[i + 1])]);
  return out;
}
