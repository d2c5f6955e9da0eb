/**
 * How long TLS interception takes to get a certificate for a host it has not seen:
 * `node --import tsx bench/tls-leaf.ts [HOSTS]` (default 1000).
 *
 * Times the first leaf of a LeafCache (which also generates the shared leaf key) and then one
 * leaf per new host, arriving the way new hosts do: one at a time with a little time between
 * them (GAP_MS, default 5), in which the cache gets key-loaded contexts ready; a burst with no
 * gap at all is timed too (the worst case: no ready context left), and a full
 * tls.createSecureContext for comparison (what a new host would cost without ready contexts).
 * The CA lives in a temporary directory that is removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { initCa } from '../src/protocols/tls/ca.ts';
import { issueLeafPem, LeafCache } from '../src/protocols/tls/leaf-cache.ts';

const hosts = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'tapwire-bench-leaf-'));
try {
  const ca = (await initCa(dir)).ca;
  const cache = new LeafCache(ca, { max: 2 * hosts + 1 });

  let t = performance.now();
  await cache.contextFor('first.bench.test');
  const first = performance.now() - t;

  const gapMs = Number(process.env.GAP_MS ?? 5);
  const perHost: number[] = [];
  for (let i = 0; i < hosts; i++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    t = performance.now();
    await cache.contextFor(`host-${i}.bench.test`);
    perHost.push(performance.now() - t);
  }
  const burst: number[] = [];
  for (let i = 0; i < Math.min(hosts, 200); i++) {
    t = performance.now();
    await cache.contextFor(`burst-${i}.bench.test`);
    burst.push(performance.now() - t);
  }
  const hits: number[] = [];
  for (let i = 0; i < hosts; i++) {
    t = performance.now();
    await cache.contextFor(`host-${i}.bench.test`);
    hits.push(performance.now() - t);
  }

  // The parts, measured apart: the SecureContext from a ready PEM, as contextFor builds it.
  const leaf = await issueLeafPem(ca, 'parts.bench.test');
  const contexts: number[] = [];
  for (let i = 0; i < Math.min(hosts, 300); i++) {
    t = performance.now();
    tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem + ca.certPem });
    contexts.push(performance.now() - t);
  }

  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} median ${ms(pct(xs, 50))}  p99 ${ms(pct(xs, 99))}  (n=${xs.length})`;
  console.log(`node ${process.version}, OpenSSL ${process.versions.openssl}, ${hosts} new hosts`);
  console.log(`${'first leaf (key generation + sign)'.padEnd(34)} ${ms(first)}`);
  console.log(row(`new host, ${gapMs} ms apart`, perHost));
  console.log(row('new host, back to back (burst)', burst));
  console.log(row('a full createSecureContext', contexts));
  console.log(row('cached host', hits));
  console.log(`cache: ${JSON.stringify(cache.stats)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function pct(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function ms(x: number): string {
  return `${x.toFixed(3)} ms`;
}
