import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeSocks5Address,
  formatIPv4,
  formatIPv6,
  ipv4ToBytes,
  ipv6ToBytes,
  isAcceptableDomain,
  socks4BoundIp,
} from './address.ts';

const v6 = (text: string): Buffer => {
  const bytes = ipv6ToBytes(text);
  assert.ok(bytes, `${text} parses`);
  return bytes;
};

void test('formatIPv6 follows RFC 5952 (examples from its sections 4 and 5)', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group stays
    ['2001:DB8::AAAA', '2001:db8::aaaa'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:7f00:1', '::ffff:127.0.0.1'],
    ['::127.0.0.1', '::7f00:1'], // IPv4-compatible (deprecated) is not mixed notation
    ['fe80::1%eth0', 'fe80::1'],
  ];
  for (const [input, canonical] of cases) assert.equal(formatIPv6(v6(input)), canonical, input);
});

void test('formatIPv6 agrees with the WHATWG URL serializer and round-trips through ipv6ToBytes', () => {
  let state = 12345;
  const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.alloc(16);
    // Mostly zero groups so that runs, ties and edges all come up.
    for (let g = 0; g < 8; g++) if (next() % 3 === 0) bytes.writeUInt16BE(next() % 0x10000, 2 * g);
    const text = formatIPv6(bytes);
    assert.deepEqual(v6(text), bytes, text);
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes.readUInt16BE(10) === 0xffff;
    if (!mapped) assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
  }
});

void test('ipv4 and ipv6 parsers refuse what is not an address', () => {
  assert.equal(ipv4ToBytes('1.2.3'), undefined);
  assert.equal(ipv4ToBytes('example.com'), undefined);
  assert.deepEqual(ipv4ToBytes('10.0.0.255'), Buffer.from([10, 0, 0, 255]));
  assert.equal(ipv6ToBytes('1:2:3'), undefined);
  assert.equal(ipv6ToBytes('127.0.0.1'), undefined);
  assert.equal(formatIPv4(Buffer.from([1, 2, 3, 4, 5]), 1), '2.3.4.5');
});

void test('isAcceptableDomain keeps hostname characters only', () => {
  for (const ok of [
    'example.com',
    'a',
    'xn--bcher-kva.example',
    '_srv.a-b.test',
    '10.0.0.1',
    '::1',
    '[::1]',
    'fe80::1%eth0',
  ]) {
    assert.ok(isAcceptableDomain(ok), ok);
  }
  for (const bad of ['', 'a b', 'a/b', 'user@host', 'a\0b', 'a\r\nb', 'é.test', 'a?b', 'a#b', 'x'.repeat(256)]) {
    assert.ok(!isAcceptableDomain(bad), JSON.stringify(bad));
  }
});

void test('encodeSocks5Address and socks4BoundIp', () => {
  assert.deepEqual(encodeSocks5Address('1.2.3.4'), Buffer.from([1, 1, 2, 3, 4]));
  assert.deepEqual(encodeSocks5Address('::ffff:1.2.3.4'), Buffer.from([1, 1, 2, 3, 4]));
  assert.deepEqual(encodeSocks5Address('2001:db8::1'), Buffer.concat([Buffer.from([4]), v6('2001:db8::1')]));
  assert.deepEqual(encodeSocks5Address('a.test'), Buffer.from([3, 6, ...Buffer.from('a.test')]));
  assert.deepEqual(encodeSocks5Address('no such/host'), Buffer.from([1, 0, 0, 0, 0]));
  assert.deepEqual(socks4BoundIp(undefined), Buffer.alloc(4));
  assert.deepEqual(socks4BoundIp('a.test'), Buffer.alloc(4));
  assert.deepEqual(socks4BoundIp('9.8.7.6'), Buffer.from([9, 8, 7, 6]));
});
