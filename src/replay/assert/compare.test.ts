import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpExchange } from '../../../test/helpers/exchanges.ts';
import { encodeBody } from '../../model/body.ts';
import type { GrpcExchange, HeaderList, HttpExchange } from '../../model/exchange.ts';
import type { ReplayedResponse } from '../types.ts';
import { compareResponse, firstDifference } from './compare.ts';
import { defaultNoise, learnNoise } from './noise.ts';

const NOW = Date.parse('2024-05-14T09:21:33.000Z');
const noise = defaultNoise({ now: NOW });

/** An inbound exchange whose response has this body (string or bytes) and content type. */
function recorded(
  body: string | Buffer,
  type = 'application/json',
  opts: { status?: number; headers?: HeaderList; cap?: number; path?: string } = {},
): HttpExchange {
  const x = httpExchange(0, { direction: 'inbound' });
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const kept = opts.cap === undefined ? bytes : bytes.subarray(0, opts.cap);
  x.request.url = `http://app.local:3000${opts.path ?? '/users/7'}`;
  x.response = {
    status: opts.status ?? 200,
    statusText: 'OK',
    httpVersion: '1.1',
    headers: opts.headers ?? [['Content-Type', type]],
    body: encodeBody(kept, bytes.length, type),
  };
  return x;
}

function replayed(
  body: string | Buffer,
  type = 'application/json',
  status = 200,
  headers?: HeaderList,
): ReplayedResponse {
  return {
    status,
    headers: headers ?? [['content-type', type]],
    body: typeof body === 'string' ? Buffer.from(body) : body,
    httpVersion: '1.1',
  };
}

describe('compareResponse: status and headers', () => {
  it('passes an identical response and fails on a different status', () => {
    const x = recorded('{"id":7}');
    assert.deepEqual(compareResponse(x, replayed('{"id":7}'), noise), {
      pass: true,
      differences: [],
      differenceCount: 0,
      ignored: [],
      ignoredCount: 0,
    });
    const v = compareResponse(x, replayed('{"id":7}', 'application/json', 500), noise);
    assert.equal(v.pass, false);
    assert.deepEqual(v.differences, [{ path: 'status', recorded: '200', replayed: '500' }]);
  });

  it('compares content-type on media type and charset only, names in any case', () => {
    const x = recorded('{}', 'application/json; charset=UTF-8');
    const same = replayed('{}', '', 200, [['CONTENT-TYPE', ' application/json;charset="utf-8"; foo=bar ']]);
    assert.equal(compareResponse(x, same, noise).pass, true);
    assert.equal(compareResponse(x, replayed('{}', 'application/json'), noise).pass, true, 'charset on one side only');
    const latin = compareResponse(x, replayed('{}', 'application/json; charset=iso-8859-1'), noise);
    assert.deepEqual(
      latin.differences.map((d) => d.path),
      ['header.content-type'],
    );
    const html = compareResponse(x, replayed('{}', 'text/html'), noise);
    assert.deepEqual(html.differences, [
      { path: 'header.content-type', recorded: 'application/json; charset=UTF-8', replayed: 'text/html' },
    ]);
  });

  it('compares the chosen headers trimmed, joins repeats, and reports missing ones', () => {
    const x = recorded('{}', 'application/json', {
      headers: [
        ['Content-Type', 'application/json'],
        ['Cache-Control', 'no-store'],
        ['Vary', 'Accept'],
        ['Vary', 'Origin'],
      ],
    });
    const r = replayed('{}', '', 200, [
      ['content-type', 'application/json'],
      ['cache-control', '  no-store '],
      ['vary', 'Accept, Origin'],
    ]);
    const headers = ['Cache-Control', 'vary', 'x-missing'];
    assert.equal(compareResponse(x, r, noise, { headers }).pass, true);
    r.headers.push(['X-Missing', 'here']);
    assert.deepEqual(compareResponse(x, r, noise, { headers }).differences, [
      { path: 'header.x-missing', recorded: '(missing)', replayed: 'here' },
    ]);
  });

  it('ignores volatile headers and Set-Cookie values, but not a missing cookie', () => {
    const x = recorded('{}', 'application/json', {
      headers: [
        ['Content-Type', 'application/json'],
        ['Date', 'Tue, 14 May 2024 09:21:33 GMT'],
        ['Set-Cookie', 'session=abc; Path=/'],
        ['Set-Cookie', 'theme=dark'],
      ],
    });
    const headers = ['content-type', 'date', 'set-cookie'];
    const r = replayed('{}', '', 200, [
      ['Content-Type', 'application/json'],
      ['Date', 'Wed, 15 May 2024 10:00:00 GMT'],
      ['Set-Cookie', 'theme=dark'],
      ['Set-Cookie', 'session=xyz; Path=/'],
    ]);
    const v = compareResponse(x, r, noise, { headers });
    assert.equal(v.pass, true);
    assert.deepEqual(v.ignored, [
      { path: 'header.date', reason: 'volatile header' },
      { path: 'header.set-cookie', reason: 'set-cookie values' },
    ]);
    r.headers.pop();
    assert.deepEqual(compareResponse(x, r, noise, { headers }).differences, [
      { path: 'header.set-cookie', recorded: 'session, theme', replayed: 'theme' },
    ]);
  });
});

