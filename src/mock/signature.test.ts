/**
 * Signatures: equal when requests differ only in what must not matter (header order, query
 * order, JSON key order, ignored parts, ids folded by path patterns, default ports, gRPC framing
 * and compression), different when they differ in anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { httpExchange } from '../../test/helpers/exchanges.ts';
import type { GrpcExchange, HeaderList } from '../model/exchange.ts';
import { buildGrpcCall } from '../protocols/grpc/index.ts';
import { RuleSet, type MockRule } from './match-config.ts';
import { exchangeSignature, requestSignature, splitUrl } from './signature.ts';
import type { MockRequest } from './types.ts';

/** A live request as the serving side would build it. */
function req(
  url: string,
  init: { method?: string; headers?: HeaderList; body?: string | Buffer; protocol?: MockRequest['protocol'] } = {},
): MockRequest {
  const u = splitUrl(url);
  return {
    protocol: init.protocol ?? 'http',
    scheme: u.scheme,
    host: u.host,
    port: u.port,
    method: init.method ?? 'GET',
    path: u.path,
    query: u.query,
    headers: init.headers ?? [],
    body: typeof init.body === 'string' ? Buffer.from(init.body) : (init.body ?? Buffer.alloc(0)),
    httpVersion: '1.1',
  };
}

function sig(r: MockRequest, rules: MockRule[] = []): string {
  return requestSignature(r, new RuleSet(rules)).key;
}

const json = (body: string): { method: string; headers: HeaderList; body: string } => ({
  method: 'POST',
  headers: [['Content-Type', 'application/json']],
  body,
});

describe('request signatures: URL parts', () => {
  it('reads as protocol, method, host, path and sorted query', () => {
    assert.equal(sig(req('https://API.Test/users/7?b=2&a=1')), 'http GET api.test/users/7?a=1&b=2');
  });

  it('ignores the default ports and the scheme, keeps other ports', () => {
    const plain = sig(req('https://api.test/x'));
    assert.equal(sig(req('https://api.test:443/x')), plain);
    assert.equal(sig(req('http://api.test:80/x')), plain);
    assert.notEqual(sig(req('http://api.test:8080/x')), plain);
    assert.equal(sig(req('http://[::1]:8080/x')), 'http GET [::1]:8080/x');
  });

  it('sorts query parameters by name but keeps repeats in the order sent', () => {
    assert.equal(sig(req('http://a/x?t=1&z=0&t=2')), sig(req('http://a/x?z=0&t=1&t=2')));
    assert.notEqual(sig(req('http://a/x?t=1&t=2')), sig(req('http://a/x?t=2&t=1')));
    assert.equal(sig(req('http://a/x?q=a+b')), sig(req('http://a/x?q=a%20b')));
  });

  it('drops ignored query parameters, and only for the hosts the rule names', () => {
    const rules: MockRule[] = [{ host: 'api.test', ignoreQuery: ['_ts'] }];
    assert.equal(sig(req('http://api.test/x?a=1&_ts=99'), rules), sig(req('http://api.test/x?a=1&_ts=100'), rules));
    assert.notEqual(sig(req('http://other/x?_ts=99'), rules), sig(req('http://other/x?_ts=100'), rules));
  });

  it('folds ids with a template or a segment regex', () => {
    const template: MockRule[] = [{ pathPatterns: ['/users/{id}'] }];
    assert.equal(sig(req('http://a/users/7'), template), 'http GET a/users/{id}');
    assert.equal(sig(req('http://a/users/8'), template), sig(req('http://a/users/7'), template));
    assert.notEqual(sig(req('http://a/users/7/orders'), template), sig(req('http://a/users/8/orders'), template));
    const regex: MockRule[] = [{ pathPatterns: ['[0-9]+'] }];
    assert.equal(sig(req('http://a/users/7/orders/1'), regex), sig(req('http://a/users/8/orders/2'), regex));
    assert.notEqual(sig(req('http://a/users/me'), regex), sig(req('http://a/users/7'), regex));
  });

  it('decodes percent-encoded path segments', () => {
    assert.equal(sig(req('http://a/caf%C3%A9/%7Euser')), sig(req('http://a/café/~user')));
    assert.notEqual(sig(req('http://a/a%2Fb')), sig(req('http://a/a/b')));
  });

  it('compares methods case-insensitively', () => {
    assert.equal(sig(req('http://a/x', { method: 'get' })), sig(req('http://a/x')));
    assert.notEqual(sig(req('http://a/x', { method: 'DELETE' })), sig(req('http://a/x')));
  });
});

