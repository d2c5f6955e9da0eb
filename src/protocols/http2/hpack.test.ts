/**
 * The HPACK decoder against the examples of RFC 7541 Appendix C (C.2–C.6: every
 * representation, Huffman and plain, the dynamic table filling and evicting), plus the bounds.
 * Header blocks from Node's real encoder (nghttp2) are checked in observer.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeInteger, HpackDecoder, HpackError } from './hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode } from './huffman.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const fields = (d: HpackDecoder, block: string) => d.decode(hex(block)).map((f) => [f.name, f.value]);

describe('HPACK integers (C.1)', () => {
  it('decodes 10 with a 5-bit prefix, 1337 with a 5-bit prefix, 42 at an octet boundary', () => {
    assert.deepEqual(decodeInteger(hex('0a'), 0, 5), { value: 10, next: 1 });
    assert.deepEqual(decodeInteger(hex('1f9a0a'), 0, 5), { value: 1337, next: 3 });
    assert.deepEqual(decodeInteger(hex('2a'), 0, 8), { value: 42, next: 1 });
  });
  it('refuses a cut or huge integer', () => {
    assert.throws(() => decodeInteger(hex('1f9a'), 0, 5), HpackError);
    assert.throws(() => decodeInteger(hex('1fffffffff0f'), 0, 5), HpackError);
  });
});

describe('HPACK header field representations (C.2)', () => {
  it('C.2.1 literal with indexing', () => {
    const d = new HpackDecoder();
    assert.deepEqual(fields(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'), [
      ['custom-key', 'custom-header'],
    ]);
    assert.equal(d.tableSize, 55);
  });
  it('C.2.2 literal without indexing', () => {
    const d = new HpackDecoder();
    assert.deepEqual(fields(d, '040c 2f73 616d 706c 652f 7061 7468'), [[':path', '/sample/path']]);
    assert.equal(d.tableSize, 0);
  });
  it('C.2.3 literal never indexed keeps the flag', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [
      { name: 'password', value: 'secret', neverIndexed: true },
    ]);
    assert.equal(d.tableSize, 0);
  });
  it('C.2.4 indexed', () => {
    assert.deepEqual(fields(new HpackDecoder(), '82'), [[':method', 'GET']]);
  });
});

const REQ1 = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const REQ2 = [...REQ1, ['cache-control', 'no-cache']];
const REQ3 = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];

describe('HPACK requests on one connection (C.3 plain, C.4 Huffman)', () => {
  it('C.3', () => {
    const d = new HpackDecoder();
    assert.deepEqual(fields(d, '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'), REQ1);
    assert.equal(d.tableSize, 57);
    assert.deepEqual(fields(d, '8286 84be 5808 6e6f 2d63 6163 6865'), REQ2);
    assert.equal(d.tableSize, 110);
    assert.deepEqual(fields(d, '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'), REQ3);
    assert.equal(d.tableSize, 164);
  });
  it('C.4', () => {
    const d = new HpackDecoder();
    assert.deepEqual(fields(d, '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'), REQ1);
    assert.deepEqual(fields(d, '8286 84be 5886 a8eb 1064 9cbf'), REQ2);
    assert.deepEqual(fields(d, '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'), REQ3);
    assert.equal(d.tableSize, 164);
  });
});

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const RES1 = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', DATE1],
  ['location', LOC],
];
const RES2 = [[':status', '307'], ...RES1.slice(1)];
const RES3 = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', DATE2],
  ['location', LOC],
  ['content-encoding', 'gzip'],
  ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
];

describe('HPACK responses with a 256-byte table: eviction (C.5 plain, C.6 Huffman)', () => {
  // The examples assume SETTINGS_HEADER_TABLE_SIZE 256: an encoder lowering the size says so.
  const decoder = () => {
    const d = new HpackDecoder();
    d.decode(hex('3fe101')); // size update to 256
    return d;
  };
  it('C.5', () => {
    const d = decoder();
    assert.deepEqual(
      fields(
        d,
        `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32
         3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      ),
      RES1,
    );
    assert.equal(d.tableSize, 222);
    assert.deepEqual(fields(d, '4803 3330 37c1 c0bf'), RES2);
    assert.equal(d.tableSize, 222);
    assert.deepEqual(
      fields(
        d,
        `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970
         7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61
         6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
      ),
      RES3,
    );
    assert.equal(d.tableSize, 215);
  });
  it('C.6', () => {
    const d = decoder();
    assert.deepEqual(
      fields(
        d,
        `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
         1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      ),
      RES1,
    );
    assert.equal(d.tableSize, 222);
    assert.deepEqual(fields(d, '4883 640e ffc1 c0bf'), RES2);
    assert.deepEqual(
      fields(
        d,
        `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
         e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      ),
      RES3,
    );
    assert.equal(d.tableSize, 215);
  });
});

describe('HPACK errors and bounds', () => {
  it('refuses an index past the tables, index 0, and a string running past the block', () => {
    assert.throws(() => new HpackDecoder().decode(hex('be')), /past the end of the dynamic table/);
    assert.throws(() => new HpackDecoder().decode(hex('80')), /index 0/);
    assert.throws(() => new HpackDecoder().decode(hex('400a 6375')), /runs past the end/);
  });
  it('refuses a size update above the allowed size, or after a field', () => {
    assert.throws(() => new HpackDecoder().decode(hex('3fe21f')), /update to 4097 exceeds the allowed 4096/);
    assert.throws(() => new HpackDecoder().decode(hex('82 3fe101')), /after a header field/);
    const d = new HpackDecoder();
    d.allowTableSize(8192);
    d.decode(hex('3fe13f')); // 8192
    const capped = new HpackDecoder({ hardMaxTableSize: 4096 });
    capped.allowTableSize(1 << 30);
    assert.throws(() => capped.decode(hex('3fe13f')), /exceeds the allowed 4096/);
  });
  it('a size update to 0 empties the table', () => {
    const d = new HpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    d.decode(hex('20'));
    assert.equal(d.tableSize, 0);
    assert.throws(() => d.decode(hex('be')), HpackError);
  });
  it('bounds the decoded list (a block of repeated indexes cannot blow up)', () => {
    const d = new HpackDecoder({ maxListSize: 1000 });
    assert.throws(() => d.decode(Buffer.alloc(100, 0x82)), /decoded header list larger/);
  });
});

describe('Huffman', () => {
  it('derives the RFC 7541 Appendix B codes from the lengths', () => {
    // Spot checks across lengths 5 to 30, EOS included.
    const known: Record<number, number> = {
      0: 0x1ff8,
      10: 0x3ffffffc,
      32: 0x14,
      48: 0x0,
      92: 0x7fff0,
      128: 0xfffe6,
      199: 0x1ffffec,
      255: 0x3ffffee,
      256: 0x3fffffff,
    };
    for (const [sym, code] of Object.entries(known)) assert.equal(HUFFMAN_CODES[Number(sym)], code, `symbol ${sym}`);
  });
  it('decodes every byte value (encoded here with the derived codes)', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual(huffmanDecode(huffmanEncode(bytes)), bytes);
  });
  it('refuses bad padding and EOS', () => {
    assert.throws(() => huffmanDecode(hex('00')), /padding/); // '0' then 3 zero bits
    assert.throws(() => huffmanDecode(hex('ffffffff')), /EOS/);
    assert.throws(() => huffmanDecode(hex('1fff')), /padding longer/); // 'a'… then 11 ones
  });
});

/** A test-only encoder: the bits of each symbol's code, padded with ones. */
function huffmanEncode(input: Uint8Array): Buffer {
  let bits = '';
  for (const b of input) bits += (HUFFMAN_CODES[b] as number).toString(2).padStart(HUFFMAN_LENGTHS[b] as number, '0');
  while (bits.length % 8) bits += '1';
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  return out;
}
