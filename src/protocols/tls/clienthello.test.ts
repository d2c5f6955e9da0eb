/**
 * ClientHellos built field by field, so that each malformation and limit can be hit exactly.
 * Hellos from real clients (Node, OpenSSL) are in clienthello.real.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello, tlsVersionName } from './clienthello.ts';

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length]), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const ext = (type: number, data: Buffer): Buffer => Buffer.concat([u16(type), vec16(data)]);

const sni = (...names: [number, string][]): Buffer =>
  ext(
    0,
    vec16(
      Buffer.concat(
        names.map(([type, name]) => Buffer.concat([Buffer.from([type]), vec16(Buffer.from(name, 'latin1'))])),
      ),
    ),
  );
const alpn = (...protocols: string[]): Buffer =>
  ext(16, vec16(Buffer.concat(protocols.map((p) => vec8(Buffer.from(p, 'latin1'))))));
const versions = (...vs: number[]): Buffer => ext(43, vec8(Buffer.concat(vs.map(u16))));
const padding = (n: number): Buffer => ext(21, Buffer.alloc(n));

interface Body {
  legacyVersion?: number;
  sessionId?: Buffer;
  suites?: Buffer;
  compression?: Buffer;
  /** Encoded extensions; undefined leaves the block out (a pre-TLS 1.2 hello). */
  extensions?: Buffer[];
  trailing?: Buffer;
}

function body(b: Body = {}): Buffer {
  return Buffer.concat([
    u16(b.legacyVersion ?? 0x0303),
    Buffer.alloc(32, 7),
    vec8(b.sessionId ?? Buffer.alloc(32, 1)),
    b.suites ?? vec16(Buffer.concat([u16(0x1301), u16(0xc02f)])),
    b.compression ?? vec8(Buffer.from([0])),
    b.extensions ? vec16(Buffer.concat(b.extensions)) : Buffer.alloc(0),
    b.trailing ?? Buffer.alloc(0),
  ]);
}

const handshake = (payload: Buffer, type = 1): Buffer =>
  Buffer.concat([Buffer.from([type]), u24(payload.length), payload]);

/** Wraps handshake bytes in records of at most `size` bytes each. */
function records(hs: Buffer, size = 16384, recordType = 0x16): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < hs.length; at += size) {
    const part = hs.subarray(at, at + size);
    out.push(Buffer.concat([Buffer.from([recordType, 0x03, 0x01]), u16(part.length), part]));
  }
  return Buffer.concat(out);
}

const modern = (): Buffer =>
  records(
    handshake(
      body({
        extensions: [
          ext(0x2a2a, Buffer.alloc(0)),
          sni([0, 'example.test']),
          alpn('h2', 'http/1.1'),
          versions(0x3a3a, 0x0304, 0x0303),
        ],
      }),
    ),
  );

void test('SNI, ALPN and supported_versions without GREASE', () => {
  const hello = modern();
  assert.deepEqual(parseClientHello(hello), {
    status: 'ok',
    sni: 'example.test',
    alpn: ['h2', 'http/1.1'],
    legacyVersion: 'TLSv1.2',
    supportedVersions: ['TLSv1.3', 'TLSv1.2'],
    length: hello.length,
  });
});

void test('a hello without extensions (TLS 1.0 style) and version names', () => {
  const hello = records(handshake(body({ legacyVersion: 0x0301 })));
  assert.deepEqual(parseClientHello(hello), { status: 'ok', legacyVersion: 'TLSv1', length: hello.length });
  assert.deepEqual([0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f1c].map(tlsVersionName), [
    'SSLv3',
    'TLSv1',
    'TLSv1.1',
    'TLSv1.2',
    'TLSv1.3',
    '0x7f1c',
  ]);
});

void test('the first host_name is taken; other name types are skipped', () => {
  const hello = records(handshake(body({ extensions: [sni([7, 'ignored'], [0, 'first.test'], [0, 'second.test'])] })));
  const got = parseClientHello(hello);
  assert.equal(got.status === 'ok' && got.sni, 'first.test');
});

void test('length stops at the record that ends the hello; bytes after it are the caller’s', () => {
  const hello = modern();
  const more = Buffer.concat([hello, Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03])]);
  const got = parseClientHello(more);
  assert.equal(got.status, 'ok');
  assert.equal(got.status === 'ok' && got.length, hello.length);
});

void test('every proper prefix is need-more; fragmented into records of any size it parses the same', () => {
  const hs = handshake(body({ extensions: [sni([0, 'frag.test']), alpn('h2'), versions(0x0304)] }));
  const reference = parseClientHello(records(hs));
  for (const size of [1, 2, 3, 4, 5, 37, hs.length - 1]) {
    const hello = records(hs, size);
    for (let n = 0; n < hello.length; n++)
      assert.deepEqual(parseClientHello(hello.subarray(0, n)), { status: 'need-more' }, `size ${size}, ${n} bytes`);
    assert.deepEqual(parseClientHello(hello), { ...reference, length: hello.length }, `size ${size}`);
  }
});

