/**
 * Schemaless protobuf decoding against messages encoded by protobufjs from the fixture .proto,
 * hand-made edge cases, and a seeded fuzz (TAPWIRE_FUZZ_SEED=<seed> replays a run).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { protoFieldSchema, type ProtoField } from '../../model/exchange.ts';
import { CATALOG_PROTO, sampleItem } from '../../../test/helpers/grpc-peers.ts';
import { mulberry32 } from '../../../test/helpers/prng.ts';
import { decodeProtoFields } from './protobuf-wire.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const v = (n: number, value: string): ProtoField => ({ n, wire: 'varint', value });
const str = (n: number, value: string): ProtoField => ({ n, wire: 'len', as: 'string', value });
const msg = (n: number, value: ProtoField[]): ProtoField => ({ n, wire: 'len', as: 'message', value });
const bytes = (n: number, value: string): ProtoField => ({ n, wire: 'len', as: 'bytes', value });

/** Re-encodes decoded fields; protobufjs writes canonical varints, so its output round-trips exactly. */
function encode(fields: ProtoField[]): Buffer {
  const out: Buffer[] = [];
  const varint = (x: bigint): void => {
    const b: number[] = [];
    do {
      b.push(Number(x & 0x7fn) | (x > 0x7fn ? 0x80 : 0));
      x >>= 7n;
    } while (x > 0n);
    out.push(Buffer.from(b));
  };
  for (const f of fields) {
    const wire = { varint: 0, i64: 1, len: 2, group: 3, i32: 5 }[f.wire];
    varint(BigInt(f.n * 8 + wire));
    if (f.wire === 'varint') varint(BigInt(f.value as string));
    else if (f.wire === 'i64') {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(f.value as string));
      out.push(b);
    } else if (f.wire === 'i32') {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(Number(f.value));
      out.push(b);
    } else if (f.wire === 'group') {
      out.push(encode(f.value as ProtoField[]));
      varint(BigInt(f.n * 8 + 4));
    } else {
      const body =
        f.as === 'message'
          ? encode(f.value as ProtoField[])
          : Buffer.from(f.value as string, f.as === 'bytes' ? 'base64' : 'utf8');
      varint(BigInt(body.length));
      out.push(body);
    }
  }
  return Buffer.concat(out);
}