describe('request signatures: headers', () => {
  const rules: MockRule[] = [{ matchHeaders: ['X-Tenant', 'accept'] }];

  it('leaves headers out unless a rule names them', () => {
    assert.equal(sig(req('http://a/x', { headers: [['x-tenant', 'a']] })), sig(req('http://a/x')));
  });

  it('matches the named headers whatever their order and case', () => {
    const one = req('http://a/x', {
      headers: [
        ['X-Tenant', 'a'],
        ['Accept', 'application/json'],
        ['X-Other', '1'],
      ],
    });
    const two = req('http://a/x', {
      headers: [
        ['accept', 'application/json'],
        ['x-tenant', 'a'],
      ],
    });
    assert.equal(sig(one, rules), sig(two, rules));
    assert.notEqual(sig(req('http://a/x', { headers: [['x-tenant', 'b']] }), rules), sig(two, rules));
    assert.notEqual(sig(req('http://a/x'), rules), sig(two, rules));
  });
});

describe('request signatures: bodies', () => {
  it('canonicalises JSON: key order and spacing do not matter, values do', () => {
    const a = sig(req('http://a/x', json('{"b": 1, "a": {"y": [1,2], "x": true}}')));
    assert.equal(sig(req('http://a/x', json('{"a":{"x":true,"y":[1,2]},"b":1}'))), a);
    assert.notEqual(sig(req('http://a/x', json('{"a":{"x":true,"y":[2,1]},"b":1}'))), a);
    assert.notEqual(sig(req('http://a/x', json('{"a":{"x":true,"y":[1,2]},"b":2}'))), a);
    assert.equal(a, 'http POST a/x #json:{"a":{"x":true,"y":[1,2]},"b":1}');
    const long = sig(req('http://a/x', json(JSON.stringify({ text: 'x'.repeat(200) }))));
    assert.match(long, /^http POST a\/x #sha256:[\w-]{22}$/);
  });

  it('treats a body without a content type that parses as JSON as JSON', () => {
    assert.equal(
      sig(req('http://a/x', { method: 'POST', body: '{"a":1,"b":2}' })),
      sig(req('http://a/x', json('{"b":2,"a":1}'))),
    );
  });

  it('removes ignored JSON paths: members, wildcards and recursive descent', () => {
    const rules: MockRule[] = [{ ignoreJsonPaths: ['$.request.id', '$.items[*].id', '$..updatedAt'] }];
    const a = JSON.stringify({
      request: { id: 'r1', kind: 'k' },
      items: [
        { id: 1, n: 'a' },
        { id: 2, n: 'b' },
      ],
      meta: { deep: { updatedAt: 'T1' } },
      updatedAt: 'T1',
    });
    const b = JSON.stringify({
      updatedAt: 'T2',
      meta: { deep: { updatedAt: 'T2' } },
      items: [
        { n: 'a', id: 9 },
        { n: 'b', id: 8 },
      ],
      request: { kind: 'k', id: 'r2' },
    });
    assert.equal(sig(req('http://a/x', json(a)), rules), sig(req('http://a/x', json(b)), rules));
    const c = b.replace('"n":"b"', '"n":"c"');
    assert.notEqual(sig(req('http://a/x', json(a)), rules), sig(req('http://a/x', json(c)), rules));
  });

  it('sorts form fields', () => {
    const form = (body: string): { method: string; headers: HeaderList; body: string } => ({
      method: 'POST',
      headers: [['content-type', 'application/x-www-form-urlencoded; charset=utf-8']],
      body,
    });
    assert.equal(sig(req('http://a/x', form('b=2&a=1+2'))), sig(req('http://a/x', form('a=1%202&b=2'))));
    assert.notEqual(sig(req('http://a/x', form('a=1&b=2'))), sig(req('http://a/x', form('a=1&b=3'))));
  });

  it('hashes other bodies byte for byte; an empty body is no body', () => {
    const bin = (b: Buffer): { method: string; headers: HeaderList; body: Buffer } => ({
      method: 'PUT',
      headers: [['content-type', 'application/octet-stream']],
      body: b,
    });
    const a = sig(req('http://a/x', bin(Buffer.from([0, 1, 2, 255]))));
    assert.equal(sig(req('http://a/x', bin(Buffer.from([0, 1, 2, 255])))), a);
    assert.notEqual(sig(req('http://a/x', bin(Buffer.from([0, 1, 2, 254])))), a);
    assert.equal(sig(req('http://a/x', bin(Buffer.alloc(0)))), 'http PUT a/x');
    // Broken JSON falls back to the bytes.
    assert.notEqual(sig(req('http://a/x', json('{"a":'))), sig(req('http://a/x', json('{"a": '))));
  });

  it('leaves the body out with ignoreBody', () => {
    const rules: MockRule[] = [{ path: '/upload/**', ignoreBody: true }];
    assert.equal(
      sig(req('http://a/upload/1', json('{"a":1}')), rules),
      sig(req('http://a/upload/1', json('{"a":2}')), rules),
    );
  });
});

describe('request signatures: recorded and live agree', () => {
  it('files a recorded HTTP exchange under the signature of the same live request', () => {
    const rules = new RuleSet([{ pathPatterns: ['/users/{id}'], ignoreQuery: ['fields'] }]);
    const recorded = exchangeSignature(httpExchange(7), rules);
    const live = requestSignature(
      req('https://api.example.com:443/users/9?fields=x', { headers: [['accept', 'text/plain']] }),
      rules,
    );
    assert.equal(recorded.key, live.key);
    assert.equal(live.key, 'http GET api.example.com/users/{id}');
  });

  it('uses the upgrade request of a WebSocket session', () => {
    const base = httpExchange(1);
    const ws = {
      ...base,
      protocol: 'websocket' as const,
      request: { ...base.request, url: 'wss://api.example.com/feed?room=2' },
    };
    const rules = new RuleSet([]);
    assert.equal(
      exchangeSignature(ws, rules).key,
      requestSignature(req('https://api.example.com/feed?room=2', { protocol: 'websocket' }), rules).key,
    );
  });
});

describe('request signatures: gRPC', () => {
  const root = protobuf.Root.fromJSON({
    nested: {
      Meta: { fields: { updatedAt: { type: 'string', id: 1 }, n: { type: 'int32', id: 2 } } },
      GetUser: {
        fields: {
          id: { type: 'int64', id: 1 },
          name: { type: 'string', id: 2 },
          tags: { rule: 'repeated', type: 'string', id: 3 },
          meta: { type: 'Meta', id: 4 },
        },
      },
    },
  });
  const GetUser = root.lookupType('GetUser');
  const encode = (v: Record<string, unknown>): Buffer => Buffer.from(GetUser.encode(GetUser.create(v)).finish());
  const frame = (msg: Buffer, flag = 0): Buffer => {
    const prefix = Buffer.alloc(5);
    prefix[0] = flag;
    prefix.writeUInt32BE(msg.length, 1);
    return Buffer.concat([prefix, msg]);
  };
  const grpcHeaders: HeaderList = [
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ];
  const live = (body: Buffer, headers: HeaderList = grpcHeaders): MockRequest => ({
    ...req('https://users.svc:50051/users.Users/GetUser', { method: 'POST', headers, body, protocol: 'grpc' }),
    httpVersion: '2',
  });
  const recorded = (message: Buffer): GrpcExchange => {
    const base = httpExchange(3);
    return {
      ...base,
      protocol: 'grpc',
      request: {
        method: 'POST',
        url: 'https://users.svc:50051/users.Users/GetUser',
        httpVersion: '2',
        headers: grpcHeaders,
      },
      grpc: buildGrpcCall({
        path: '/users.Users/GetUser',
        requestHeaders: grpcHeaders,
        chunks: [{ dir: 'c2s', tMs: 0, bytes: frame(message) }],
        chunksTruncated: false,
        cap: 1 << 20,
      }),
    };
  };
  const user = { id: 42, name: 'ada', tags: ['a', 'b'], meta: { updatedAt: 'T1', n: 3 } };

  it('a recorded call and the same live call agree, whatever the compression', () => {
    const rules = new RuleSet([]);
    const rec = exchangeSignature(recorded(encode(user)), rules).key;
    assert.match(rec, /^grpc POST users\.svc:50051\/users\.Users\/GetUser #/);
    assert.equal(requestSignature(live(frame(encode(user))), rules).key, rec);
    const gz = frame(zlib.gzipSync(encode(user)), 1);
    assert.equal(requestSignature(live(gz, [...grpcHeaders, ['grpc-encoding', 'gzip']]), rules).key, rec);
  });

  it('differs when a field value differs, not when fields come in another order', () => {
    const rules = new RuleSet([]);
    const a = requestSignature(live(frame(encode(user))), rules).key;
    assert.notEqual(requestSignature(live(frame(encode({ ...user, id: 43 }))), rules).key, a);
    assert.notEqual(requestSignature(live(frame(encode({ ...user, tags: ['b', 'a'] }))), rules).key, a);
    // Raw bytes: field 1 = 7 and field 2 = "a", in both orders.
    const inOrder = Buffer.from([0x08, 0x07, 0x12, 0x01, 0x61]);
    const swapped = Buffer.from([0x12, 0x01, 0x61, 0x08, 0x07]);
    assert.equal(requestSignature(live(frame(inOrder)), rules).key, requestSignature(live(frame(swapped)), rules).key);
  });

  it('ignores decoded fields by number with ignoreJsonPaths', () => {
    const rules = new RuleSet([{ host: '*.svc', ignoreJsonPaths: ['$.4.1'] }]);
    const a = requestSignature(live(frame(encode(user))), rules).key;
    const b = requestSignature(live(frame(encode({ ...user, meta: { updatedAt: 'T2', n: 3 } }))), rules).key;
    assert.equal(a, b);
  });
});
