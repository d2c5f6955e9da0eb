import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonPath } from '../../mock/json-canon.ts';
import { diffJson, jsonBody, memberPath, MISSING, showJson } from './json-diff.ts';

function diffs(a: unknown, b: unknown): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  diffJson(a, b, (path, x, y) => out.push([path, showJson(x), showJson(y)]));
  return out;
}

describe('diffJson', () => {
  it('finds nothing when only key order and number spelling differ', () => {
    const a = JSON.parse('{"b":{"y":1.50,"x":[1,2e0]},"a":100}') as unknown;
    const b = JSON.parse('{"a":1e2,"b":{"x":[1.0,2],"y":1.5}}') as unknown;
    assert.deepEqual(diffs(a, b), []);
  });

  it('names each differing leaf by path, nested in objects and arrays', () => {
    const a = { items: [{ price: 10, tags: ['x'] }, { price: 5 }, { price: 7, name: 'c' }], total: 22 };
    const b = { items: [{ price: 10, tags: ['y'] }, { price: 5 }, { price: 8, name: 'c' }], total: 23 };
    assert.deepEqual(diffs(a, b), [
      ['$.items[0].tags[0]', '"x"', '"y"'],
      ['$.items[2].price', '7', '8'],
      ['$.total', '22', '23'],
    ]);
  });

  it('reports missing and added members and elements, and type changes', () => {
    assert.deepEqual(diffs({ a: 1, list: [1, 2] }, { b: 1, list: [1] }), [
      ['$.a', '1', '(missing)'],
      ['$.b', '(missing)', '1'],
      ['$.list[1]', '2', '(missing)'],
    ]);
    assert.deepEqual(diffs({ n: 1 }, { n: '1' }), [['$.n', '1', '"1"']]);
    assert.deepEqual(diffs({ n: [] }, { n: {} }), [['$.n', '[]', '{}']]);
    assert.deepEqual(diffs({ n: null }, { n: false }), [['$.n', 'null', 'false']]);
    assert.deepEqual(diffs([1], { 0: 1 }), [['$', '[1]', '{"0":1}']]);
  });

  it('spells odd keys so that the JSONPath parser reads them back', () => {
    const odd = memberPath('$', 'a b');
    assert.equal(odd, "$['a b']");
    assert.deepEqual(parseJsonPath(odd), [{ kind: 'key', name: 'a b' }]);
    assert.equal(memberPath('$', "it's"), '$["it\'s"]');
    assert.deepEqual(diffs({ 'x.y': 1 }, { 'x.y': 2 }), [["$['x.y']", '1', '2']]);
  });

  it('cuts long values for display', () => {
    assert.equal(showJson('x'.repeat(500)).length, 200);
    assert.equal(showJson(MISSING), '(missing)');
  });
});

describe('jsonBody', () => {
  it('parses declared or undeclared-but-looks-like JSON, and nothing else', () => {
    assert.deepEqual(jsonBody(Buffer.from('{"a":1}'), 'application/json; charset=utf-8'), { value: { a: 1 } });
    assert.deepEqual(jsonBody(Buffer.from('[1]'), 'application/problem+json'), { value: [1] });
    assert.deepEqual(jsonBody(Buffer.from(' [1]'), undefined), { value: [1] });
    assert.deepEqual(jsonBody(Buffer.from('null'), 'application/json'), { value: null });
    assert.equal(jsonBody(Buffer.from('{"a":1}'), 'text/plain'), undefined);
    assert.equal(jsonBody(Buffer.from('{"a":'), 'application/json'), undefined);
    assert.equal(jsonBody(Buffer.alloc(0), 'application/json'), undefined);
  });
});
