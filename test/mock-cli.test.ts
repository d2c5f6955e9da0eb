/**
 * End to end: `tapwire mock SNAPSHOT -- COMMAND` runs an app (curl, sh) with the proxy and CA
 * environment against a snapshot recorded from a real origin that is gone, prints what it
 * serves and the match summary at exit, and exits with the app's code; bad input fails at
 * start with the file and the path of the problem.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, curl, needTool } from './helpers/forward.ts';
import { runCli } from './helpers/cli.ts';
import { startOrigin } from './helpers/peers.ts';
import { startTestRecording } from './helpers/recording.ts';

const noCurl = needTool('curl');

describe('tapwire mock (command line)', () => {
  let storeDir: string;
  let snapshotId: string;
  let port: number;
  const caDir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-ca-'));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tapwire-mock-cli-'));

  before(async () => {
    const origin = await startOrigin((req, res) => res.end(`hello ${req.url}`));
    port = origin.port;
    const rec = await startTestRecording({ proxyType: 'forward', name: 'cli-run' });
    try {
      assert.equal((await curl(['-x', rec.outProxy, `http://127.0.0.1:${port}/hi`])).stdout, 'hello /hi');
      await rec.stopAndRead();
      snapshotId = rec.recording.snapshotId;
      storeDir = rec.storeDir;
    } finally {
      await origin.close();
    }
  });

  after(() => {
    for (const d of [storeDir, caDir, tmp]) rmSync(d, { recursive: true, force: true });
  });

  const base = ['--out-port', '0', '--admin-port', '0', '--ca', caDir, '--no-watch'];

  it('runs a command against the mock and prints the match summary at exit', { skip: noCurl }, async () => {
    const script = `curl -sS http://127.0.0.1:${port}/hi; echo; curl -sS -o /dev/null http://127.0.0.1:${port}/missing; exit 3`;
    const out = await runCli(['--store', storeDir, 'mock', 'cli-run', ...base, '--', 'sh', '-c', script], {
      env: cleanEnv(),
    });
    assert.equal(out.code, 3, out.stderr);
    assert.match(out.stderr, /mocking 1 recorded endpoints from 1 snapshot\(s\): cli-run/);
    assert.match(out.stderr, new RegExp(`http://127\\.0\\.0\\.1:${port}\\s+1 endpoint`));
    assert.match(out.stderr, /matched 1, missed 1, passed through 0/);
    assert.match(out.stderr, new RegExp(`miss GET http://127\\.0\\.0\\.1:${port}/missing`));
    assert.match(out.stderr, /sh exited with code 3/);
  });

  it('takes snapshots by id, path and --in; the same snapshot twice is served once', { skip: noCurl }, async () => {
    const dir = path.join(storeDir, 'snapshots', snapshotId);
    const out = await runCli(
      [
        '--store',
        storeDir,
        'mock',
        snapshotId,
        '--in',
        dir,
        ...base,
        '--',
        'curl',
        '-sS',
        `http://127.0.0.1:${port}/hi`,
      ],
      { env: cleanEnv() },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout + out.stderr, /matched 1, missed 0/);
    assert.match(out.stderr, /from 1 snapshot\(s\)/);
  });

  it('fails at start on an unknown snapshot (exit 1) and names the config key at fault (exit 2)', async () => {
    const missing = await runCli(['--store', storeDir, 'mock', 'no-such-snapshot', ...base, '--', 'true'], {
      env: cleanEnv(),
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no snapshot "no-such-snapshot".*\[TW_SNAPSHOT_NOT_FOUND\]/s);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');

    const config = path.join(tmp, 'bad.yaml');
    writeFileSync(config, 'faults:\n  - { name: x, status: 500, bogus: true }\nlatncy: 2x\n');
    const bad = await runCli(['--store', storeDir, 'mock', 'cli-run', '--config', config, ...base, '--', 'true'], {
      env: cleanEnv(),
    });
    assert.equal(bad.code, 2);
    assert.ok(bad.stderr.includes(config), bad.stderr);
    assert.match(bad.stderr, /faults\.0/);
    assert.match(bad.stderr, /latncy/);
    assert.match(bad.stderr, /\[TW_CONFIG_INVALID\]/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);

    const usage = await runCli(['--store', storeDir, 'mock', 'cli-run', '--map', '8443', ...base], { env: cleanEnv() });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--map must be PORT=HOST:PORT/);
  });
});
