import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigInvalidError, FileUnreadableError } from '../errors.ts';
import { loadConfig } from './load.ts';

describe('loadConfig', () => {
  it('layers defaults < file < env < flags and freezes the result', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-config-'));
    try {
      const file = path.join(dir, 'tapwire.yaml');
      writeFileSync(file, 'store: /from-file\nrecord:\n  inPort: 5000\n  outPort: 5001\n  service: file-svc\n');
      const c = loadConfig({
        file,
        env: { TAPWIRE_OUT_PORT: '6001', TAPWIRE_SERVICE: 'env-svc' },
        flags: { record: { service: 'flag-svc', app: undefined } },
      });
      assert.equal(c.store, '/from-file');
      assert.equal(c.record.inPort, 5000);
      assert.equal(c.record.outPort, 6001);
      assert.equal(c.record.service, 'flag-svc');
      assert.equal(c.record.adminPort, 4100);
      assert.ok(Object.isFrozen(c.record));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every problem at once, unknown keys included', () => {
    try {
      loadConfig({ flags: { record: { app: 'nope', inPort: 70000, typo: true } } });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof ConfigInvalidError);
      assert.deepEqual(err.issues.map((i) => i.path).sort(), ['record', 'record.app', 'record.inPort']);
      assert.match(err.message, /Unrecognized key: "typo"/);
    }
    assert.throws(() => loadConfig({ env: { TAPWIRE_IN_PORT: 'abc' } }), /TAPWIRE_IN_PORT: must be a number/);
  });

  it('names an unreadable or non-YAML file', () => {
    assert.throws(() => loadConfig({ file: '/no/such/tapwire.yaml' }), FileUnreadableError);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-config-'));
    try {
      const bad = path.join(dir, 'bad.yaml');
      writeFileSync(bad, 'record: [unclosed\n');
      assert.throws(() => loadConfig({ file: bad }), /not valid YAML/);
      writeFileSync(bad, '- a list\n');
      assert.throws(() => loadConfig({ file: bad }), /must hold a YAML mapping/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
