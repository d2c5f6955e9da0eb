/**
 * The reply bytes of the SOCKS handshake, checked byte for byte against RFC 1928 §6 and the
 * SOCKS4 protocol document, plus the end-of-handshake rules and first-byte detection.
 * Handshake inputs and their step sequences are in handshake.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocksServerHandshake } from './handshake.ts';
import { detectProxyProtocol } from './detect.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** A handshake that has just returned its connect step. */
function connected(request: string): SocksServerHandshake {
  const hs = new SocksServerHandshake();
  const steps = hs.push(hex(request));
  assert.equal(steps[steps.length - 1]?.type, 'connect');
  return hs;
}

void test('SOCKS4 replies: granted, with a bound IPv4 address, and rejected', () => {
  const hs = connected('04010050 7f000001 00');
  assert.equal(hs.version, 4);
  assert.deepEqual(hs.connectedReply(), hex('005a 0000 00000000'));
  assert.deepEqual(hs.connectedReply({ host: '10.0.0.1', port: 1234 }), hex('005a 04d2 0a000001'));
  assert.deepEqual(hs.connectedReply({ host: '::ffff:10.0.0.2', port: 1 }), hex('005a 0001 0a000002'));
  assert.deepEqual(hs.connectedReply({ host: '::1', port: 1 }), hex('005a 0001 00000000'));
  for (const why of ['refused', 'timeout', 'general'] as const)
    assert.deepEqual(hs.failedReply(why), hex('005b 0000 00000000'));
});

void test('SOCKS5 replies: bound IPv4, IPv6, mapped IPv6 and domain; one code per failure', () => {
  const hs = connected('050100 05010001 7f000001 0050');
  assert.equal(hs.version, 5);
  assert.deepEqual(hs.connectedReply(), hex('05000001 00000000 0000'));
  assert.deepEqual(hs.connectedReply({ host: '127.0.0.1', port: 40000 }), hex('05000001 7f000001 9c40'));
  assert.deepEqual(hs.connectedReply({ host: '::1', port: 80 }), hex(`05000004 ${'00'.repeat(15)}01 0050`));
  assert.deepEqual(
    hs.connectedReply({ host: 'fe80::1%eth0', port: 80 }),
    hex(`05000004 fe80${'00'.repeat(13)}01 0050`),
  );
  assert.deepEqual(hs.connectedReply({ host: '::ffff:127.0.0.1', port: 80 }), hex('05000001 7f000001 0050'));
  assert.deepEqual(hs.connectedReply({ host: 'proxy.test', port: 80 }), hex(`0500000 30a ${ascii('proxy.test')} 0050`));
  assert.deepEqual(hs.connectedReply({ host: 'bad host', port: 99999 }), hex('05000001 00000000 0000'));
  const codes = {
    general: 1,
    'not-allowed': 2,
    unreachable: 3,
    'host-unreachable': 4,
    refused: 5,
    timeout: 6,
  } as const;
  for (const [why, code] of Object.entries(codes)) {
    assert.deepEqual(hs.failedReply(why as keyof typeof codes), hex(`05 0${code} 0001 00000000 0000`), why);
  }
});

void test('after connect or fail, pushing more bytes fails instead of parsing them', () => {
  const hs = connected('050100 05010001 7f000001 0050');
  const steps = hs.push(hex('0500'));
  assert.equal(steps.length, 1);
  assert.equal(steps[0]?.type, 'fail');
  assert.equal(hs.push(Buffer.alloc(0))[0]?.type, 'fail');
});

void test('an empty chunk before anything else asks for more', () => {
  assert.deepEqual(new SocksServerHandshake().push(Buffer.alloc(0)), [{ type: 'need-more' }]);
});

void test('detectProxyProtocol: 0x04 SOCKS4, 0x05 SOCKS5, anything else HTTP', () => {
  assert.equal(detectProxyProtocol(0x04), 'socks4');
  assert.equal(detectProxyProtocol(0x05), 'socks5');
  for (const b of [0x00, 0x16, 0x43, 0x47, 0x50, 0xff]) assert.equal(detectProxyProtocol(b), 'http');
});
