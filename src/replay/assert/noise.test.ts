import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpExchange } from '../../../test/helpers/exchanges.ts';
import { ConfigInvalidError } from '../../errors.ts';
import { encodeBody } from '../../model/body.ts';
import type { HttpExchange } from '../../model/exchange.ts';
import type { ReplayedResponse } from '../types.ts';
import { compareResponse } from './compare.ts';
import { defaultNoise, learnNoise, NoiseLearner, shapeOf, shapeReason } from './noise.ts';

const NOW = Date.parse('2024-05-14T09:21:33.000Z');

/** An inbound GET of `url` answered with this JSON and these extra headers. */
function recording(url: string, json: unknown, headers: Array<[string, string]> = [], i = 0): HttpExchange {
  const x = httpExchange(i, { direction: 'inbound' });
  x.request.url = `http://app.local:3000${url}`;
  const text = JSON.stringify(json);
  x.response = {
    status: 200,
    statusText: 'OK',
    httpVersion: '1.1',
    headers: [['Content-Type', 'application/json'], ...headers],
    body: encodeBody(Buffer.from(text), text.length, 'application/json'),
  };
  return x;
}

const replayed = (json: unknown, headers: Array<[string, string]> = []): ReplayedResponse => ({
  status: 200,
  headers: [['content-type', 'application/json'], ...headers],
  body: Buffer.from(JSON.stringify(json)),
  httpVersion: '1.1',
});

describe('learnNoise: two recordings of the same request', () => {
  const a = recording(
    '/stats?window=1h',
    { hits: 10, served: { by: 'node-1', at: 'x' }, list: [{ v: 1, k: 'a' }], name: 'n' },
    [['X-Cache', 'MISS']],
    0,
  );
  const b = recording(
    '/stats?window=1h',
    { hits: 12, served: { by: 'node-2', at: 'x' }, list: [{ v: 2, k: 'a' }], name: 'n' },
    [['X-Cache', 'HIT']],
    1,
  );
  const other = recording('/stats?window=1d', { hits: 99, served: { by: 'z', at: 'x' }, list: [], name: 'n' }, [], 2);

  it('learns the paths and headers whose values differ, per endpoint', () => {
    const model = learnNoise([a, b, other], { now: NOW });
    assert.deepEqual(
      model.learned().map((l) => `${l.endpoint} ${l.path}`),
      [
        'GET /stats header.x-cache',
        'GET /stats body.$.hits',
        'GET /stats body.$.list[*].v',
        'GET /stats body.$.served.by',
      ],
    );
    const v = compareResponse(
      recording('/stats?window=1h', {}),
      replayed(
        {
          hits: 50,
          served: { by: 'node-9', at: 'x' },
          list: [
            { v: 7, k: 'a' },
            { v: 8, k: 'a' },
          ],
          name: 'n',
        },
        [['X-Cache', 'HIT']],
      ),
      model,
      { headers: ['content-type', 'x-cache'] },
    );
    // The recorded body here is {}: every member is "missing" on the recorded side.
    assert.ok(v.ignored.some((i) => i.path === 'body.$.hits' && i.reason === 'differs between two recordings'));
    assert.ok(v.ignored.some((i) => i.path === 'header.x-cache'));
    assert.deepEqual(
      v.differences.map((d) => d.path),
      ['body.$.list', 'body.$.name', 'body.$.served'],
    );
  });

  it('ignores learned fields, array elements by any index, and nothing else', () => {
    const model = learnNoise([a, b], { now: NOW });
    const v = compareResponse(
      a,
      replayed({ hits: 13, served: { by: 'node-3', at: 'y' }, list: [{ v: 3, k: 'b' }], name: 'n' }),
      model,
    );
    assert.deepEqual(v.ignored, [
      { path: 'body.$.hits', reason: 'differs between two recordings' },
      { path: 'body.$.list[0].v', reason: 'differs between two recordings' },
      { path: 'body.$.served.by', reason: 'differs between two recordings' },
    ]);
    assert.deepEqual(
      v.differences.map((d) => d.path),
      ['body.$.list[0].k', 'body.$.served.at'],
    );
  });

  it('does not learn across different requests, statuses or outbound exchanges', () => {
    assert.deepEqual(learnNoise([a, other], { now: NOW }).learned(), [], 'different query');
    const failed = recording('/stats?window=1h', { error: 'busy' }, [], 3);
    if (failed.response) failed.response.status = 503;
    assert.deepEqual(learnNoise([a, failed], { now: NOW }).learned(), [], 'state changed, not noise');
    const out1 = { ...a, direction: 'outbound' as const };
    const out2 = { ...b, direction: 'outbound' as const };
    assert.deepEqual(learnNoise([out1, out2], { now: NOW }).learned(), []);
  });

  it('stops tracking new requests past its memory budget', () => {
    const learner = new NoiseLearner({ now: NOW, learnBudgetBytes: 10 });
    learner.add(a);
    learner.add(b);
    assert.deepEqual(learner.model().learned(), []);
  });
});