describe('compareResponse: bodies', () => {
  it('diffs JSON per field, whatever the key order and number spelling', () => {
    const x = recorded('{"items":[{"price":1.50,"sku":"a"},{"price":2,"sku":"b"},{"price":3,"sku":"c"}],"n":3}');
    assert.equal(
      compareResponse(
        x,
        replayed('{"n":3e0,"items":[{"sku":"a","price":1.5},{"sku":"b","price":2.0},{"sku":"c","price":3}]}'),
        noise,
      ).pass,
      true,
    );
    const v = compareResponse(
      x,
      replayed('{"n":3,"items":[{"price":1.5,"sku":"a"},{"price":2,"sku":"b"},{"price":3.5,"sku":"c"}]}'),
      noise,
    );
    assert.deepEqual(v.differences, [{ path: 'body.$.items[2].price', recorded: '3', replayed: '3.5' }]);
    assert.equal(v.differenceCount, 1);
  });

  it('says so when a JSON body comes back as something else', () => {
    const v = compareResponse(recorded('{"a":1}'), replayed('<html>oops</html>', 'text/html'), noise);
    assert.deepEqual(v.differences[1], {
      path: 'body',
      recorded: 'JSON, 7 bytes',
      replayed: 'not JSON: <html>oops</html>',
    });
    const empty = compareResponse(recorded('{"a":1}'), replayed(''), noise);
    assert.deepEqual(empty.differences, [{ path: 'body', recorded: 'JSON, 7 bytes', replayed: '(empty)' }]);
  });

  it('shows the first differing line of a text body', () => {
    const x = recorded('<h1>Hi</h1>\n<p>price: 3</p>\n<p>end</p>\n', 'text/html');
    assert.equal(
      compareResponse(x, replayed('<h1>Hi</h1>\n<p>price: 3</p>\n<p>end</p>\n', 'text/html'), noise).pass,
      true,
    );
    const v = compareResponse(x, replayed('<h1>Hi</h1>\n<p>price: 4</p>\n<p>end</p>\n', 'text/html'), noise);
    assert.deepEqual(v.differences, [
      { path: 'body', recorded: 'line 2: <p>price: 3</p>', replayed: 'line 2: <p>price: 4</p>' },
    ]);
  });

  it('shows a window around the difference in a long line, and where one text ends', () => {
    const long = `${'a'.repeat(1000)}X${'b'.repeat(1000)}`;
    const d = firstDifference(long, long.replace('X', 'Y'));
    assert.match(d.recorded, /^line 1, column 1001: …a{60}Xb+…$/);
    assert.match(d.replayed, /^line 1, column 1001: …a{60}Yb+…$/);
    assert.deepEqual(firstDifference('one\ntwo\n', 'one\n'), {
      recorded: 'line 2: two',
      replayed: 'line 2: (ends here)',
    });
  });

  it('compares binary bodies by size and hash', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]);
    const x = recorded(png, 'image/png');
    assert.equal(compareResponse(x, replayed(Buffer.from(png), 'image/png'), noise).pass, true);
    const v = compareResponse(x, replayed(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]), 'image/png'), noise);
    assert.equal(v.differences.length, 1);
    assert.match(v.differences[0]?.recorded ?? '', /^8 bytes, sha256:[0-9a-f]{16}$/);
    assert.match(v.differences[0]?.replayed ?? '', /^7 bytes, sha256:[0-9a-f]{16}$/);
  });

  it('compares only the kept prefix of a truncated recorded body, and says so', () => {
    const full = `{"rows":[${Array.from({ length: 100 }, (_, i) => `{"i":${i}}`).join(',')}]}`;
    const x = recorded(full, 'application/json', { cap: 64 });
    assert.equal(x.response?.body?.truncated, true);
    const v = compareResponse(x, replayed(full), noise);
    assert.equal(v.pass, true);
    assert.deepEqual(v.ignored, [
      { path: 'body', reason: `recorded body cut at 64 of ${full.length} bytes: only the first 64 compared` },
    ]);
    const changedLater = full.replace('{"i":99}', '{"i":-1}');
    assert.equal(compareResponse(x, replayed(changedLater), noise).pass, true, 'past the cap: not compared');
    const changedEarly = full.replace('{"i":1}', '{"i":7}');
    const bad = compareResponse(x, replayed(changedEarly), noise);
    assert.equal(bad.differences[0]?.path, 'body');
    assert.match(bad.differences[0]?.replayed ?? '', /\{"i":7\}/);
    assert.equal(compareResponse(x, replayed(full.slice(0, 30)), noise).pass, false, 'shorter than the kept part');
  });

  it('lists the first 50 differences and counts them all', () => {
    const a = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${String(i).padStart(3, '0')}`, i]));
    const b = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v + 1]));
    const v = compareResponse(recorded(JSON.stringify(a)), replayed(JSON.stringify(b)), noise);
    assert.equal(v.differences.length, 50);
    assert.equal(v.differenceCount, 120);
    assert.equal(v.differences[0]?.path, 'body.$.k000');
  });

  it('lists every ignored path with its reason and still fails on the rest', () => {
    const x = recorded(
      '{"id":7,"createdAt":"2024-05-14T09:21:33Z","requestId":"4f1c2a9e-0b7d-4a51-9a7e-3c2d1e0f9a8b","meta":{"generatedAt":"now"},"name":"Ann"}',
    );
    const model = learnNoise([], { ignore: ['$.meta.generatedAt'], now: NOW });
    const v = compareResponse(
      x,
      replayed(
        '{"id":7,"createdAt":"2024-05-15T10:00:00.123Z","requestId":"0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b","meta":{"generatedAt":"later"},"name":"Bob"}',
      ),
      model,
    );
    assert.deepEqual(v.ignored, [
      { path: 'body.$.createdAt', reason: 'timestamp-like' },
      { path: 'body.$.meta.generatedAt', reason: 'configured' },
      { path: 'body.$.requestId', reason: 'uuid-like' },
    ]);
    assert.deepEqual(v.differences, [{ path: 'body.$.name', recorded: '"Ann"', replayed: '"Bob"' }]);
  });

  it('reports a recorded transport failure against a replayed response', () => {
    const x = httpExchange(0, { direction: 'inbound', error: { kind: 'reset', message: 'ECONNRESET' } });
    delete x.response;
    assert.deepEqual(compareResponse(x, replayed('{}'), noise).differences, [
      { path: 'status', recorded: '(no response: reset)', replayed: '200' },
    ]);
  });
});

describe('compareResponse: gRPC', () => {
  /** One framed message holding field 1 = varint n. */
  const frame = (n: number): Buffer => Buffer.from([0, 0, 0, 0, 2, 0x08, n]);

  function grpcRecorded(n: number): GrpcExchange {
    const base = httpExchange(0, { direction: 'inbound' });
    return {
      ...base,
      protocol: 'grpc',
      request: { ...base.request, method: 'POST', url: 'http://app.local:50051/shop.Prices/Get' },
      response: { status: 200, statusText: '', httpVersion: '2', headers: [['content-type', 'application/grpc']] },
      grpc: {
        service: 'shop.Prices',
        method: 'Get',
        truncated: false,
        status: 0,
        messages: [
          {
            dir: 's2c',
            tMs: 1,
            size: 2,
            compressed: false,
            data: encodeBody(Buffer.from([0x08, n])),
            fields: [{ n: 1, wire: 'varint', value: String(n) }],
          },
        ],
      },
    };
  }

  const grpcReplayed = (n: number, status = '0'): ReplayedResponse => ({
    status: 200,
    headers: [['content-type', 'application/grpc']],
    trailers: [['grpc-status', status]],
    body: frame(n),
    httpVersion: '2',
  });

  it('compares grpc-status and the messages field by field', () => {
    assert.equal(compareResponse(grpcRecorded(42), grpcReplayed(42), noise).pass, true);
    assert.deepEqual(compareResponse(grpcRecorded(42), grpcReplayed(43, '13'), noise).differences, [
      { path: 'grpc-status', recorded: '0', replayed: '13' },
      { path: 'body.$[0].1', recorded: '"42"', replayed: '"43"' },
    ]);
  });
});
