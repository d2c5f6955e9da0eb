/** The JSONPath subset, canonical JSON text and flattening used by signatures and near misses. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, flattenJson, parseJsonPath, removeJsonPath } from './json-canon.ts';

function without<T>(value: T, ...paths: string[]): T {
  const copy = structuredClone(value);
  for (const p of paths) removeJsonPath(copy, parseJsonPath(p));
  return copy;
}

describe('json-canon', () => {
  it('writes keys sorted at every level and keeps array order', () => {
    assert.equal(canonicalJson({ b: [3, { d: 1, c: 2 }], a: null }), '{"a":null,"b":[3,{"c":2,"d":1}]}');
    assert.equal(canonicalJson('x'), '"x"');
  });

  it('removes members, elements, wildcards and recursive matches', () => {
    const doc = {
      a: { b: 1, c: 2 },
      items: [
        { id: 1, n: 'x' },
        { id: 2, n: 'y' },
      ],
      deep: [{ t: { updatedAt: 1 } }],
      updatedAt: 0,
    };
    assert.deepEqual(without(doc, '$.a.b'), { ...doc, a: { c: 2 } });
    assert.deepEqual(without(doc, "$['a']['c']", '$.items[1]'), { ...doc, a: { b: 1 }, items: [{ id: 1, n: 'x' }] });
    assert.deepEqual(without(doc, '$.items[*].id').items, [{ n: 'x' }, { n: 'y' }]);
    assert.deepEqual(without(doc, '$..updatedAt') as unknown, { a: doc.a, items: doc.items, deep: [{ t: {} }] });
    assert.deepEqual(without(doc, '$.a.*') as unknown, { ...doc, a: {} });
    assert.deepEqual(without(doc, '$.nothing.here', '$.a.b.c', '$.items[9]'), doc);
  });

  it('rejects paths outside the subset with a reason', () => {
    for (const bad of ['a.b', '$', '$.', '$..', '$[x]', '$.a b']) assert.throws(() => parseJsonPath(bad), Error, bad);
    assert.deepEqual(parseJsonPath('$.3.1'), [
      { kind: 'key', name: '3' },
      { kind: 'key', name: '1' },
    ]);
  });

  it('flattens to leaf paths, bounded', () => {
    assert.deepEqual(
      [...flattenJson({ user: { id: 7, tags: ['a'] }, 'odd key': {}, '1': 'x' })],
      [
        ['$.1', '"x"'],
        ["$['odd key']", '{}'],
        ['$.user.id', '7'],
        ['$.user.tags[0]', '"a"'],
      ],
    );
    assert.equal(
      flattenJson(
        Array.from({ length: 50 }, (_, i) => i),
        10,
      ).size,
      10,
    );
  });
});