describe('noise by shape', () => {
  const now = NOW;
  it('recognises timestamps in every usual form', () => {
    assert.equal(shapeOf('x', '2024-05-14T09:21:33Z', now), 'iso8601');
    assert.equal(shapeOf('x', '2024-05-14T09:21:33.123456+02:00', now), 'iso8601');
    assert.equal(shapeOf('x', '2024-05-14 09:21', now), 'iso8601');
    assert.equal(shapeOf('x', 'Tue, 14 May 2024 09:21:33 GMT', now), 'rfc1123');
    assert.equal(shapeOf('createdAt', 1715678493, now), 'epoch-s');
    assert.equal(shapeOf('updated_at', 1715678493123, now), 'epoch-ms');
    assert.equal(shapeOf('ts', '1715678493', now), 'epoch-s');
    assert.equal(shapeOf('birthDate', '1990-01-01', now), 'iso-date');
  });

  it('does not take short numbers, words, or unnamed numbers for timestamps', () => {
    assert.equal(shapeOf('createdAt', 42, now), undefined, 'a short number');
    assert.equal(shapeOf('createdAt', 'yesterday', now), undefined, 'a word');
    assert.equal(shapeOf('count', 1715678493, now), undefined, 'an epoch-sized number needs a time-like name');
    assert.equal(shapeOf('expires', 1e15, now), undefined, 'too far from now');
    assert.equal(shapeOf('createdAt', 1715678493 - 25 * 365 * 86400, now), undefined, 'more than 20 years ago');
    assert.equal(shapeOf('x', '2024-13-45T99:99:99Z', now), undefined, 'not a date');
    assert.equal(shapeOf('version', '2024-05-14', now), undefined, 'a date-only string needs a time-like name');
    assert.equal(shapeOf('createdAt', true, now), undefined);
  });

  it('recognises UUIDs, ULIDs and random ids under id-like names', () => {
    assert.equal(shapeOf('x', '4f1c2a9e-0b7d-4a51-9a7e-3c2d1e0f9a8b', now), 'uuid');
    assert.equal(shapeOf('x', '01HXR3Z8K9QJ7M2N4P5T6V8W9Y', now), 'ulid');
    assert.equal(shapeOf('requestId', 'req_8f3Kd92LmQp01xZa', now), 'token');
    assert.equal(shapeOf('x-trace-id', '7f3a9c2e41b0d5e6a8c9', now), 'token');
    assert.equal(shapeOf('etag', 'W/"33a64df551425fcc55e4d42a148795d9f25f89d4"', now), 'token');
    assert.equal(shapeOf('sessionToken', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0', now), 'token');
  });

  it('leaves ids that are not random, and random-looking values under other names, alone', () => {
    assert.equal(shapeOf('id', 7, now), undefined, 'a numeric id');
    assert.equal(shapeOf('id', 'abc', now), undefined, 'a short id');
    assert.equal(shapeOf('requestId', 'not a token at all', now), undefined);
    assert.equal(
      shapeOf('checksum', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', now),
      undefined,
    );
    assert.equal(shapeOf('status', 'ACTIVE', now), undefined);
    assert.equal(shapeOf('x', 'ABCDEFGHJKMNPQRSTVWXYZABCD', now), undefined, '26 letters are not a ULID');
  });

  it('ignores a change only when both values have the same shape', () => {
    assert.equal(shapeReason('at', '2024-05-14T09:21:33Z', '2024-05-15T01:00:00Z', now), 'timestamp-like');
    assert.equal(shapeReason('at', '2024-05-14T09:21:33Z', 'Tue, 14 May 2024 09:21:33 GMT', now), undefined);
    assert.equal(shapeReason('at', '2024-05-14T09:21:33Z', null, now), undefined);
    assert.equal(shapeReason('x', '4f1c2a9e-0b7d-4a51-9a7e-3c2d1e0f9a8b', 'n/a', now), undefined);
    assert.equal(shapeReason('id', 7, 8, now), undefined);
  });

  it('can be turned off, keeping configured ignores', () => {
    const model = defaultNoise({ shapes: false, ignore: ['header.date'], now });
    assert.equal(model.ignored('GET /', 'body.$.at', '2024-05-14T09:21:33Z', '2024-05-15T09:21:33Z'), undefined);
    assert.equal(model.ignored('GET /', 'header.etag', '"a"', '"b"'), undefined);
    assert.equal(model.ignored('GET /', 'header.date', 'a', 'b'), 'configured');
  });
});

describe('configured ignores', () => {
  it('take body paths (with wildcards and descent), headers, body and status, optionally per endpoint', () => {
    const model = defaultNoise({
      now: NOW,
      ignore: [
        '$.meta',
        'body.$.items[*].seq',
        '$..etagLike',
        'header.X-Trace',
        { endpoint: 'GET /users/{id}', path: '$.name' },
        { endpoint: 'POST /upload', path: 'body' },
        { endpoint: 'GET /flaky', path: 'status' },
      ],
    });
    const ig = (endpoint: string, path: string): string | undefined => model.ignored(endpoint, path, 1, 2);
    assert.equal(ig('GET /a', 'body.$.meta.generatedAt'), 'configured', 'inside an ignored node');
    assert.equal(ig('GET /a', 'body.$.metadata'), undefined);
    assert.equal(ig('GET /a', 'body.$.items[3].seq'), 'configured');
    assert.equal(ig('GET /a', 'body.$.items[3].price'), undefined);
    assert.equal(ig('GET /a', 'body.$.deep[0].x.etagLike'), 'configured');
    assert.equal(ig('GET /a', 'header.x-trace'), 'configured');
    assert.equal(ig('GET /users/{id}', 'body.$.name'), 'configured');
    assert.equal(ig('GET /orders/{id}', 'body.$.name'), undefined);
    assert.equal(ig('POST /upload', 'body'), 'configured');
    assert.equal(ig('POST /upload', 'body.$.x'), 'configured');
    assert.equal(ig('GET /flaky', 'status'), 'configured');
    assert.equal(ig('GET /a', 'status'), undefined);
  });

  it('rejects bad paths, every one at once, with what to write instead', () => {
    assert.throws(
      () => learnNoise([], { ignore: ['meta.x', '$.a[', '$.ok'], source: 'replay.yaml' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigInvalidError);
        assert.match(err.message, /replay\.yaml/);
        assert.match(err.message, /ignore\[0\]: "meta\.x" is not a path: use "\$\.meta\.generatedAt"/);
        assert.match(err.message, /ignore\[1\]: expected \[\*\], \[N\]/);
        assert.doesNotMatch(err.message, /ignore\[2\]/);
        return true;
      },
    );
  });
});
