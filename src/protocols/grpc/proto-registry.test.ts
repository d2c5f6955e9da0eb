/** ProtoRegistry against the fixture .proto, and the errors a bad --proto directory gives. */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { GRPC_FIXTURES, CATALOG_PROTO, sampleItem } from '../../../test/helpers/grpc-peers.ts';
import { FileUnreadableError, ProtoInvalidError } from '../../errors.ts';
import { ProtoRegistry } from './proto-registry.ts';

const GET = '/tapwire.test.Catalog/GetItem';

describe('ProtoRegistry', () => {
  let registry: ProtoRegistry;
  let Item: protobuf.Type;
  let tmp: string;
  before(async () => {
    registry = await ProtoRegistry.load(GRPC_FIXTURES);
    Item = (await protobuf.load(CATALOG_PROTO)).lookupType('tapwire.test.Item');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tapwire-proto-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('finds the types of every method by its gRPC path', () => {
    assert.deepEqual(registry.lookup(GET), {
      requestType: 'tapwire.test.GetItemRequest',
      responseType: 'tapwire.test.Item',
      requestStream: false,
      responseStream: false,
    });
    assert.deepEqual(registry.lookup('/tapwire.test.Catalog/Chat'), {
      requestType: 'tapwire.test.ChatMessage',
      responseType: 'tapwire.test.ChatMessage',
      requestStream: true,
      responseStream: true,
    });
    assert.equal(registry.lookup('/tapwire.test.Catalog/Nope'), undefined);
    assert.equal(registry.lookup('/no.Such/GetItem'), undefined);
    assert.equal(registry.lookup('not a path'), undefined);
    assert.deepEqual(registry.files, [CATALOG_PROTO]);
  });

  it('decodes messages to JSON: camelCase, int64 as strings, enums by name, bytes as base64, no defaults', () => {
    const bytes = Item.encode(Item.fromObject(sampleItem('a1'))).finish();
    const json = registry.decode(GET, 's2c', bytes) as Record<string, unknown>;
    assert.deepEqual(json, {
      id: 'a1',
      name: 'Item a1',
      category: 'TOOL',
      price: { cents: '123456789012', currency: 'EUR' },
      tags: ['red', 'blue'],
      ratings: [5, 300, 70000],
      thumbnail: 'AAEC/v8=',
      stock: '9007199254740993',
      offset: -2,
      delta: -3,
      checksum: '18446744073709551615',
      weight: 1.5,
      updated: { seconds: '1700000000', nanos: 5 },
      history: [
        { cents: '100', currency: 'EUR' },
        { cents: '200', currency: 'USD' },
      ],
      big: '18446744073709551615',
    });
    assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
    assert.deepEqual(registry.decode(GET, 'c2s', Buffer.from([0x0a, 0x02, 0x61, 0x31])), { id: 'a1' });
  });

  it('says why bytes of a known method do not decode, and ignores unknown methods', () => {
    const bad = registry.tryDecode(GET, 's2c', Buffer.from([0x0a, 0x7f, 0x61]));
    assert.ok(bad && 'error' in bad);
    assert.match(bad.error, /does not decode as tapwire\.test\.Item/);
    assert.equal(registry.decode(GET, 's2c', Buffer.from([0x0a, 0x7f, 0x61])), undefined);
    assert.equal(registry.tryDecode('/x.Y/Z', 'c2s', Buffer.alloc(0)), undefined);
  });

  it('resolves imports against the directory, in subfolders too', async () => {
    const dir = path.join(tmp, 'imports');
    await mkdir(path.join(dir, 'common'), { recursive: true });
    await writeFile(
      path.join(dir, 'common', 'money.proto'),
      'syntax = "proto3";\npackage common;\nmessage Money { int64 units = 1; }\n',
    );
    await writeFile(
      path.join(dir, 'pay.proto'),
      'syntax = "proto3";\npackage pay;\nimport "common/money.proto";\nimport "google/protobuf/empty.proto";\n' +
        'service Pay { rpc Charge(common.Money) returns (google.protobuf.Empty); }\n',
    );
    const reg = await ProtoRegistry.load(dir);
    assert.equal(reg.lookup('/pay.Pay/Charge')?.requestType, 'common.Money');
    assert.deepEqual(reg.decode('/pay.Pay/Charge', 'c2s', Buffer.from([0x08, 0x07])), { units: '7' });
  });

  it('fails at load with TW_PROTO_INVALID naming the file and line of a syntax error', async () => {
    const dir = path.join(tmp, 'bad');
    await mkdir(dir);
    await writeFile(path.join(dir, 'ok.proto'), 'syntax = "proto3";\nmessage A { string a = 1; }\n');
    await writeFile(path.join(dir, 'broken.proto'), 'syntax = "proto3";\n\nmessage B {\n  string b = ;\n}\n');
    const err = await ProtoRegistry.load(dir).then(
      () => assert.fail('loaded a broken .proto'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProtoInvalidError);
    assert.equal(err.code, 'TW_PROTO_INVALID');
    assert.equal(err.file, path.join(dir, 'broken.proto'));
    assert.equal(err.line, 4);
    assert.match(err.message, /broken\.proto:4: /);
  });

  it('fails at load on a missing import or type', async () => {
    const dir = path.join(tmp, 'missing');
    await mkdir(dir);
    await writeFile(
      path.join(dir, 'a.proto'),
      'syntax = "proto3";\nimport "nowhere.proto";\nmessage A { string a = 1; }\n',
    );
    await assert.rejects(
      ProtoRegistry.load(dir),
      (e: unknown) => e instanceof ProtoInvalidError && /nowhere\.proto/.test(e.message),
    );
    const dir2 = path.join(tmp, 'notype');
    await mkdir(dir2);
    await writeFile(path.join(dir2, 'b.proto'), 'syntax = "proto3";\nmessage B { Missing m = 1; }\n');
    await assert.rejects(
      ProtoRegistry.load(dir2),
      (e: unknown) =>
        e instanceof ProtoInvalidError && /Missing/.test(e.message) && e.file === path.join(dir2, 'b.proto'),
    );
  });

  it('fails with TW_FILE_UNREADABLE on a directory without .proto files, or no directory', async () => {
    const empty = path.join(tmp, 'empty');
    await mkdir(empty);
    await assert.rejects(ProtoRegistry.load(empty), FileUnreadableError);
    await assert.rejects(ProtoRegistry.load(path.join(tmp, 'absent')), FileUnreadableError);
  });
});
