/** The error catalog and docs/errors.md describe the same codes (the fastify model). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { proxyErrorCodes } from './capture/error-response.ts';
import { errorCatalog, ExitCode, SnapshotNotFoundError, UsageError } from './errors.ts';
import * as errors from './errors.ts';

const doc = readFileSync(path.join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
const documented = new Set([...doc.matchAll(/^\| `(TW_[A-Z_]+)`\s*\|/gm)].map((m) => m[1]));

describe('error catalog', () => {
  it('documents every command error code and no other', () => {
    const section = doc.slice(0, doc.indexOf('## Proxy error responses'));
    const inDoc = [...section.matchAll(/^\| `(TW_[A-Z_]+)`\s*\|/gm)].map((m) => m[1]);
    assert.deepEqual([...inDoc].sort(), [...errorCatalog].sort());
  });

  it('documents every X-Tapwire-Error code', () => {
    for (const code of proxyErrorCodes) assert.ok(documented.has(code), `${code} is missing from docs/errors.md`);
  });

  it('lists the code of every TapwireError subclass', () => {
    const codes = new Set<string>();
    for (const value of Object.values(errors)) {
      if (typeof value === 'function' && value.prototype instanceof errors.TapwireError) {
        const instance = Object.create(value.prototype) as { code?: string };
        // Codes are instance fields: read them from a constructed instance.
        const made = tryConstruct(value as new (...a: unknown[]) => { code: string });
        codes.add(made?.code ?? instance.code ?? '');
      }
    }
    for (const code of codes)
      assert.ok((errorCatalog as readonly string[]).includes(code), `${code} not in errorCatalog`);
  });

  it('describes an error with its hint, and maps usage errors to exit code 2', () => {
    const err = new SnapshotNotFoundError('x', '/store');
    assert.match(err.describe(), /no snapshot "x" in store \/store\n {2}hint: /);
    assert.equal(new UsageError('bad').exitCode, ExitCode.usage);
    assert.equal(err.exitCode, ExitCode.error);
  });
});

function tryConstruct(ctor: new (...a: unknown[]) => { code: string }): { code: string } | undefined {
  for (const args of [['m'], ['a', 'b'], ['a', []], ['a', 1, 'h', new Error('c')]]) {
    try {
      return new ctor(...args);
    } catch {
      /* try the next shape */
    }
  }
  return undefined;
}