describe('decodeProtoFields', () => {
  let Item: protobuf.Type;
  before(async () => {
    Item = (await protobuf.load(CATALOG_PROTO)).lookupType('tapwire.test.Item');
  });

  it('decodes every field type of a protobufjs-encoded message', () => {
    const encoded = Buffer.from(Item.encode(Item.fromObject(sampleItem('a1'))).finish());
    const fields = decodeProtoFields(encoded);
    assert.deepEqual(fields, [
      str(1, 'a1'),
      str(2, 'Item a1'),
      v(3, '2'),
      msg(4, [v(1, '123456789012'), str(2, 'EUR')]),
      str(5, 'red'),
      str(5, 'blue'),
      bytes(6, Buffer.from([5, 0xac, 0x02, 0xf0, 0xa2, 0x04]).toString('base64')), // packed 5, 300, 70000
      bytes(7, 'AAEC/v8='),
      v(8, '9007199254740993'), // 2^53 + 1: past a double's exact range
      v(9, '18446744073709551614'), // int32 -2: a 10-byte varint
      v(10, '5'), // sint32 -3, zigzag
      { n: 11, wire: 'i64', value: '18446744073709551615' },
      { n: 12, wire: 'i32', value: '1069547520' }, // float 1.5
      msg(13, [v(1, '1700000000'), v(2, '5')]),
      msg(14, [v(1, '100'), str(2, 'EUR')]),
      msg(14, [v(1, '200'), str(2, 'USD')]),
      v(15, '18446744073709551615'),
    ]);
    assert.deepEqual(encode(fields!), encoded);
  });

  it('decodes varints at the 32/49/64-bit edges', () => {
    for (const n of [
      0n,
      127n,
      128n,
      2n ** 32n - 1n,
      2n ** 49n - 1n,
      2n ** 49n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
    ]) {
      const encoded = encode([v(1, n.toString())]);
      assert.deepEqual(decodeProtoFields(encoded), [v(1, n.toString())], `varint ${n}`);
    }
    assert.deepEqual(decodeProtoFields(hex('09 ffffffffffff1f00')), [
      { n: 1, wire: 'i64', value: String(2 ** 53 - 1) },
    ]);
    assert.equal(decodeProtoFields(hex('08 ffffffffffffffffff02')), undefined, 'past 64 bits');
    assert.equal(decodeProtoFields(hex('08 ffffffffffffffffffff01')), undefined, '11 bytes');
  });

  it('decodes groups, and rejects unbalanced ones', () => {
    assert.deepEqual(decodeProtoFields(hex('0b 1005 1b 2001 1c 0c 08 01')), [
      { n: 1, wire: 'group', value: [v(2, '5'), { n: 3, wire: 'group', value: [v(4, '1')] }] },
      v(1, '1'),
    ]);
    assert.equal(decodeProtoFields(hex('0b 1005 14')), undefined, 'closed by another number');
    assert.equal(decodeProtoFields(hex('0b 1005')), undefined, 'never closed');
    assert.equal(decodeProtoFields(hex('0c')), undefined, 'end without start');
  });

  it('tells nested messages, text and bytes apart', () => {
    assert.deepEqual(decodeProtoFields(Buffer.alloc(0)), []);
    assert.deepEqual(decodeProtoFields(hex('0a00')), [str(1, '')]);
    // A nested message with a 10-byte string starts with "\n\n": printable, but a message.
    const nested = encode([msg(1, [str(1, 'abcdefghij')])]);
    assert.deepEqual(decodeProtoFields(nested), [msg(1, [str(1, 'abcdefghij')])]);
    // " A" also parses (field 4 = 65), but text that does not start with a control byte stays text.
    assert.deepEqual(decodeProtoFields(encode([str(1, ' A')])), [str(1, ' A')]);
    assert.deepEqual(decodeProtoFields(encode([str(2, 'héllo wörld\n')])), [str(2, 'héllo wörld\n')]);
    assert.deepEqual(decodeProtoFields(hex('0a 03 ffff00')), [bytes(1, '//8A')]);
    assert.deepEqual(decodeProtoFields(hex('0a 02 0001')), [bytes(1, 'AAE=')], 'field number 0 is not a message');
  });

  it('returns undefined for bytes that are not a message', () => {
    for (const h of ['00', '07', '0e', 'ff', '0a05', '0a 85', '0d 0102', '09 01020304', 'f8ffffff7f01']) {
      assert.equal(decodeProtoFields(hex(h)), undefined, h);
    }
    assert.deepEqual(decodeProtoFields(hex('f8ffffff0f01')), [v(2 ** 29 - 1, '1')], 'the highest field number');
  });

  it('stops nesting at the depth limit', () => {
    let inner: ProtoField[] = [v(1, '7')];
    for (let i = 0; i < 40; i++) inner = [msg(1, inner)];
    const encoded = encode(inner);
    const shallow = decodeProtoFields(encoded, { maxDepth: 3 });
    let at: ProtoField | undefined = shallow?.[0];
    for (let i = 0; i < 3; i++) at = (at?.value as ProtoField[])[0];
    assert.equal(at?.as, 'bytes');
    assert.deepEqual(decodeProtoFields(encoded, { maxDepth: 64 }), inner);
  });

  it('never throws on random bytes or mutated messages (fuzz)', () => {
    const seed = process.env.TAPWIRE_FUZZ_SEED ? Number(process.env.TAPWIRE_FUZZ_SEED) : Date.now() >>> 0;
    const rng = mulberry32(seed);
    const valid = Buffer.from(Item.encode(Item.fromObject(sampleItem('fz'))).finish());
    let parsed = 0;
    for (let round = 0; round < 3000; round++) {
      let input: Buffer;
      if (rng() < 0.5) {
        input = Buffer.alloc(Math.floor(rng() * 64));
        for (let i = 0; i < input.length; i++) input[i] = Math.floor(rng() * 256);
      } else {
        input = Buffer.from(valid.subarray(0, Math.floor(rng() * (valid.length + 1))));
        for (let k = Math.floor(rng() * 4); k > 0 && input.length > 0; k--) {
          input[Math.floor(rng() * input.length)] = Math.floor(rng() * 256);
        }
      }
      let fields: ProtoField[] | undefined;
      try {
        fields = decodeProtoFields(input);
      } catch (err) {
        assert.fail(`seed ${seed} round ${round}: threw ${String(err)} on ${input.toString('hex')}`);
      }
      if (fields) {
        parsed++;
        for (const f of fields) protoFieldSchema.parse(f);
      }
    }
    assert.ok(parsed > 0, `seed ${seed}: some inputs parse`);
  });
});
