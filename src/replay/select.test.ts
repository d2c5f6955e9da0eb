import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpExchange } from '../model/exchange.ts';
import { prepareRequest } from './prepare.ts';
import { endpointKey, parseTargets, skipReason, targetFor } from './select.ts';

function exchange(overrides: Partial<HttpExchange> = {}, headers: Array<[string, string]> = []): HttpExchange {
  return {
    v: 1,
    id: '01TEST',
    ts: '2024-05-01T10:00:00.000Z',
    durationMs: 1,
    direction: 'inbound',
    protocol: 'http',
    service: 'api',
    request: { method: 'POST', url: 'http://127.0.0.1:4143/users/7?x=1', httpVersion: '1.1', headers },
    ...overrides,
  };
}

describe('select: targets, endpoints, prepared requests', () => {
  it('endpoint keys fold numeric, uuid and long token segments; the query is left out', () => {
    assert.equal(endpointKey('get', 'http://h/users/42?x=1'), 'GET /users/{id}');
    assert.equal(
      endpointKey('GET', 'http://h/blobs/7f3a9c1e-0d2b-4e5f-8a6b-1c2d3e4f5a6b/meta'),
      'GET /blobs/{id}/meta',
    );
    assert.equal(endpointKey('GET', 'http://h/o/01HXV6GF9G4H5QKMKXAC2QZ6VW'), 'GET /o/{id}');
    assert.equal(endpointKey('GET', 'http://h/api/v2/settings'), 'GET /api/v2/settings');
    assert.equal(endpointKey('GET', 'http://h/'), 'GET /');
  });

  it('targets: one URL for all, SERVICE=URL by service; bad forms are usage errors', () => {
    const t = parseTargets(['http://localhost:3000', 'auth=https://127.0.0.1:8443']);
    assert.equal(targetFor(exchange(), t)?.origin, 'http://localhost:3000');
    assert.equal(targetFor(exchange({ service: 'auth' }), t)?.origin, 'https://127.0.0.1:8443');
    const only = parseTargets(['auth=http://a:1']);
    assert.equal(targetFor(exchange(), only), undefined);
    assert.equal(skipReason(exchange(), only), 'no-target');
    assert.equal(skipReason(exchange({ direction: 'outbound' }), only), 'outbound');
    for (const bad of [
      [],
      ['localhost:3000'],
      ['ftp://x'],
      ['http://x/base'],
      ['http://a', 'http://b'],
      ['a=http://x', 'a=http://y'],
    ]) {
      assert.throws(() => parseTargets(bad), { code: 'TW_USAGE' }, bad.join(' '));
    }
  });

  it('a prepared request keeps path, query, headers and body, and drops hop-by-hop headers', () => {
    const x = exchange({}, [
      ['Host', '127.0.0.1:4143'],
      ['Connection', 'keep-alive, X-Hop'],
      ['X-Hop', 'bye'],
      ['Content-Length', '3'],
      ['Transfer-Encoding', 'chunked'],
      ['X-Multi', 'a'],
      ['Accept', '*/*'],
      ['X-Multi', 'b'],
    ]);
    x.request.body = { encoding: 'utf8', data: 'abc', size: 3, truncated: false };
    const req = prepareRequest(x, new URL('http://localhost:3000'));
    assert.equal(req.origin, 'http://localhost:3000');
    assert.equal(req.authority, 'localhost:3000');
    assert.equal(req.path, '/users/7?x=1');
    assert.equal(req.endpoint, 'POST /users/{id}');
    assert.deepEqual(req.headers, [
      ['X-Multi', 'a'],
      ['Accept', '*/*'],
      ['X-Multi', 'b'],
    ]);
    assert.equal(req.body.toString(), 'abc');
    assert.equal(req.h2, false);
    assert.equal(
      prepareRequest(exchange({ request: { ...x.request, httpVersion: '2' } }), new URL('http://a:1')).h2,
      true,
    );
  });
});
