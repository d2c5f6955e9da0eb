/**
 * buildGrpcCall on scripted streams, and on the real DATA payloads of grpc-js calls recorded by
 * a TCP splice between a grpc-js client and server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { grpcCallSchema, type HeaderList } from '../../model/exchange.ts';
import { decodeBody } from '../../model/body.ts';
import {
  CATALOG_PROTO,
  createCatalogClient,
  GRPC_FIXTURES,
  grpcFrame,
  http2DataByStream,
  sampleItem,
  startGrpcServer,
  startSplice,
  type GrpcServerHandle,
} from '../../../test/helpers/grpc-peers.ts';
import { buildGrpcCall, isGrpcContentType, percentDecode, splitGrpcPath, type GrpcCallInput } from './call.ts';
import { ProtoRegistry } from './proto-registry.ts';

const GET = '/tapwire.test.Catalog/GetItem';
const REQUEST_HEADERS: HeaderList = [
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
];

function call(input: Partial<GrpcCallInput>): ReturnType<typeof buildGrpcCall> {
  const built = buildGrpcCall({
    path: GET,
    requestHeaders: REQUEST_HEADERS,
    chunks: [],
    chunksTruncated: false,
    cap: 1024,
    ...input,
  });
  return grpcCallSchema.parse(built);
}

describe('isGrpcContentType and splitGrpcPath', () => {
  it('knows gRPC content types, not gRPC-Web', () => {
    for (const t of ['application/grpc', 'application/grpc+proto', 'Application/GRPC+json; charset=utf-8'])
      assert.ok(isGrpcContentType(t), t);
    for (const t of [undefined, '', 'application/grpc-web', 'application/grpc-web+proto', 'application/json'])
      assert.ok(!isGrpcContentType(t), t);
  });

  it('splits /package.Service/Method', () => {
    assert.deepEqual(splitGrpcPath('/helloworld.Greeter/SayHello'), {
      service: 'helloworld.Greeter',
      method: 'SayHello',
    });
    assert.deepEqual(splitGrpcPath('/odd'), { service: '', method: '/odd' });
  });

  it('percent-decodes grpc-message, leaving malformed escapes', () => {
    assert.equal(percentDecode('no item %22x%22 %E2%80%93 100%25 gone'), 'no item "x" – 100% gone');
    assert.equal(percentDecode('50%zz off %'), '50%zz off %');
  });
});

describe('buildGrpcCall', () => {
  let Item: protobuf.Type;
  let protos: ProtoRegistry;
  before(async () => {
    Item = (await protobuf.load(CATALOG_PROTO)).lookupType('tapwire.test.Item');
    protos = await ProtoRegistry.load(GRPC_FIXTURES);
  });
  const itemBytes = (id: string): Buffer => Buffer.from(Item.encode(Item.fromObject(sampleItem(id))).finish());

  it('assembles a unary call: messages in order, fields, JSON, status from the trailers', () => {
    const req = Buffer.from([0x0a, 0x02, 0x61, 0x31]);
    const res = grpcFrame(itemBytes('a1'));
    const built = call({
      responseHeaders: [['content-type', 'application/grpc']],
      trailers: [
        ['grpc-status', '0'],
        ['grpc-message', ''],
      ],
      chunks: [
        { dir: 'c2s', tMs: 1, bytes: grpcFrame(req) },
        { dir: 's2c', tMs: 4, bytes: res.subarray(0, 20) },
        { dir: 's2c', tMs: 6, bytes: res.subarray(20) },
      ],
      protos,
    });
    assert.equal(built.service, 'tapwire.test.Catalog');
    assert.equal(built.method, 'GetItem');
    assert.equal(built.status, 0);
    assert.equal(built.statusMessage, undefined);
    assert.equal(built.truncated, false);
    assert.equal(built.encoding, undefined);
    assert.deepEqual(
      built.messages.map((m) => [m.dir, m.tMs, m.size, m.compressed]),
      [
        ['c2s', 1, 4, false],
        ['s2c', 6, res.length - 5, false],
      ],
    );
    assert.deepEqual(built.messages[0]?.fields, [{ n: 1, wire: 'len', as: 'string', value: 'a1' }]);
    assert.deepEqual(built.messages[0]?.json, { id: 'a1' });
    assert.deepEqual(decodeBody(built.messages[1]?.data), itemBytes('a1'));
    assert.equal((built.messages[1]?.json as { stock: string }).stock, '9007199254740993');
  });

  it('reads a trailers-only error response', () => {
    const built = call({
      responseHeaders: [
        ['content-type', 'application/grpc'],
        ['grpc-status', '5'],
        ['grpc-message', 'no item %22x%22 %E2%80%93 100%25 gone'],
      ],
      chunks: [{ dir: 'c2s', tMs: 0, bytes: grpcFrame(Buffer.from([0x0a, 0x01, 0x78])) }],
    });
    assert.equal(built.status, 5);
    assert.equal(built.statusMessage, 'no item "x" – 100% gone');
    assert.equal(built.messages.length, 1);
  });

  it('has no status when the call broke, and reports the cut message', () => {
    const res = grpcFrame(itemBytes('b'));
    const built = call({ chunks: [{ dir: 's2c', tMs: 2, bytes: res.subarray(0, 30) }] });
    assert.equal(built.status, undefined);
    assert.equal(built.truncated, false);
    assert.match(built.messages[0]?.error ?? '', /stream ended 25 bytes into a \d+-byte message/);
    assert.equal(built.messages[0]?.fields, undefined);
  });

  it('leaves out a message cut by the capture cap and says truncated', () => {
    const res = Buffer.concat([grpcFrame(itemBytes('1')), grpcFrame(itemBytes('2'))]);
    const built = call({
      chunks: [{ dir: 's2c', tMs: 2, bytes: res.subarray(0, res.length - 10) }],
      chunksTruncated: true,
    });
    assert.equal(built.truncated, true);
    assert.equal(built.messages.length, 1);
    assert.equal(built.messages[0]?.error, undefined);
  });

  it('caps message data like bodies, and decodes only whole messages', () => {
    const bytes = itemBytes('capped');
    const [m] = call({ chunks: [{ dir: 's2c', tMs: 0, bytes: grpcFrame(bytes) }], cap: 16, protos }).messages;
    assert.equal(m?.data.size, bytes.length);
    assert.equal(m?.data.truncated, true);
    assert.equal(m?.fields, undefined);
    assert.equal(m?.json, undefined);
  });

  it('inflates gzip messages and names the encoding', () => {
    const bytes = itemBytes('gz');
    const built = call({
      requestHeaders: [...REQUEST_HEADERS, ['grpc-encoding', 'gzip']],
      chunks: [{ dir: 'c2s', tMs: 0, bytes: grpcFrame(zlib.gzipSync(bytes), true) }],
      path: '/tapwire.test.Catalog/UploadItems',
      protos,
    });
    assert.equal(built.encoding, 'gzip');
    assert.equal(built.messages[0]?.compressed, true);
    assert.deepEqual(decodeBody(built.messages[0]?.data), bytes);
    assert.equal((built.messages[0]?.json as { id: string }).id, 'gz');
  });

  it('keeps bytes that are not protobuf as data, with the JSON decode error', () => {
    const [m] = call({
      chunks: [{ dir: 's2c', tMs: 0, bytes: grpcFrame(Buffer.from([0xff, 0xff, 0xff])) }],
      protos,
    }).messages;
    assert.equal(m?.fields, undefined);
    assert.match(m?.error ?? '', /does not decode as tapwire\.test\.Item/);
    assert.equal(m?.data.data, '////');
  });
});

describe('buildGrpcCall on a real grpc-js capture', () => {
  let server: GrpcServerHandle;
  let protos: ProtoRegistry;
  before(async () => {
    server = await startGrpcServer();
    protos = await ProtoRegistry.load(GRPC_FIXTURES);
  });
  after(() => server.close());

  it('decodes the DATA payloads of all four call types, recorded between client and server', async () => {
    const splice = await startSplice(server.port);
    const client = createCatalogClient(`127.0.0.1:${splice.port}`);
    try {
      // Calls one after another: grpc-js opens streams 1, 3, 5, 7 in this order.
      await client.getItem('r1');
      await client.uploadItems([sampleItem('u1'), sampleItem('u2')]);
      await client.listItems(2, 'L');
      await client.chat(['a', 'b']);
    } finally {
      client.close();
      await splice.close();
    }
    const streams = http2DataByStream(splice.chunks);
    const paths = ['GetItem', 'UploadItems', 'ListItems', 'Chat'].map((m) => `/tapwire.test.Catalog/${m}`);
    const calls = paths.map((path, i) =>
      call({ path, chunks: streams.get(1 + 2 * i) ?? [], trailers: [['grpc-status', '0']], protos }),
    );
    const summary = calls.map((c) =>
      c.messages.map((m) => [m.dir, m.error ?? (m.json as { id?: string; text?: string })]),
    );
    assert.deepEqual(summary, [
      [
        ['c2s', { id: 'r1' }],
        ['s2c', protos.decode(paths[0] as string, 's2c', Buffer.from(protobufItem('r1')))],
      ],
      [
        ['c2s', protos.decode(paths[1] as string, 'c2s', protobufItem('u1'))],
        ['c2s', protos.decode(paths[1] as string, 'c2s', protobufItem('u2'))],
        ['s2c', { count: 2, ids: ['u1', 'u2'], totalCents: '246913578024' }],
      ],
      [
        ['c2s', { count: 2, prefix: 'L' }],
        ['s2c', protos.decode(paths[2] as string, 's2c', protobufItem('L0'))],
        ['s2c', protos.decode(paths[2] as string, 's2c', protobufItem('L1'))],
      ],
      [
        ['c2s', { seq: 1, text: 'a' }],
        ['s2c', { seq: 1, text: 'echo: a' }],
        ['c2s', { seq: 2, text: 'b' }],
        ['s2c', { seq: 2, text: 'echo: b' }],
      ],
    ]);
    for (const c of calls) {
      assert.ok(c.messages.every((m) => m.fields !== undefined));
      assert.deepEqual(
        c.messages.map((m) => m.tMs),
        c.messages.map((m) => m.tMs).sort((a, b) => a - b),
      );
    }
    assert.equal((calls[0]?.messages[1]?.json as { name: string }).name, 'Item r1');
  });

  it('inflates the gzip request messages grpc-js compresses', async () => {
    const splice = await startSplice(server.port);
    const client = createCatalogClient(`127.0.0.1:${splice.port}`, { gzip: true });
    try {
      await client.uploadItems([sampleItem('g1')]);
    } finally {
      client.close();
      await splice.close();
    }
    // grpc-js sent grpc-encoding: gzip (HPACK-coded, so given here rather than read).
    const built = call({
      path: '/tapwire.test.Catalog/UploadItems',
      requestHeaders: [...REQUEST_HEADERS, ['grpc-encoding', 'gzip']],
      chunks: http2DataByStream(splice.chunks).get(1) ?? [],
      protos,
    });
    assert.equal(built.encoding, 'gzip');
    assert.deepEqual(
      built.messages.map((m) => [m.dir, m.compressed, m.error]),
      [
        ['c2s', true, undefined],
        ['s2c', false, undefined],
      ],
    );
    assert.equal((built.messages[0]?.json as { id: string }).id, 'g1');
  });
});

/** The bytes grpc-js sends for an Item (it encodes with protobufjs too). */
function protobufItem(id: string): Uint8Array {
  const Item = protobuf.loadSync(CATALOG_PROTO).lookupType('tapwire.test.Item');
  return Item.encode(Item.fromObject(sampleItem(id))).finish();
}
