/** Near misses: the closest recorded requests, best first, each naming the parts that differ. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpExchange } from '../../test/helpers/exchanges.ts';
import type { HeaderList, HttpExchange } from '../model/exchange.ts';
import { parseMockConfig } from './match-config.ts';
import { MockIndex } from './mock-index.ts';
import { splitUrl } from './signature.ts';
import type { MatchResult, MockRequest, NearMiss } from './types.ts';

function request(method: string, url: string, init: { headers?: HeaderList; json?: unknown } = {}): MockRequest {
  const headers: HeaderList = [...(init.headers ?? [])];
  if (init.json !== undefined) headers.push(['content-type', 'application/json']);
  return {
    protocol: 'http',
    ...splitUrl(url),
    method,
    headers,
    body: init.json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(init.json)),
    httpVersion: '1.1',
  };
}

function recorded(
  i: number,
  method: string,
  url: string,
  init: { headers?: HeaderList; json?: unknown } = {},
): HttpExchange {
  const x = httpExchange(i);
  const r = request(method, url, init);
  x.request = { method, url, httpVersion: '1.1', headers: r.headers };
  if (init.json !== undefined) {
    const data = JSON.stringify(init.json);
    x.request.body = { encoding: 'utf8', data, size: data.length, truncated: false, contentType: 'application/json' };
  }
  return x;
}

function miss(result: MatchResult): { candidates: NearMiss[]; explanation: string } {
  assert.equal(result.kind, 'miss');
  return result.kind === 'miss' ? result : { candidates: [], explanation: '' };
}

const parts = (n: NearMiss | undefined): string[] => (n?.differences ?? []).map((d) => d.part);

describe('near misses', () => {
  const config = parseMockConfig({ rules: [{ host: 'api.test', matchHeaders: ['x-tenant'] }] }, 'test');
  const index = MockIndex.build(
    [
      recorded(1, 'GET', 'https://api.test/users?page=2&size=10', { headers: [['X-Tenant', 'acme']] }),
      recorded(2, 'GET', 'https://api.test/users/7/orders', { headers: [['X-Tenant', 'acme']] }),
      recorded(3, 'POST', 'https://api.test/users', {
        headers: [['X-Tenant', 'acme']],
        json: { user: { id: 1, name: 'a' } },
      }),
      recorded(4, 'GET', 'https://other.test/health'),
    ],
    config,
  );
  const acme: HeaderList = [['x-tenant', 'acme']];

  it('names a differing query parameter with both values', () => {
    const { candidates, explanation } = miss(
      index.match(request('GET', 'https://api.test/users?size=10&page=3', { headers: acme })),
    );
    assert.ok(candidates.length <= 3);
    assert.match(candidates[0]?.request ?? '', /page=2/);
    assert.deepEqual(candidates[0]?.differences, [{ part: 'query.page', recorded: '"2"', received: '"3"' }]);
    assert.match(explanation, /differs in query\.page \(recorded "2", received "3"\)/);
    assert.ok((candidates[0]?.score ?? 0) > (candidates[1]?.score ?? 0));
  });

  it('names a differing path segment by position', () => {
    const { candidates, explanation } = miss(
      index.match(request('GET', 'https://api.test/users/8/orders', { headers: acme })),
    );
    assert.deepEqual(candidates[0]?.differences, [{ part: 'path segment 2', recorded: '"7"', received: '"8"' }]);
    assert.match(explanation, /path segment 2/);
  });

  it('names a differing JSON body field by its path', () => {
    const got = request('POST', 'https://api.test/users', { headers: acme, json: { user: { name: 'a', id: 2 } } });
    const { candidates, explanation } = miss(index.match(got));
    assert.deepEqual(candidates[0]?.differences, [{ part: 'body.$.user.id', recorded: '1', received: '2' }]);
    assert.match(explanation, /body\.\$\.user\.id/);
  });

  it('names the method and a header', () => {
    const { candidates } = miss(
      index.match(request('DELETE', 'https://api.test/users/7/orders', { headers: [['x-tenant', 'zeta']] })),
    );
    assert.deepEqual(parts(candidates[0]), ['method', 'header.x-tenant']);
    assert.deepEqual(candidates[0]?.differences[1], {
      part: 'header.x-tenant',
      recorded: '"acme"',
      received: '"zeta"',
    });
  });

  it('says when nothing was recorded for the host, and still offers candidates', () => {
    const { candidates, explanation } = miss(index.match(request('GET', 'https://new.test/health')));
    assert.match(explanation, /^Nothing was recorded for host new\.test/);
    assert.equal(parts(candidates[0])[0], 'host');
    assert.match(candidates[0]?.request ?? '', /other\.test\/health/);
  });

  it('says when nothing was recorded for the protocol', () => {
    const ws = { ...request('GET', 'https://api.test/feed'), protocol: 'websocket' as const };
    const { candidates, explanation } = miss(index.match(ws));
    assert.deepEqual(candidates, []);
    assert.match(explanation, /No websocket request was recorded/);
  });

  it('looks at a bounded number of candidates', () => {
    const many = Array.from({ length: 1000 }, (_, i) => recorded(i, 'GET', `https://api.test/item/${i}`));
    const big = MockIndex.build(many, parseMockConfig({}, 'test'));
    const { candidates } = miss(big.match(request('GET', 'https://api.test/item/x')));
    assert.equal(candidates.length, 3);
    assert.deepEqual(parts(candidates[0]), ['path segment 2']);
  });
});
