/**
 * Makes the inputs of bench/mock-endpoints.sh for one endpoint count: a tapwire snapshot of N
 * recorded outbound GETs to distinct paths on one host, each answered 200 with its own 1 KiB
 * JSON body, and the equivalent mountebank imposter (one stub per endpoint, in recorded order,
 * with a `path` equals predicate; anything else gets the default 404).
 *
 *   node --import tsx bench/mock-snapshot.ts --store DIR --endpoints N --out DIR [--host H] [--mb-port P]
 *
 * Writes, in --out: imposter.json (POST it to mountebank's /imposters), paths.txt (first,
 * middle and last recorded path, one a line), first.body / middle.body / last.body (the exact
 * bytes each must answer), and prints the snapshot directory on stdout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { HttpExchange } from '../src/model/exchange.ts';
import { newId } from '../src/model/ids.ts';
import { openStore } from '../src/store/fs/index.ts';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    endpoints: { type: 'string' },
    out: { type: 'string' },
    host: { type: 'string', default: 'api.bench.test' },
    'mb-port': { type: 'string', default: '0' },
  },
});
if (!values.store || !values.endpoints || !values.out) {
  process.stderr.write('usage: mock-snapshot.ts --store DIR --endpoints N --out DIR [--host H] [--mb-port P]\n');
  process.exit(2);
}
const n = Number(values.endpoints);
if (!Number.isInteger(n) || n < 1) throw new Error(`--endpoints must be a whole number >= 1 (got ${values.endpoints})`);
const host = values.host;
const BODY_BYTES = 1024;
const BASE_MS = Date.parse('2025-01-01T00:00:00.000Z');

export function pathOf(i: number): string {
  return `/api/v1/items/${i}`;
}

/** A JSON object of exactly 1024 bytes, different for every endpoint. */
function bodyOf(i: number): string {
  const head = `{"id":${i},"path":"${pathOf(i)}","name":"item ${i}","tags":["bench","mock"],"data":"`;
  const tail = '"}';
  const fill = BODY_BYTES - head.length - tail.length;
  let data = '';
  for (let k = 0; data.length < fill; k++) data += ((i * 31 + k * 7) % 36).toString(36);
  return head + data.slice(0, fill) + tail;
}

function exchange(i: number): HttpExchange {
  const ms = BASE_MS + i; // distinct, increasing: recorded order is time order
  const body = bodyOf(i);
  return {
    v: 1,
    id: newId(ms),
    ts: new Date(ms).toISOString(),
    durationMs: 1,
    direction: 'outbound',
    service: host,
    protocol: 'http',
    src: '127.0.0.1:40000',
    dst: `${host}:80`,
    request: {
      method: 'GET',
      url: `http://${host}${pathOf(i)}`,
      httpVersion: '1.1',
      headers: [
        ['Host', host],
        ['Accept', 'application/json'],
      ],
    },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: '1.1',
      headers: [
        ['Content-Type', 'application/json'],
        ['Content-Length', String(BODY_BYTES)],
      ],
      body: { encoding: 'utf8', data: body, size: BODY_BYTES, truncated: false, contentType: 'application/json' },
    },
    timings: { connectMs: 0, ttfbMs: 1 },
  };
}

mkdirSync(values.out, { recursive: true });
const writer = await openStore(values.store).create({
  name: `bench-${n}-endpoints`,
  services: [host],
  source: 'record',
});
const BATCH = 1000;
for (let start = 0; start < n; start += BATCH) {
  const batch: HttpExchange[] = [];
  for (let i = start; i < Math.min(n, start + BATCH); i++) batch.push(exchange(i));
  await writer.writeBatch(batch);
}
await writer.close();

// mountebank answers `Connection: close` unless told otherwise: keep-alive, as tapwire does.
const MB_HEADERS = { Connection: 'keep-alive' };
const stubs = [];
for (let i = 0; i < n; i++) {
  stubs.push({
    predicates: [{ equals: { method: 'GET', path: pathOf(i) } }],
    responses: [
      { is: { statusCode: 200, headers: { ...MB_HEADERS, 'Content-Type': 'application/json' }, body: bodyOf(i) } },
    ],
  });
}
const imposter = {
  protocol: 'http',
  port: Number(values['mb-port']),
  name: `bench-${n}-endpoints`,
  recordRequests: false,
  defaultResponse: {
    statusCode: 404,
    headers: { ...MB_HEADERS, 'Content-Type': 'text/plain' },
    body: 'no stub matched',
  },
  stubs,
};
writeFileSync(join(values.out, 'imposter.json'), JSON.stringify(imposter));
const picks = { first: 0, middle: Math.floor(n / 2), last: n - 1 };
writeFileSync(join(values.out, 'paths.txt'), Object.values(picks).map(pathOf).join('\n') + '\n');
for (const [name, i] of Object.entries(picks)) writeFileSync(join(values.out, `${name}.body`), bodyOf(i));
process.stdout.write(`${writer.dir}\n`);
