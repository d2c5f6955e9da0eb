/**
 * The admin endpoint of a capture run: health and readiness probes, Prometheus metrics, and
 * /tail, the live feed as NDJSON. It is not on the traffic path, so node:http is fine here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { ListenError } from '../errors.ts';
import type { Exchange } from '../model/exchange.ts';
import { summarize } from '../model/summary.ts';
import type { DeliveredEvent, LiveFeed, Subscription } from './live-feed.ts';
import { PROMETHEUS_CONTENT_TYPE, type CaptureMetrics } from './metrics.ts';

export const HEARTBEAT_MS = 15_000;
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

export const ADMIN_ROUTES = [
  'GET /healthz  liveness: 200 "ok"',
  'GET /readyz   readiness: 200 "ready" or 503 "not ready"',
  'GET /metrics  Prometheus metrics (text format 0.0.4)',
  'GET /tail     live exchanges as NDJSON (?summary=1 for compact lines, ?filter=TEXT)',
] as const;

/** What the admin server needs from the metrics: rendering, and optionally its own connection counts. */
export type AdminMetrics = Pick<CaptureMetrics, 'render'> &
  Partial<Pick<CaptureMetrics, 'connectionsOpen' | 'connectionsTotal'>>;

export interface AdminServerOptions {
  /** Default 127.0.0.1: the feed carries captured headers and bodies, so it stays local unless asked. */
  host?: string;
  port: number;
  metrics: AdminMetrics;
  feed: LiveFeed;
  isReady: () => boolean;
  logger?: Logger;
  /** Interval of `{"type":"heartbeat"}` lines on /tail (default 15 s), so proxies keep it open. */
  heartbeatMs?: number;
  /** How long close() lets /tail clients read their last events before cutting them off (default 2 s). */
  closeGraceMs?: number;
}

export interface AdminServer {
  port: number;
  url: string;
  /** Ends open /tail streams (after their buffered events) and stops listening. */
  close(): Promise<void>;
}

/** The compact form of an exchange sent by `/tail?summary=1`. */
export interface ExchangeDigest {
  id: string;
  ts: string;
  durationMs: number;
  direction: Exchange['direction'];
  protocol: Exchange['protocol'];
  service?: string;
  dst?: string;
  method?: string;
  url?: string;
  status?: number;
  error?: string;
  /** The same one-line summary `tapwire tail` prints. */
  line: string;
}

interface Tail {
  sub: Subscription;
  res: ServerResponse;
  done: Promise<void>;
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { metrics, feed, isReady, logger } = options;
  const host = options.host ?? '127.0.0.1';
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const closeGraceMs = options.closeGraceMs ?? 2000;
  const tails = new Set<Tail>();
  let closing = false;

  const server = createServer((req, res) => {
    try {
      route(req, res);
    } catch (err) {
      logger?.error({ err, url: req.url }, 'admin request failed');
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy();
    }
  });

