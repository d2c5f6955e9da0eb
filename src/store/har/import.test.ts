import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ImportFormatError } from '../../errors.ts';
import type { Exchange, HttpExchange } from '../../model/exchange.ts';
import { harToExchanges } from './import.ts';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/har/${name}`, import.meta.url), 'utf8'));

function http(x: Exchange | undefined): HttpExchange {
  assert.ok(x && x.protocol !== 'tcp');
  return x as HttpExchange;
}

void describe('HAR import: Chrome DevTools', () => {
  const { exchanges, skipped, creator } = harToExchanges(fixture('chrome-shop.har'));

  void test('every network entry becomes an exchange; the data: URL is skipped with a reason', () => {
    assert.equal(creator, 'WebInspector 537.36');
    assert.equal(exchanges.length, 6);
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]?.index, 5);
    assert.match(skipped[0]?.reason ?? '', /data: URLs are not network exchanges/);
    assert.match(skipped[0]?.url ?? '', /^data:image\/svg\+xml/);
    for (const x of exchanges) {
      assert.equal(x.direction, 'outbound');
      assert.equal(x.v, 1);
    }
  });

  void test('an h2 document: pseudo-headers dropped, decoded body without its Content-Encoding', () => {
    const doc = http(exchanges[0]);
    assert.equal(doc.ts, '2024-05-14T09:21:33.103Z');
    assert.equal(doc.durationMs, 184.4209999);
    assert.equal(doc.service, 'shop.example.com');
    assert.equal(doc.dst, 'shop.example.com:443');
    assert.equal(doc.request.httpVersion, '2');
    assert.equal(doc.request.url, 'https://shop.example.com/');
    assert.equal(doc.request.headers[0]?.[0], 'accept');
    assert.ok(doc.request.headers.every(([name]) => !name.startsWith(':')));
    assert.ok(doc.request.headers.some(([name, value]) => name === 'cookie' && value === 'sid=7f3e9a1c; consent=yes'));
    const res = doc.response;
    assert.ok(res);
    assert.equal(res.status, 200);
    assert.equal(res.statusText, '');
    assert.equal(res.httpVersion, '2');
    assert.equal(res.body?.encoding, 'utf8');
    assert.match(res.body?.data ?? '', /^<!doctype html>/);
    assert.equal(res.body?.size, 267);
    assert.equal(res.body?.contentType, 'text/html; charset=utf-8');
    assert.ok(!res.headers.some(([name]) => /^content-(encoding|length)$/i.test(name)));
    assert.deepEqual(doc.tags, { 'har.decodedContentEncoding': 'br' });
    // ssl is part of connect in HAR; time to first byte = blocked + dns + connect + send + wait.
    assert.equal(doc.timings?.connectMs, 62.004);
    assert.ok(Math.abs((doc.timings?.ttfbMs ?? 0) - (2.116 + 14.521 + 62.004 + 0.301 + 95.107)) < 1e-9);
  });

  void test('a base64 image stays binary; a form POST keeps its text', () => {
    const img = http(exchanges[1]);
    assert.equal(img.request.httpVersion, '2');
    assert.equal(img.response?.body?.encoding, 'base64');
    assert.equal(img.response?.body?.size, 68);
    assert.equal(img.timings?.connectMs, 0, '-1 (connection reused) is 0');

    const post = http(exchanges[2]);
    assert.equal(post.request.method, 'POST');
    assert.equal(post.request.url, 'https://shop.example.com/api/cart?source=listing');
    assert.deepEqual(post.request.body, {
      encoding: 'utf8',
      data: 'sku=TSHIRT-42&qty=2&gift=true',
      size: 29,
      truncated: false,
      contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
    });
    assert.equal(post.response?.status, 201);
  });

  void test('HTTP/1.1 with a multi-byte body; a blocked request; a websocket', () => {
    const prices = http(exchanges[3]);
    assert.equal(prices.request.httpVersion, '1.1');
    assert.equal(prices.response?.statusText, 'OK');
    assert.equal(prices.response?.body?.size, 48, 'size counts bytes, not characters');
    assert.equal(prices.service, 'api.shop-cdn.net');

    const blocked = http(exchanges[4]);
    assert.equal(blocked.response, undefined);
    assert.deepEqual(blocked.error, { kind: 'aborted', message: 'net::ERR_BLOCKED_BY_CLIENT' });

    const ws = exchanges[5];
    assert.equal(ws?.protocol, 'websocket');
    assert.equal(http(ws).request.url, 'https://shop.example.com/live');
    assert.equal(http(ws).response?.status, 101);
  });

  void test('the direction can be chosen', () => {
    const inbound = harToExchanges(fixture('chrome-shop.har'), { direction: 'inbound', service: 'web' });
    assert.ok(inbound.exchanges.every((x) => x.direction === 'inbound' && x.service === 'web'));
  });
});

void describe('HAR import: Firefox', () => {
  const { exchanges, skipped, creator } = harToExchanges(fixture('firefox-news.har'));

  void test('all entries are read, times with offsets become UTC', () => {
    assert.equal(creator, 'Firefox 126.0');
    assert.deepEqual(skipped, []);
    assert.equal(exchanges.length, 6);
    assert.equal(exchanges[0]?.ts, '2024-05-14T09:40:02.118Z');
  });

  void test('versions, bodies with and without text, redirects, status 0', () => {
    const doc = http(exchanges[0]);
    assert.equal(doc.request.httpVersion, '2');
    assert.equal(doc.request.headers[0]?.[0], 'Host');
    assert.match(doc.response?.body?.data ?? '', /café/);
    assert.equal(doc.response?.body?.size, 182);
    assert.deepEqual(doc.tags, { 'har.decodedContentEncoding': 'gzip' });
    assert.equal(doc.timings?.connectMs, 30);
    assert.equal(doc.timings?.ttfbMs, 108);

    const cached = http(exchanges[1]);
    assert.deepEqual(cached.response?.body, {
      encoding: 'utf8',
      data: '',
      size: 5120,
      truncated: true,
      contentType: 'text/css',
    });

    const post = http(exchanges[2]);
    assert.deepEqual(post.request.body, {
      encoding: 'utf8',
      data: '{"email":"ada@example.org","daily":true}',
      size: 40,
      truncated: false,
      contentType: 'application/json',
    });

    const redirect = http(exchanges[3]);
    assert.equal(redirect.response?.status, 301);
    assert.equal(redirect.response?.httpVersion, '1.1');
    assert.equal(redirect.response?.body, undefined);
    assert.equal(redirect.dst, 'news.example.org:80');

    const font = http(exchanges[4]);
    assert.equal(font.request.httpVersion, '3');
    assert.equal(font.response?.body?.encoding, 'base64');
    assert.equal(font.response?.body?.size, 20);

    const failed = http(exchanges[5]);
    assert.equal(failed.response, undefined);
    assert.equal(failed.error?.kind, 'other');
    assert.equal(failed.request.httpVersion, '1.1');
  });
});

void describe('HAR import: robustness', () => {
  void test('missing optional fields, odd entries and bad statuses', () => {
    const har = {
      log: {
        entries: [
          { startedDateTime: '2024-01-01T00:00:00Z', request: { method: 'GET', url: 'http://a.test/x' } },
          {
            startedDateTime: '2024-01-01T00:00:01Z',
            request: { method: 'GET', url: '/relative' },
            response: { status: 200 },
          },
          'not an entry',
          {
            startedDateTime: '2024-01-01T00:00:02Z',
            request: { method: 'GET', url: 'http://a.test/y' },
            response: { status: 42 },
          },
          { request: { method: 'GET', url: 'http://a.test/z' } },
          {
            startedDateTime: '2024-01-01T00:00:03Z',
            request: {
              method: 'DELETE',
              url: 'http://a.test:8080/items/1',
              headers: [{ name: 'X', value: 1 }, { value: 'no name' }],
            },
            response: { status: 204, headers: [] },
            timings: { send: 1, wait: 2, receive: 3 },
          },
        ],
      },
    };
    const { exchanges, skipped } = harToExchanges(har);
    assert.deepEqual(
      skipped.map((s) => [s.index, s.reason.split(' ').slice(0, 3).join(' ')]),
      [
        [1, 'the URL is'],
        [2, 'the entry is'],
        [3, 'response status 42'],
        [4, 'startedDateTime is missing'],
      ],
    );
    const [noResponse, del] = exchanges.map(http);
    assert.equal(noResponse?.response, undefined);
    assert.equal(noResponse?.error?.kind, 'other');
    assert.equal(noResponse?.durationMs, 0);
    assert.equal(del?.dst, 'a.test:8080');
    assert.deepEqual(del?.request.headers, [['X', '1']]);
    assert.equal(del?.durationMs, 6, 'without time, the phases add up');
    assert.deepEqual(del?.timings, { ttfbMs: 3 });
    assert.equal(del?.response?.statusText, '');
  });

  void test('a document that is not HAR is an import format error', () => {
    assert.throws(() => harToExchanges({ entries: [] }), ImportFormatError);
    assert.throws(() => harToExchanges([1, 2]), ImportFormatError);
    assert.throws(() => harToExchanges({ log: { entries: 'x' } }), ImportFormatError);
  });
});
