/** Starts a real recording (listeners on port 0, a temporary store) for end-to-end tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { recordConfigSchema, type RecordConfig } from '../../src/config/schema.ts';
import { startRecording, type Recording } from '../../src/capture/recording.ts';
import type { Exchange } from '../../src/model/exchange.ts';
import { openStore } from '../../src/store/fs/index.ts';

export interface TestRecording {
  recording: Recording;
  storeDir: string;
  inUrl: string;
  outProxy: string;
  outPort: number;
  /** Stops the recording and returns every exchange written to the snapshot. */
  stopAndRead(): Promise<Exchange[]>;
  cleanup(): Promise<void>;
}

/**
 * `caDir` turns outbound TLS interception on with the CA in that directory (made if absent);
 * without it TLS tunnels pass through.
 */
export async function startTestRecording(
  overrides: Partial<RecordConfig> = {},
  options: { caDir?: string } = {},
): Promise<TestRecording> {
  const storeDir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-test-'));
  const config = recordConfigSchema.parse({
    inPort: 0,
    outPort: 0,
    adminPort: 0,
    tlsOut: options.caDir !== undefined,
    ...overrides,
  });
  const store = openStore(storeDir);
  const recording = await startRecording({
    config,
    store,
    logger: pino({ level: 'silent' }),
    ...(options.caDir ? { caDir: options.caDir } : {}),
  });
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      await recording.stop(500);
    }
  };
  return {
    recording,
    storeDir,
    inUrl: recording.inbound ? `http://127.0.0.1:${recording.inbound.port}` : '',
    outProxy: recording.outbound ? `http://127.0.0.1:${recording.outbound.port}` : '',
    outPort: recording.outbound?.port ?? 0,
    async stopAndRead() {
      await stop();
      const handle = await store.open(recording.snapshotId);
      const out: Exchange[] = [];
      const problems: string[] = [];
      for await (const x of handle.exchanges({
        onProblem: (p) => problems.push(`${p.kind} line ${p.line}: ${p.message}`),
      }))
        out.push(x);
      // Every record the proxy writes must read back valid.
      if (problems.length > 0) throw new Error(`snapshot has unreadable records:\n${problems.join('\n')}`);
      return out;
    },
    async cleanup() {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
