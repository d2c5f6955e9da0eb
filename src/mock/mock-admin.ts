/**
 * The mock's admin endpoint (127.0.0.1:--admin-port, default 4101): probes, Prometheus
 * metrics, and /matches, the match report as JSON (matched per signature, misses with their
 * explanations and candidates, passthroughs, faults). Not on the traffic path: node:http.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { PROMETHEUS_CONTENT_TYPE, Registry, type Gauge } from '../capture/metrics.ts';
import { ListenError } from '../errors.ts';
import type { MatchStats, StatsSnapshot } from './match-stats.ts';

export const MOCK_ADMIN_ROUTES = [
  'GET /healthz  liveness: 200 "ok"',
  'GET /readyz   readiness: 200 "ready" once the snapshots are loaded',
  'GET /metrics  Prometheus metrics (text format 0.0.4)',
  'GET /matches  JSON: matched per signature, missed with explanations, passed through, faults',
] as const;

export interface MockAdminOptions {
  host?: string;
  port: number;
  stats: MatchStats;
  /** Extra facts for /matches (snapshots, endpoints, reloads). */
  info: () => Record<string, unknown>;
  /** Gauges read at scrape time. */
  gauges: () => { endpoints: number; reloads: number; reloadFailures: number; connections: number };
  isReady: () => boolean;
  logger?: Logger;
}

export interface MockAdmin {
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface MatchesReport extends StatsSnapshot {
  [key: string]: unknown;
}

export async function startMockAdmin(opts: MockAdminOptions): Promise<MockAdmin> {
  const host = opts.host ?? '127.0.0.1';
  const registry = mockMetrics(opts);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'application/json', JSON.stringify({ error: `method ${req.method} not allowed` }) + '\n');
    }
    switch (url.pathname) {
      case '/healthz':
        return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz': {
        const ready = opts.isReady();
        return send(res, ready ? 200 : 503, 'text/plain; charset=utf-8', ready ? 'ready\n' : 'not ready\n');
      }
      case '/metrics':
        return send(res, 200, PROMETHEUS_CONTENT_TYPE, registry.render());
      case '/matches': {
        const report: MatchesReport = { ...opts.info(), ...opts.stats.snapshot() };
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(report, null, 2) + '\n');
      }
      default:
        return send(
          res,
          404,
          'application/json; charset=utf-8',
          JSON.stringify({ error: `no route ${url.pathname}`, routes: MOCK_ADMIN_ROUTES }) + '\n',
        );
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('the admin endpoint', opts.port, host, err)));
    server.listen(opts.port, host, () => resolve());
  });
  server.on('error', (err) => opts.logger?.error({ err }, 'admin server error'));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function mockMetrics(opts: MockAdminOptions): Registry {
  const r = new Registry();
  const s = opts.stats;
  const requests = r.counter<{ outcome: string }>({
    name: 'tapwire_mock_requests_total',
    help: 'Requests the mock answered, by outcome (matched, missed, passed_through, malformed).',
    labelNames: ['outcome'],
    collect: () => {
      requests.labels({ outcome: 'matched' }).value = s.matched;
      requests.labels({ outcome: 'missed' }).value = s.missed;
      requests.labels({ outcome: 'passed_through' }).value = s.passedThrough;
      requests.labels({ outcome: 'malformed' }).value = s.malformed;
    },
  });
  const faults = r.counter<{ fault: string }>({
    name: 'tapwire_mock_faults_total',
    help: 'Faults injected, by fault name.',
    labelNames: ['fault'],
    collect: () => {
      for (const [name, n] of s.faults) faults.labels({ fault: name }).value = n;
    },
  });
  const overflow = r.counter({
    name: 'tapwire_mock_report_dropped_total',
    help: 'Distinct matches, misses or passthroughs left out of /matches once a list reached its bound (counted still).',
    collect: () => void (overflow.labels({}).value = s.overflow),
  });
  const gauge = (name: string, help: string, key: keyof ReturnType<MockAdminOptions['gauges']>) => {
    const g: Gauge = r.gauge({ name, help, collect: (): void => g.set(opts.gauges()[key]) });
  };
  gauge('tapwire_mock_endpoints', 'Distinct recorded request signatures being served.', 'endpoints');
  gauge('tapwire_mock_connections_open', 'Client connections open on the mock listeners.', 'connections');
  const reloads = r.counter<{ result: string }>({
    name: 'tapwire_mock_reloads_total',
    help: 'Hot reloads of the snapshots or config, by result.',
    labelNames: ['result'],
    collect: () => {
      const g = opts.gauges();
      reloads.labels({ result: 'ok' }).value = g.reloads;
      reloads.labels({ result: 'failed' }).value = g.reloadFailures;
    },
  });
  return r;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
