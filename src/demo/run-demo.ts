/**
 * `tapwire demo`: records a bundled sample on loopback, end to end and for real. A shop API
 * (a separate Node process, no tapwire code in it) is started under the recorder; it calls an
 * inventory service for each request. The demo sends it a few requests and writes what the
 * recorder saw, inbound and outbound, to a snapshot in the store.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { childProxyEnv } from '../capture/child-env.ts';
import { startRecording } from '../capture/recording.ts';
import { recordConfigSchema } from '../config/schema.ts';
import type { Exchange } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { Store } from '../store/types.ts';
import { freePort } from './free-port.ts';
import { startInventory } from './inventory.ts';

const SAMPLE_APP = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sample-app.mjs');

export interface DemoOptions {
  store: Store;
  logger: Logger;
  /** Progress lines for the person watching. */
  say: (line: string) => void;
}

export interface DemoResult {
  meta: SnapshotMeta;
  exchanges: Exchange[];
}

const REQUESTS: Array<{ method: string; path: string; body?: unknown }> = [
  { method: 'GET', path: '/products' },
  { method: 'GET', path: '/products/1' },
  { method: 'GET', path: '/products/2' },
  { method: 'POST', path: '/orders', body: { sku: '1', qty: 2 } },
  { method: 'POST', path: '/orders', body: { sku: '2', qty: 1 } },
  { method: 'GET', path: '/products/9' },
];

export async function runDemo({ store, logger, say }: DemoOptions): Promise<DemoResult> {
  const inventory = await startInventory();
  const appPort = await freePort();
  const config = recordConfigSchema.parse({
    app: `127.0.0.1:${appPort}`,
    inPort: 0,
    outPort: 0,
    adminPort: 0,
    service: 'shop',
    // The bundled dependency speaks plain HTTP: no CA is needed (nor made in the user's home).
    tlsOut: false,
    name: `demo-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`,
  });
  const recording = await startRecording({ config, store, logger });
  const outbound = recording.outbound;
  const inbound = recording.inbound;
  if (!outbound || !inbound) throw new Error('the demo needs both listeners');
  say(
    `1. recording: inbound 127.0.0.1:${inbound.port} → shop app :${appPort}, outbound proxy 127.0.0.1:${outbound.port}`,
  );

  const app = spawn(process.execPath, [SAMPLE_APP, inventory.url, String(appPort)], {
    env: childProxyEnv(process.env, outbound.host, outbound.port),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      app.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('listening')) resolve();
      });
      app.once('exit', (code) => reject(new Error(`the sample app exited early (code ${code})`)));
      app.once('error', reject);
    });
    say(`2. started the shop app (node ${path.basename(SAMPLE_APP)}) with HTTP_PROXY pointing at tapwire`);
    say('3. sending it requests through tapwire:');
    for (const r of REQUESTS) {
      const res = await fetch(`http://127.0.0.1:${inbound.port}${r.path}`, {
        method: r.method,
        ...(r.body ? { body: JSON.stringify(r.body), headers: { 'Content-Type': 'application/json' } } : {}),
      });
      await res.arrayBuffer();
      say(`   ${r.method.padEnd(4)} ${r.path.padEnd(12)} → ${res.status}`);
    }
  } finally {
    app.kill('SIGTERM');
    await new Promise((r) => (app.exitCode !== null ? r(null) : app.once('exit', r)));
  }
  const meta = await recording.stop();
  await inventory.close();
  const exchanges: Exchange[] = [];
  for await (const x of (await store.open(meta.id)).exchanges()) exchanges.push(x);
  return { meta, exchanges };
}