void test('not-tls: the first bytes are not a TLS handshake record', () => {
  for (const bytes of [
    [0x47, 0x45, 0x54],
    [0x16, 0x02],
    [0x16, 0x03, 0x05],
    [0x17, 0x03, 0x03],
    [0x15, 0x03, 0x01],
    [0x80, 0x2e, 0x01],
  ]) {
    assert.deepEqual(parseClientHello(Buffer.from(bytes)), { status: 'not-tls' }, Buffer.from(bytes).toString('hex'));
  }
  assert.deepEqual(parseClientHello(Buffer.alloc(0)), { status: 'need-more' });
  assert.deepEqual(parseClientHello(Buffer.from([0x16])), { status: 'need-more' });
  assert.deepEqual(parseClientHello(Buffer.from([0x16, 0x03])), { status: 'need-more' });
});

const invalids: [string, Buffer, RegExp][] = [
  [
    'an alert record between fragments',
    Buffer.concat([records(handshake(body()).subarray(0, 10)), records(Buffer.from([2, 40]), 16384, 0x15)]),
    /record of type 21/,
  ],
  [
    'a second record with a bad version',
    Buffer.concat([records(handshake(body()).subarray(0, 10)), Buffer.from([0x16, 0x04, 0x01, 0, 1, 0])]),
    /record version/,
  ],
  ['an empty record', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), /empty handshake record/],
  ['a record over 2^14 bytes', Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01]), /exceeds 16384/],
  ['a ServerHello', records(handshake(body(), 2)), /type 2/],
  [
    'a handshake length beyond 64 KiB',
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]),
    /exceeds 65536/,
  ],
  ['a session id over 32 bytes', records(handshake(body({ sessionId: Buffer.alloc(33) }))), /session id/],
  ['an odd cipher_suites length', records(handshake(body({ suites: vec16(Buffer.alloc(3)) }))), /cipher_suites/],
  ['no compression methods', records(handshake(body({ compression: vec8(Buffer.alloc(0)) }))), /compression/],
  [
    'bytes after the extensions',
    records(handshake(body({ extensions: [], trailing: Buffer.from([0]) }))),
    /after the extensions/,
  ],
  ['a duplicate extension', records(handshake(body({ extensions: [alpn('h2'), alpn('h2')] }))), /appears twice/],
  [
    'an empty server_name list',
    records(handshake(body({ extensions: [ext(0, vec16(Buffer.alloc(0)))] }))),
    /server_name/,
  ],
  ['a host_name with a space', records(handshake(body({ extensions: [sni([0, 'a b.test'])] }))), /ASCII hostname/],
  [
    'a host_name that is not ASCII',
    records(handshake(body({ extensions: [sni([0, 'caf\u00e9.test'])] }))),
    /ASCII hostname/,
  ],
  ['an empty ALPN name', records(handshake(body({ extensions: [alpn('h2', '')] }))), /empty ALPN/],
  [
    'an odd supported_versions',
    records(handshake(body({ extensions: [ext(43, vec8(Buffer.from([3, 4, 3])))] }))),
    /supported_versions/,
  ],
  [
    'an extension running past the block',
    records(handshake(Buffer.concat([body({ extensions: [] }).subarray(0, -2), u16(4), u16(0), u16(9)]))),
    /past its end/,
  ],
  ['a body shorter than its fields', records(handshake(Buffer.alloc(20))), /past its end/],
];

for (const [name, input, reason] of invalids) {
  void test(`invalid: ${name}`, () => {
    const got = parseClientHello(input);
    assert.equal(got.status, 'invalid', JSON.stringify(got));
    assert.match(got.status === 'invalid' ? got.reason : '', reason);
  });
}

void test('64 KiB cap: a hello up to the cap parses, one byte of records more is invalid', () => {
  // 4 full records of 16384 bytes = 65556 record bytes: already over the cap.
  const base = body({ extensions: [sni([0, 'big.test'])] }).length + 4 + 4; // + handshake header + padding ext header
  const fitting = (payload: number): Buffer =>
    records(handshake(body({ extensions: [sni([0, 'big.test']), padding(payload)] })));
  // Record bytes = payload + base + 5 per record; find the largest payload that fits.
  let payload = MAX_CLIENT_HELLO_BYTES - base - 5 * 4;
  let hello = fitting(payload);
  assert.equal(hello.length, MAX_CLIENT_HELLO_BYTES);
  const ok = parseClientHello(hello);
  assert.equal(ok.status === 'ok' && ok.sni, 'big.test');
  payload += 1;
  hello = fitting(payload);
  const over = parseClientHello(hello);
  assert.equal(over.status, 'invalid');
  // The cap is known from the headers alone: no need to buffer the whole thing to refuse it.
  assert.equal(parseClientHello(hello.subarray(0, 16384 * 3 + 20)).status, 'invalid');
});

void test('tiny records: the cap counts record headers too', () => {
  const hs = handshake(body({ extensions: [padding(12000)] }));
  assert.equal(parseClientHello(records(hs, 4000)).status, 'ok');
  assert.equal(parseClientHello(records(hs, 1)).status, 'invalid'); // 5× the bytes on the wire
});
