import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyCollector, decodeBody, encodeBody, headerValue } from './body.ts';
import { idTime, newId } from './ids.ts';
import { parseExchange } from './migrate.ts';
import { summarize } from './summary.ts';
import type { Exchange } from './exchange.ts';

const sample: Exchange = {
  v: 1,
  id: '01M80A9C4H5J3SXJ20C2D15HQH',
  ts: '2026-11-22T00:25:22.000Z',
  durationMs: 12,
  direction: 'outbound',
  protocol: 'http',
  request: { method: 'GET', url: 'http://a.test/x', httpVersion: '1.1', headers: [['Host', 'a.test']] },
  response: { status: 200, statusText: 'OK', httpVersion: '1.1', headers: [], body: encodeBody(Buffer.from('hi')) },
};

describe('body', () => {
  it('keeps UTF-8 text readable and binary as base64', () => {
    assert.deepEqual(encodeBody(Buffer.from('héllo')), { encoding: 'utf8', data: 'héllo', size: 6, truncated: false });
    const bin = Buffer.from([0, 1, 2, 255]);
    assert.equal(encodeBody(bin).encoding, 'base64');
    assert.deepEqual(decodeBody(encodeBody(bin)), bin);
    assert.equal(encodeBody(Buffer.from([0xc3, 0x28])).encoding, 'base64'); // invalid UTF-8
  });

  it('caps what it keeps, counts everything, and does not misjudge a character cut by the cap', () => {
    const c = new BodyCollector(4);
    c.add(Buffer.from('ab'));
    c.add(Buffer.from('cé')); // 'c' + 2-byte é: the cap cuts é in half
    c.add(Buffer.from('zzz'));
    const body = c.toBody('text/plain');
    assert.equal(body?.size, 8);
    assert.equal(body?.truncated, true);
    assert.equal(body?.encoding, 'utf8');
    assert.equal(body?.data, 'abc');
    assert.equal(new BodyCollector().toBody(), undefined);
  });

  it('finds header values case-insensitively', () => {
    assert.equal(
      headerValue(
        [
          ['Content-Type', 'a'],
          ['content-type', 'b'],
        ],
        'CONTENT-TYPE',
      ),
      'a',
    );
    assert.equal(headerValue([], 'x'), undefined);
  });
});

describe('ids', () => {
  it('sort in creation order, even within one millisecond, and carry their time', () => {
    const ids = Array.from({ length: 2000 }, () => newId(1_700_000_000_000));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(idTime(ids[0] as string), 1_700_000_000_000);
    assert.match(newId(), /^[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});

describe('parseExchange', () => {
  it('accepts a valid record and rejects others with the path of the problem', () => {
    assert.deepEqual(parseExchange(JSON.parse(JSON.stringify(sample))), sample);
    assert.throws(() => parseExchange({ ...sample, v: 2 }), /newer than this tapwire/);
    assert.throws(() => parseExchange({ ...sample, v: 0 }), /no valid format version/);
    assert.throws(() => parseExchange([]), /must be a JSON object/);
    assert.throws(() => parseExchange({ ...sample, durationMs: -1 }), /durationMs/);
    assert.throws(() => parseExchange({ ...sample, protocol: 'gopher' }), /protocol/);
  });
});

describe('summarize', () => {
  it('prints one line per exchange', () => {
    assert.equal(summarize(sample), 'out GET http://a.test/x 200 12ms 2 B');
    assert.match(
      summarize({ ...sample, response: undefined, error: { kind: 'refused', message: 'ECONNREFUSED' } }),
      /--- 12ms ! refused: ECONNREFUSED$/,
    );
  });
});

describe('grpc and websocket records', () => {
  it('reads a gRPC call with nested schemaless fields and summarises it', () => {
    const grpc = parseExchange({
      ...sample,
      protocol: 'grpc',
      streamId: 1,
      conn: '01M80A9C4H5J3SXJ20C2D15HQJ',
      request: { method: 'POST', url: 'http://a.test/pkg.Svc/Get', httpVersion: '2', headers: [] },
      response: { status: 200, statusText: '', httpVersion: '2', headers: [], trailers: [['grpc-status', '0']] },
      grpc: {
        service: 'pkg.Svc',
        method: 'Get',
        truncated: false,
        status: 0,
        messages: [
          {
            dir: 'c2s',
            tMs: 0.5,
            size: 7,
            compressed: false,
            data: encodeBody(Buffer.from([10, 5, 104, 101, 108, 108, 111])),
            fields: [{ n: 1, wire: 'len', as: 'message', value: [{ n: 13, wire: 'varint', value: '108' }] }],
          },
        ],
      },
    });
    assert.equal(grpc.protocol, 'grpc');
    assert.match(summarize(grpc), /gRPC http:\/\/a\.test\/pkg\.Svc\/Get grpc-status 0 .* 1↑ 0↓ msgs/);
    assert.throws(() => parseExchange({ ...grpc, grpc: { ...grpc.grpc, messages: [{ dir: 'up' }] } }), /grpc/);
  });

  it('reads WebSocket messages and counts them in the summary', () => {
    const ws = parseExchange({
      ...sample,
      protocol: 'websocket',
      messages: [
        { dir: 'c2s', tMs: 1, type: 'text', data: encodeBody(Buffer.from('hi')) },
        { dir: 's2c', tMs: 2, type: 'close', data: encodeBody(Buffer.alloc(0)), code: 1000, reason: '' },
      ],
    });
    assert.match(summarize(ws), /\(websocket, 2 messages\)/);
  });
});
