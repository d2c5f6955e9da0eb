/**
 * Matching cost of the mock's index as the number of recorded endpoints grows: microseconds per
 * match (signature + map lookup + sequence step) for the first, middle and last endpoint and for a
 * miss (repeated: its explanation is remembered; new: candidates scored from scratch), with 1, 100 and 10 000 endpoints, in one run.
 *
 *   node --import tsx bench/mock-index.ts [iterations]
 *
 * A hit should cost the same at 10 000 endpoints as at 1 (an index, not a scan).
 */
import { performance } from 'node:perf_hooks';
import { httpExchange } from '../test/helpers/exchanges.ts';
import type { HttpExchange } from '../src/model/exchange.ts';
import { parseMockConfig } from '../src/mock/match-config.ts';
import { MockIndex } from '../src/mock/mock-index.ts';
import { splitUrl } from '../src/mock/signature.ts';
import type { MockRequest } from '../src/mock/types.ts';

const iterations = Number(process.argv[2] ?? 50_000);
const config = parseMockConfig(
  { rules: [{ host: '*.test', ignoreQuery: ['_ts'], matchHeaders: ['x-tenant'] }] },
  'bench',
);
const headers: Array<[string, string]> = [
  ['host', 'api.test'],
  ['accept', 'application/json'],
  ['x-tenant', 'acme'],
];

function url(i: number): string {
  return `https://h${i % 20}.test/api/v1/items/${i}?page=${i % 5}&sort=name`;
}

function recorded(i: number): HttpExchange {
  const x = httpExchange(i);
  x.request = { ...x.request, url: url(i), headers };
  return x;
}

function live(u: string): MockRequest {
  return { protocol: 'http', ...splitUrl(u), method: 'GET', headers, body: Buffer.alloc(0), httpVersion: '1.1' };
}

function time(index: MockIndex, req: MockRequest, n: number): number {
  for (let i = 0; i < Math.min(n, 2000); i++) index.match(req); // warm-up
  const start = performance.now();
  for (let i = 0; i < n; i++) index.match(req);
  return ((performance.now() - start) * 1000) / n;
}

/** Distinct misses, each explained from scratch (the index remembers recent explanations). */
function coldMiss(index: MockIndex, n: number): number {
  const reqs = Array.from({ length: n }, (_, i) => live(`https://h1.test/api/v1/items/cold-${i}?page=9`));
  const start = performance.now();
  for (const r of reqs) index.match(r);
  return ((performance.now() - start) * 1000) / n;
}

const rows: string[] = [
  '| endpoints | build ms | first µs | middle µs | last µs | miss µs (repeated) | miss µs (new) |',
  '|---:|---:|---:|---:|---:|---:|---:|',
];
for (const n of [1, 100, 10_000]) {
  const exchanges = Array.from({ length: n }, (_, i) => recorded(i));
  const t0 = performance.now();
  const index = MockIndex.build(exchanges, config);
  const buildMs = performance.now() - t0;
  const [first, middle, last] = [0, Math.floor(n / 2), n - 1].map((i) => time(index, live(url(i)), iterations));
  const miss = time(index, live('https://h1.test/api/v1/items/none?page=9'), Math.max(1000, iterations / 20));
  const cold = coldMiss(index, 500);
  const f = (v: number | undefined): string => (v ?? 0).toFixed(2);
  rows.push(`| ${n} | ${buildMs.toFixed(1)} | ${f(first)} | ${f(middle)} | ${f(last)} | ${f(miss)} | ${f(cold)} |`);
}
process.stdout.write(`MockIndex.match, ${iterations} matches per cell (node ${process.version})\n${rows.join('\n')}\n`);
