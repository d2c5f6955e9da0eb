/** Host and path globs (with their specificity) and the path patterns that fold ids. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPathPatterns, compileGlob, compilePathPattern } from './path-pattern.ts';

const fold = (path: string, ...patterns: string[]): string =>
  '/' + applyPathPatterns(path.slice(1).split('/'), patterns.map(compilePathPattern)).join('/');

describe('globs', () => {
  it('matches hosts case-insensitively, * across dots', () => {
    const g = compileGlob('*.Example.com', 'host');
    assert.ok(g.test('a.example.com') && g.test('a.b.example.com'));
    assert.ok(!g.test('example.com'));
    assert.ok(compileGlob('api.example.com', 'host').test('api.example.com'));
    assert.ok(compileGlob('localhost:80?0', 'host').withPort);
  });

  it('matches paths: * within a segment, ** across segments', () => {
    const all = compileGlob('/api/**', 'path');
    assert.ok(all.test('/api') && all.test('/api/v1/x') && !all.test('/apix'));
    const one = compileGlob('/users/*/orders', 'path');
    assert.ok(one.test('/users/7/orders') && !one.test('/users/7/8/orders'));
    const mid = compileGlob('/a/**/z', 'path');
    assert.ok(mid.test('/a/z') && mid.test('/a/b/c/z') && !mid.test('/a/bz'));
  });

  it('ranks exact names above globs, and longer literals above shorter', () => {
    const s = (g: string): number => compileGlob(g, 'host').specificity;
    assert.ok(s('api.example.com') > s('api.*.com'));
    assert.ok(s('api.*.com') > s('*.com'));
    assert.ok(s('*.com') > s('*'));
  });
});

describe('path patterns', () => {
  it('renames template variables and keeps the rest', () => {
    assert.equal(fold('/users/7', '/users/{id}'), '/users/{id}');
    assert.equal(fold('/users/7/orders', '/users/{id}'), '/users/7/orders');
    assert.equal(fold('/users/7/orders/9', '/users/{id}/**'), '/users/{id}/orders/9');
    assert.equal(fold('/t/acme/users/7', '/t/*/users/{id:[0-9]+}'), '/t/acme/users/{id}');
    assert.equal(fold('/t/acme/users/me', '/t/*/users/{id:[0-9]+}'), '/t/acme/users/me');
  });

  it('folds every segment a segment regex matches whole', () => {
    assert.equal(fold('/orders/12/items/345', '[0-9]+'), '/orders/{*}/items/{*}');
    assert.equal(fold('/v2/x', '[0-9]+'), '/v2/x');
    assert.equal(fold('/users/7/orders/8', '/users/{id}/**', '[0-9]+'), '/users/{id}/orders/{*}');
  });

  it('rejects bad patterns with a reason', () => {
    for (const bad of ['', '[0-9', '/users/{id', '/a/**/b', '/x/{id:(}']) {
      assert.throws(() => compilePathPattern(bad), Error, bad);
    }
  });
});
