/** The mock config: strict validation with every problem listed by path, and rule precedence. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigInvalidError, FileUnreadableError } from '../errors.ts';
import { DEFAULT_RULE, latencyFactor, loadMockConfig, parseMockConfig, RuleSet } from './match-config.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tapwire-mock-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected the config to be rejected');
}

describe('mock config: loading', () => {
  it('reads a full config and fills the defaults', () => {
    const f = file(
      'ok.yaml',
      [
        'rules:',
        '  - host: api.example.com',
        '    path: /users/**',
        '    matchHeaders: [X-Tenant]',
        '    ignoreQuery: [_ts]',
        "    ignoreJsonPaths: ['$.requestId', '$.items[*].id', '$..updatedAt']",
        "    pathPatterns: ['/users/{id}', '[0-9a-f]{8}']",
        'latency: 2x',
        'faults:',
        '  - name: slow-payments',
        '    host: payments.*',
        '    delayMs: 250',
        '    probability: 0.1',
        '  - name: flaky',
        '    path: /orders/**',
        '    method: post',
        '    status: 503',
        'seed: 7',
      ].join('\n'),
    );
    const config = loadMockConfig(f);
    assert.equal(config.rules[0]?.matchHeaders?.[0], 'x-tenant');
    assert.equal(config.latency, '2x');
    assert.equal(config.faults[0]?.probability, 0.1);
    assert.equal(config.faults[1]?.probability, 1);
    assert.equal(config.faults[1]?.method, 'POST');
    assert.equal(config.passthrough, false);
    assert.ok(Object.isFrozen(config.rules[0]));
  });

  it('lets flags override the file, and works without a file', () => {
    const f = file('latency.yaml', 'latency: recorded\npassthrough: false\n');
    const config = loadMockConfig(f, { latency: 'none', passthrough: true, seed: undefined });
    assert.deepEqual([config.latency, config.passthrough, config.seed], ['none', true, undefined]);
    assert.deepEqual(loadMockConfig(undefined).rules, []);
    assert.equal(loadMockConfig(file('empty.yaml', '')).latency, 'none');
  });

  it('reports every problem at once, each with its path and the file', () => {
    const f = file(
      'bad.yaml',
      [
        'rules:',
        '  - host: api',
        '    matchHeader: [x]', // typo: unknown key
        '    ignoreJsonPaths: [user.id]', // no $
        "    pathPatterns: ['/users/{id', '[0-9']",
        '  - path: users', // not a path glob
        'latency: fast',
        'faults:',
        '  - name: a',
        '    probability: 1.5',
        '    status: 503',
        '  - name: b', // does nothing
        'retries: 3',
      ].join('\n'),
    );
    let error: ConfigInvalidError | undefined;
    try {
      loadMockConfig(f);
    } catch (err) {
      error = err as ConfigInvalidError;
    }
    assert.ok(error instanceof ConfigInvalidError);
    assert.equal(error.source, f);
    assert.match(error.message, new RegExp(`invalid configuration in ${f.replace(/[.\\]/g, '\\$&')}`));
    const paths = error.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, [
      '',
      'faults.0.probability',
      'faults.1',
      'latency',
      'rules.0',
      'rules.0.ignoreJsonPaths.0',
      'rules.0.pathPatterns.0',
      'rules.0.pathPatterns.1',
      'rules.1.path',
    ]);
    const byPath = new Map(error.issues.map((i) => [i.path, i.message]));
    assert.match(byPath.get('rules.0') ?? '', /matchHeader/);
    assert.match(byPath.get('') ?? '', /retries/);
    assert.match(byPath.get('rules.0.ignoreJsonPaths.0') ?? '', /starts with "\$"/);
    assert.match(byPath.get('faults.1') ?? '', /must do something/);
  });

  it('rejects duplicate fault names and reset with stall', () => {
    const issues = issuesOf(() =>
      parseMockConfig(
        {
          faults: [
            { name: 'x', reset: true, stall: true },
            { name: 'y', status: 500 },
            { name: 'y', status: 502 },
          ],
        },
        'test',
      ),
    );
    assert.deepEqual(issues.map((i) => i.path).sort(), ['faults.0.stall', 'faults.2.name']);
  });

  it('names the file when it cannot be read or is not YAML', () => {
    assert.throws(() => loadMockConfig(path.join(dir, 'missing.yaml')), FileUnreadableError);
    assert.throws(() => loadMockConfig(file('broken.yaml', 'rules: [\n')), /not valid YAML/);
    assert.deepEqual(
      issuesOf(() => loadMockConfig(file('list.yaml', '- a\n'))).map((i) => i.path),
      [''],
    );
  });

  it('turns latency into a factor of the recorded time', () => {
    assert.equal(latencyFactor('none'), undefined);
    assert.equal(latencyFactor('recorded'), 1);
    assert.equal(latencyFactor('0.5x'), 0.5);
    assert.equal(latencyFactor('3x'), 3);
  });
});

describe('mock config: rule precedence', () => {
  const config = parseMockConfig(
    {
      rules: [
        { ignoreQuery: ['_ts'], matchHeaders: ['x-global'] },
        { host: '*.example.com', ignoreBody: true, matchHeaders: ['x-tenant'] },
        { host: 'api.example.com', matchHeaders: ['x-api'] },
        { host: 'api.example.com', path: '/users/**', pathPatterns: ['/users/{id}'] },
        { host: 'api.example.com', path: '/users/*/orders', ignoreQuery: ['page'] },
        { host: 'localhost:8080', matchHeaders: ['x-local'] },
      ],
    },
    'test',
  );
  const rules = new RuleSet(config.rules);

  it('takes each setting from the most specific rule that sets it', () => {
    const r = rules.resolve('api.example.com', 443, '/users/7/orders');
    assert.deepEqual(r.matchHeaders, ['x-api']); // exact host beats the glob and the catch-all
    assert.deepEqual([...r.ignoreQuery], ['page']); // longest path glob wins
    assert.equal(r.pathPatterns.length, 1); // from /users/**, which is less specific but the only one setting it
    assert.equal(r.ignoreBody, true); // filled in from the host glob
  });

  it('falls back to less specific rules for other hosts and paths', () => {
    const other = rules.resolve('cdn.example.com', 443, '/users/7');
    assert.deepEqual(other.matchHeaders, ['x-tenant']);
    assert.deepEqual([...other.ignoreQuery], ['_ts']);
    assert.equal(other.pathPatterns.length, 0);
    const elsewhere = rules.resolve('db.internal', 443, '/');
    assert.deepEqual(elsewhere.matchHeaders, ['x-global']);
    assert.equal(elsewhere.ignoreBody, false);
  });

  it('matches a host glob with a port against host:port', () => {
    assert.deepEqual(rules.resolve('localhost', 8080, '/').matchHeaders, ['x-local']);
    assert.deepEqual(rules.resolve('localhost', 9090, '/').matchHeaders, ['x-global']);
  });

  it('answers the default rule when nothing applies', () => {
    assert.equal(new RuleSet([]).resolve('a', 80, '/'), DEFAULT_RULE);
    assert.equal(new RuleSet([{ host: 'b', ignoreBody: true }]).resolve('a', 80, '/'), DEFAULT_RULE);
  });
});
