/**
 * `tapwire demo`, the README's first command: it records the bundled sample end to end and
 * tells the user what to do next, on a machine with nothing else set up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../src/store/fs/index.ts';
import { runCli } from './helpers/cli.ts';

describe('tapwire demo', () => {
  it('records the sample shop and its inventory dependency, in and out', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'tapwire-demo-'));
    try {
      const store = path.join(tmp, 'store');
      // HOME points at an empty folder: the demo must not need (or make) anything there.
      const res = await runCli(['demo', '--store', store], { env: { HOME: tmp } });
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /4\. recorded \d+ exchanges \(\d+ in, \d+ out\) in snapshot demo-/);
      assert.match(res.stdout, /Next:\n {2}npx tapwire snapshot show demo-/);
      const [meta] = await openStore(store).list();
      assert.equal(meta?.status, 'complete');
      assert.ok((meta?.counts.inbound ?? 0) > 0 && (meta?.counts.outbound ?? 0) > 0, JSON.stringify(meta?.counts));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