  const open = metrics.connectionsOpen?.labels({ listener: 'admin' });
  const total = metrics.connectionsTotal?.labels({ listener: 'admin' });
  server.on('connection', (socket: Socket) => {
    open?.inc();
    total?.inc();
    socket.once('close', () => open?.dec());
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const known =
      url.pathname === '/healthz' ||
      url.pathname === '/readyz' ||
      url.pathname === '/metrics' ||
      url.pathname === '/tail';
    if (!known) {
      sendJson(res, 404, { error: `no route ${url.pathname}`, routes: ADMIN_ROUTES });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { error: `method ${req.method} not allowed on ${url.pathname}`, allow: ['GET', 'HEAD'] });
      return;
    }
    switch (url.pathname) {
      case '/healthz':
        sendText(res, 200, 'ok\n');
        return;
      case '/readyz': {
        let ready = false;
        try {
          ready = isReady();
        } catch (err) {
          logger?.warn({ err }, 'readiness check failed');
        }
        sendText(res, ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
        return;
      }
      case '/metrics':
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(metrics.render());
        return;
      default:
        startTail(req, res, url);
    }
  }

  function startTail(req: IncomingMessage, res: ServerResponse, url: URL): void {
    res.writeHead(200, {
      'content-type': `${NDJSON_CONTENT_TYPE}; charset=utf-8`,
      'cache-control': 'no-store',
      // nginx and similar reverse proxies buffer responses unless told not to.
      'x-accel-buffering': 'no',
      // A finished stream leaves nothing to keep alive, and this lets close() finish promptly.
      connection: 'close',
    });
    if (req.method === 'HEAD' || closing) {
      res.end();
      return;
    }
    res.flushHeaders(); // the client learns it is connected before the first event
    req.socket.setNoDelay(true);
    const compact = flag(url.searchParams.get('summary'));
    const filter = url.searchParams.get('filter')?.toLowerCase() || undefined;
    const sub = feed.subscribe();
    const heartbeat = setInterval(() => {
      // Between end() and 'close' a write would be a write-after-end error.
      if (!res.writableEnded) res.write('{"type":"heartbeat"}\n');
    }, heartbeatMs);
    const tail: Tail = { sub, res, done: Promise.resolve() };
    tails.add(tail);
    logger?.debug({ remote: req.socket.remoteAddress, compact, filter }, 'tail client connected');
    res.once('close', () => {
      clearInterval(heartbeat);
      sub.close();
      tails.delete(tail);
      logger?.debug({ dropped: sub.dropped }, 'tail client gone');
    });
    tail.done = pump(sub, res, compact, filter).catch((err: unknown) => {
      logger?.warn({ err }, 'tail stream failed');
      res.destroy();
    });
  }

  async function pump(sub: Subscription, res: ServerResponse, compact: boolean, filter: string | undefined) {
    let carried = 0;
    for await (const event of sub) {
      if (filter !== undefined && !matches(event, filter)) {
        // The gap still has to be told: keep it for the next event that passes.
        if (event.missed) carried += event.missed;
        continue;
      }
      const missed = (event.missed ?? 0) + carried;
      carried = 0;
      const line = JSON.stringify(encode(event, compact, missed)) + '\n';
      // A slow reader makes write() return false: wait, and let the subscription buffer (and
      // drop) meanwhile. When closing, write out what is buffered without waiting.
      if (!res.write(line) && !closing) await drained(res);
      if (res.destroyed) return;
    }
    if (!res.writableEnded) res.end();
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(new ListenError('the admin endpoint', options.port, host, err));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options.port, host);
  });
  server.on('error', (err) => logger?.error({ err }, 'admin server error'));

  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `http://${hostInUrl}:${port}`,
    async close() {
      if (closing) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const ends = [...tails].map((t) => {
        t.sub.end();
        return t.done;
      });
      // A reader that stopped reading would hold close() forever: cut it off after a grace.
      const grace = setTimeout(() => server.closeAllConnections(), closeGraceMs);
      grace.unref();
      await Promise.all(ends);
      await stopped;
      clearTimeout(grace);
    },
  };
}

function encode(event: DeliveredEvent, compact: boolean, missed: number): object {
  const base =
    compact && event.type === 'exchange' ? { type: 'exchange', summary: digest(event.exchange) } : stripMissed(event);
  return missed > 0 ? { ...base, missed } : base;
}

function stripMissed(event: DeliveredEvent): object {
  if (event.missed === undefined) return event;
  const { missed: _missed, ...rest } = event;
  return rest;
}

function matches(event: DeliveredEvent, filter: string): boolean {
  // Notices are rare and about the capture itself: a filter never hides them.
  if (event.type !== 'exchange') return true;
  return summarize(event.exchange).toLowerCase().includes(filter);
}

export function digest(x: Exchange): ExchangeDigest {
  const d: ExchangeDigest = {
    id: x.id,
    ts: x.ts,
    durationMs: x.durationMs,
    direction: x.direction,
    protocol: x.protocol,
    line: summarize(x),
  };
  if (x.service !== undefined) d.service = x.service;
  if (x.dst !== undefined) d.dst = x.dst;
  if (x.protocol !== 'tcp') {
    d.method = x.request.method;
    d.url = x.request.url;
    if (x.response) d.status = x.response.status;
  }
  if (x.error) d.error = x.error.kind;
  return d;
}

function flag(value: string | null): boolean {
  return value !== null && value !== '0' && value !== 'false';
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body) + '\n');
}
