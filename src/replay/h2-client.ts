/**
 * HTTP/2 to one target origin: one session (h2c with prior knowledge for http://, ALPN h2 for
 * https://), streams multiplexed on it. A session that fails or goes away is replaced on the
 * next request; the requests on it fail with a transport error.
 */
import http2 from 'node:http2';
import { BodyCollector } from '../model/body.ts';
import type { HeaderList } from '../model/exchange.ts';
import type { PreparedRequest } from './prepare.ts';
import { classify, TransportError, type Client, type ClientOptions } from './transport.ts';
import type { ReplayedResponse } from './types.ts';

export class Http2Client implements Client {
  private session: http2.ClientHttp2Session | undefined;

  constructor(
    private readonly origin: string,
    private readonly options: ClientOptions,
  ) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.origin, {
      rejectUnauthorized: this.options.insecure !== true,
      ...(this.options.ca && this.options.ca.length > 0 ? { ca: [...this.options.ca] } : {}),
    });
    // Errors reach each stream; the session's own is only noted so that it is not thrown.
    session.on('error', () => undefined);
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.on('goaway', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }

  send(req: PreparedRequest, signal?: AbortSignal): Promise<ReplayedResponse> {
    return new Promise<ReplayedResponse>((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = {
        ':method': req.method,
        ':path': req.path,
        ':authority': req.authority,
        ':scheme': this.origin.startsWith('https:') ? 'https' : 'http',
      };
      for (const [name, value] of req.headers) {
        // HTTP/2 header names are lower case; repeats travel as one field with several values.
        const lower = name.toLowerCase();
        const prev = headers[lower];
        headers[lower] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
      }
      const body = new BodyCollector(this.options.bodyCap);
      let status = 0;
      let responseHeaders: HeaderList = [];
      let trailers: HeaderList | undefined;
      let settled = false;
      let stream: http2.ClientHttp2Stream | undefined;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) {
          if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(classify(err));
        } else {
          const response: ReplayedResponse = { status, headers: responseHeaders, body: body.bytes(), httpVersion: '2' };
          if (trailers && trailers.length > 0) response.trailers = trailers;
          resolve(response);
        }
      };
      const onAbort = () => finish(new TransportError('aborted', 'the run was stopped'));
      const timer = setTimeout(
        () => finish(new TransportError('timeout', `no complete response within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const session = this.connect();
        stream = session.request(headers, { endStream: req.body.length === 0 });
      } catch (err) {
        return finish(err);
      }
      // Newer Node passes the raw list (order and repeats as sent) after the flags.
      stream.on('response', (head, ...rest: unknown[]) => {
        status = Number(head[':status']);
        responseHeaders = headerPairs(head, rest[1]);
      });
      stream.on('trailers', (head, ...rest: unknown[]) => {
        trailers = headerPairs(head, rest[1]);
      });
      stream.on('data', (chunk: Buffer) => body.add(chunk));
      stream.on('end', () => finish());
      stream.on('error', (err) => finish(err));
      stream.on('close', () => {
        if (!settled) {
          const code = stream?.rstCode ?? 0;
          finish(new TransportError('reset', `stream closed before the response ended (code ${code})`));
        }
      });
      if (req.body.length > 0) stream.end(req.body);
    });
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session || session.destroyed) return;
    await new Promise<void>((resolve) => {
      session.close(() => resolve());
      // Streams still open at close (an interrupted run) must not hold the close forever.
      setTimeout(() => {
        session.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}

/** Header pairs without the pseudo-headers: from the raw list when given, else from the object. */
function headerPairs(head: http2.IncomingHttpHeaders, raw: unknown): HeaderList {
  const out: HeaderList = [];
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = String(raw[i]);
      if (!name.startsWith(':')) out.push([name, String(raw[i + 1])]);
    }
    return out;
  }
  for (const [name, value] of Object.entries(head)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, String(v)]);
  }
  return out;
}
