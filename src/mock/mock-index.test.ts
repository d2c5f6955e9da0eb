/**
 * The index: which recorded exchanges it files, sequences per signature (recorded order, then
 * the last repeats), independence of signatures, raw TCP by destination, and a 10 000-endpoint
 * index answering correctly (timing lives in bench/mock-index.ts, not in tests).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpExchange, tcpExchange } from '../../test/helpers/exchanges.ts';
import type { Exchange, HttpExchange } from '../model/exchange.ts';
import { parseMockConfig } from './match-config.ts';
import { MockIndex } from './mock-index.ts';
import { splitUrl } from './signature.ts';
import type { MatchResult, MockRequest } from './types.ts';

const noRules = parseMockConfig({}, 'test');

function get(url: string, method = 'GET'): MockRequest {
  const u = splitUrl(url);
  return { protocol: 'http', ...u, method, headers: [], body: Buffer.alloc(0), httpVersion: '1.1' };
}

/** An outbound GET of `url` recorded at second `i`, answering `answer`. */
function recorded(i: number, url: string, answer: string, extra: Partial<HttpExchange> = {}): HttpExchange {
  const x = httpExchange(i, extra);
  x.request = { ...x.request, url };
  if (x.response) x.response = { ...x.response, statusText: answer };
  return x;
}

function answer(result: MatchResult): string {
  assert.equal(result.kind, 'hit', result.kind === 'miss' ? result.explanation : '');
  return result.kind === 'hit' && result.exchange.protocol !== 'tcp'
    ? (result.exchange.response?.statusText ?? '')
    : '';
}

describe('MockIndex: what it files', () => {
  it('keeps outbound http, grpc and websocket; counts inbound, tcp and unanswerable apart', () => {
    const failed = httpExchange(3, { error: { kind: 'refused', message: 'ECONNREFUSED', phase: 'connect' } });
    delete failed.response;
    const exchanges: Exchange[] = [
      recorded(1, 'https://a.test/x', 'x'),
      recorded(2, 'https://a.test/y', 'y'),
      httpExchange(4, { direction: 'inbound' }),
      failed,
      tcpExchange(5),
    ];
    const index = MockIndex.build(exchanges, noRules);
    assert.equal(index.size, 2);
    assert.deepEqual(index.stats, { signatures: 2, exchanges: 2, unanswerable: 1, inbound: 1, tcp: 1 });
  });

  it('hands out recorded TCP conversations by destination, in recorded order', () => {
    const later = tcpExchange(9, { dst: 'DB.internal:5432' });
    const earlier = tcpExchange(2);
    const other = tcpExchange(3, { dst: 'cache:6379' });
    const index = MockIndex.build([later, other, earlier], noRules);
    assert.deepEqual(
      index.tcpFor('db.internal:5432').map((x) => x.id),
      [earlier.id, later.id],
    );
    assert.equal(index.tcpFor('cache:6379').length, 1);
    assert.deepEqual(index.tcpFor('nowhere:1'), []);
  });
});

describe('MockIndex: sequences', () => {
  it('answers repeats in recorded order, then repeats the last (A, A, A with 2 recorded: rec1, rec2, rec2)', () => {
    // Given out of order: the index orders by recorded time.
    const index = MockIndex.build(
      [recorded(2, 'https://a.test/a', 'rec2'), recorded(1, 'https://a.test/a', 'rec1')],
      noRules,
    );
    const hits = [1, 2, 3].map(() => index.match(get('https://a.test/a')));
    assert.deepEqual(hits.map(answer), ['rec1', 'rec2', 'rec2']);
    assert.deepEqual(
      hits.map((h) => (h.kind === 'hit' ? h.occurrence : -1)),
      [0, 1, 1],
    );
    index.reset();
    assert.equal(answer(index.match(get('https://a.test/a'))), 'rec1');
  });

  it('keeps one cursor per signature', () => {
    const index = MockIndex.build(
      [
        recorded(1, 'https://a.test/a', 'a1'),
        recorded(2, 'https://a.test/b', 'b1'),
        recorded(3, 'https://a.test/a', 'a2'),
        recorded(4, 'https://a.test/b', 'b2'),
      ],
      noRules,
    );
    const seen = ['a', 'a', 'b', 'a', 'b', 'b'].map((p) => answer(index.match(get(`https://a.test/${p}`))));
    assert.deepEqual(seen, ['a1', 'a2', 'b1', 'a2', 'b2', 'b2']);
  });

  it('shares a sequence between requests that the rules make equal', () => {
    const config = parseMockConfig({ rules: [{ pathPatterns: ['/users/{id}'] }] }, 'test');
    const index = MockIndex.build(
      [recorded(1, 'https://a.test/users/1', 'u1'), recorded(2, 'https://a.test/users/2', 'u2')],
      config,
    );
    assert.equal(index.size, 1);
    assert.deepEqual(
      ['/users/9', '/users/8'].map((p) => answer(index.match(get(`https://a.test${p}`)))),
      ['u1', 'u2'],
    );
  });

  it('misses with the signature and candidates', () => {
    const index = MockIndex.build([recorded(1, 'https://a.test/users/1?page=2', 'u1')], noRules);
    const miss = index.match(get('https://a.test/users/1?page=3'));
    assert.equal(miss.kind, 'miss');
    if (miss.kind !== 'miss') return;
    assert.equal(miss.signature, 'http GET a.test/users/1?page=3');
    assert.equal(miss.candidates.length, 1);
  });
});

describe('MockIndex: scale', () => {
  it('builds 10 000 endpoints and answers each of them, and a miss, correctly', () => {
    const n = 10_000;
    const exchanges: HttpExchange[] = [];
    for (let i = 0; i < n; i++) exchanges.push(recorded(i, `https://h${i % 50}.test/items/${i}?v=${i % 7}`, `r${i}`));
    const index = MockIndex.build(exchanges, noRules);
    assert.equal(index.size, n);
    for (const i of [0, 1, 4999, 9998, 9999]) {
      assert.equal(answer(index.match(get(`https://h${i % 50}.test/items/${i}?v=${i % 7}`))), `r${i}`);
    }
    const miss = index.match(get('https://h3.test/items/3?v=4'));
    assert.equal(miss.kind, 'miss');
    if (miss.kind === 'miss') {
      assert.ok(miss.candidates.length <= 3 && miss.candidates.length > 0);
      assert.ok(miss.candidates[0]?.request.includes('/items/3?'), miss.candidates[0]?.request);
    }
  });
});
