/**
 * Every handshake form, valid and malformed, fed whole, byte by byte and at random split
 * points: each must give the same steps. Reply bytes are checked in replies.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocksServerHandshake } from './handshake.ts';
import type { SocksServerOptions, SocksStep } from './types.ts';
import { mulberry32 } from '../../../test/helpers/prng.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** Feeds chunks until a terminal step; returns every step and the chunks never fed. */
function drive(
  options: SocksServerOptions | undefined,
  chunks: Buffer[],
): { hs: SocksServerHandshake; steps: SocksStep[]; unfed: Buffer } {
  const hs = new SocksServerHandshake(options);
  const steps: SocksStep[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const got = hs.push(chunks[i] as Buffer);
    steps.push(...got.filter((s) => s.type !== 'need-more'));
    const last = got[got.length - 1];
    assert.ok(last && ['need-more', 'connect', 'fail'].includes(last.type), 'push must end in need-more/connect/fail');
    assert.ok(
      got.slice(0, -1).every((s) => s.type === 'send'),
      'only send steps may precede the last step',
    );
    if (last.type !== 'need-more') return { hs, steps, unfed: Buffer.concat(chunks.slice(i + 1)) };
  }
  steps.push({ type: 'need-more' });
  return { hs, steps, unfed: Buffer.alloc(0) };
}

/** Steps as plain data, with unfed bytes appended to `rest`, so any two splits compare equal. */
function transcript(steps: SocksStep[], unfed: Buffer): unknown[] {
  return steps.map((s) => {
    if (s.type === 'send') return { send: s.bytes.toString('hex') };
    if (s.type === 'fail') return { fail: s.reason, bytes: s.bytes?.toString('hex') };
    if (s.type === 'connect') return { ...s, rest: Buffer.concat([s.rest, unfed]).toString('hex') };
    return s;
  });
}

function byteByByte(buf: Buffer): Buffer[] {
  return [...buf].map((b) => Buffer.from([b]));
}

function randomSplits(buf: Buffer, rng: () => number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const size = 1 + Math.floor(rng() * Math.min(16, buf.length - at));
    out.push(buf.subarray(at, at + size));
    at += size;
  }
  return out;
}

interface Case {
  name: string;
  input: Buffer;
  options?: SocksServerOptions;
  expect: unknown[];
}

const GREETING_NOAUTH = '050100';
const GREETING_BOTH = '05020002';
const AUTH_ALICE = `0105${ascii('alice')}06${ascii('secret')}`;
const connect = (
  version: 4 | 5,
  host: string,
  port: number,
  addressType: string,
  rest = '',
  user?: string,
): unknown => ({
  type: 'connect',
  version,
  target: { host, port, addressType },
  ...(user === undefined ? {} : { user }),
  rest,
});
const NO_METHOD = { fail: 'x', bytes: '05ff' };

const cases: Case[] = [
  {
    name: 'SOCKS4 IPv4 with userid',
    input: hex(`04 01 0050 7f000001 ${ascii('bob')} 00`),
    expect: [connect(4, '127.0.0.1', 80, 'ipv4', '', 'bob')],
  },
  {
    name: 'SOCKS4 IPv4, empty userid, tunnel bytes after',
    input: hex(`04 01 1f90 0a000001 00 ${ascii('GET')}`),
    expect: [connect(4, '10.0.0.1', 8080, 'ipv4', ascii('GET'))],
  },
  {
    name: 'SOCKS4a domain',
    input: hex(`04 01 01bb 00000001 ${ascii('bob')} 00 ${ascii('example.com')} 00`),
    expect: [connect(4, 'example.com', 443, 'domain', '', 'bob')],
  },
  {
    name: 'SOCKS4a domain, empty userid',
    input: hex(`04 01 01bb 000000ff 00 ${ascii('a.test')} 00 16`),
    expect: [connect(4, 'a.test', 443, 'domain', '16')],
  },
  {
    name: 'SOCKS4 userid of 255 bytes',
    input: hex(`04 01 0050 7f000001 ${'61'.repeat(255)} 00`),
    expect: [connect(4, '127.0.0.1', 80, 'ipv4', '', 'a'.repeat(255))],
  },
  {
    name: 'SOCKS5 no auth, IPv4',
    input: hex(`${GREETING_NOAUTH} 05 01 00 01 7f000001 0050`),
    expect: [{ send: '0500' }, connect(5, '127.0.0.1', 80, 'ipv4')],
  },
  {
    name: 'SOCKS5 no auth, IPv6 ::1',
    input: hex(`${GREETING_NOAUTH} 05 01 00 04 ${'00'.repeat(15)}01 01bb`),
    expect: [{ send: '0500' }, connect(5, '::1', 443, 'ipv6')],
  },
  {
    name: 'SOCKS5 no auth, IPv6 2001:db8::8:800:200c:417a',
    input: hex(`050100 05010004 20010db8000000000008080020 0c417a 0016`),
    expect: [{ send: '0500' }, connect(5, '2001:db8::8:800:200c:417a', 22, 'ipv6')],
  },
  {
    name: 'SOCKS5 no auth, domain, pipelined data',
    input: hex(`${GREETING_NOAUTH} 05 01 00 03 0b ${ascii('example.com')} 01bb 160301`),
    expect: [{ send: '0500' }, connect(5, 'example.com', 443, 'domain', '160301')],
  },
  {
    name: 'SOCKS5 user/pass (any accepted)',
    input: hex(`${GREETING_BOTH} ${AUTH_ALICE} 05 01 00 03 06 ${ascii('a.test')} 0050`),
    expect: [{ send: '0502' }, { send: '0100' }, connect(5, 'a.test', 80, 'domain', '', 'alice')],
  },
  {
    name: 'SOCKS5 user/pass, good credentials',
    options: { authenticate: (u, p) => u === 'alice' && p === 'secret' },
    input: hex(`050102 ${AUTH_ALICE} 05 01 00 01 c0a80001 0050`),
    expect: [{ send: '0502' }, { send: '0100' }, connect(5, '192.168.0.1', 80, 'ipv4', '', 'alice')],
  },
  {
    name: 'SOCKS5 user/pass, empty password',
    input: hex(`050102 0103${ascii('bob')}00 05 01 00 01 7f000001 0050`),
    expect: [{ send: '0502' }, { send: '0100' }, connect(5, '127.0.0.1', 80, 'ipv4', '', 'bob')],
  },
  {
    name: 'SOCKS5 rejected credentials',
    options: { authenticate: () => false },
    input: hex(`050102 ${AUTH_ALICE}`),
    expect: [{ send: '0502' }, { fail: 'x', bytes: '0101' }],
  },
  {
    name: 'SOCKS5 throwing checker counts as a rejection',
    options: {
      authenticate: () => {
        throw new Error('boom');
      },
    },
    input: hex(`050102 ${AUTH_ALICE}`),
    expect: [{ send: '0502' }, { fail: 'x', bytes: '0101' }],
  },
  {
    name: 'SOCKS5 no auth refused when a checker is given',
    options: { authenticate: () => true },
    input: hex('050100'),
    expect: [NO_METHOD],
  },
  {
    name: 'SOCKS5 no auth allowed with requireAuth: false',
    options: { authenticate: () => false, requireAuth: false },
    input: hex('050100 05010001 7f000001 0050'),
    expect: [{ send: '0500' }, connect(5, '127.0.0.1', 80, 'ipv4')],
  },
  {
    name: 'SOCKS5 requireAuth refuses no-auth clients',
    options: { requireAuth: true },
    input: hex('050100'),
    expect: [NO_METHOD],
  },
  {
    name: 'SOCKS4 refused when authentication is required',
    options: { requireAuth: true },
    input: hex('0401'),
    expect: [{ fail: 'x', bytes: '005b000000000000' }],
  },
  { name: 'SOCKS5 zero methods', input: hex('0500'), expect: [NO_METHOD] },
  { name: 'SOCKS5 only GSSAPI offered', input: hex('050101'), expect: [NO_METHOD] },
  {
    name: 'SOCKS5 BIND',
    input: hex('050100 05020001 7f000001 0050'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05070001000000000000' }],
  },
  {
    name: 'SOCKS5 UDP ASSOCIATE',
    input: hex('050100 0503'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05070001000000000000' }],
  },
  {
    name: 'SOCKS5 unknown command',
    input: hex('050100 0509'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05070001000000000000' }],
  },
  {
    name: 'SOCKS5 unknown address type',
    input: hex('050100 05010002'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05080001000000000000' }],
  },
  {
    name: 'SOCKS5 request with version 4',
    input: hex('050100 04'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05010001000000000000' }],
  },
  {
    name: 'SOCKS5 reserved byte set',
    input: hex('050100 050101'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05010001000000000000' }],
  },
  {
    name: 'SOCKS5 empty domain',
    input: hex('050100 0501000300'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05010001000000000000' }],
  },
  {
    name: 'SOCKS5 domain with a slash',
    input: hex(`050100 0501000307${ascii('a.b/c@d')}0050`),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05010001000000000000' }],
  },
  {
    name: 'SOCKS5 port 0',
    input: hex('050100 05010001 7f000001 0000'),
    expect: [{ send: '0500' }, { fail: 'x', bytes: '05010001000000000000' }],
  },
  {
    name: 'SOCKS5 auth sub-negotiation version 5',
    input: hex('050102 05'),
    expect: [{ send: '0502' }, { fail: 'x', bytes: '0101' }],
  },
  { name: 'SOCKS4 BIND', input: hex('0402 0050 7f000001 00'), expect: [{ fail: 'x', bytes: '005b000000000000' }] },
  { name: 'SOCKS4 port 0', input: hex('0401 0000'), expect: [{ fail: 'x', bytes: '005b000000000000' }] },
  {
    name: 'SOCKS4 userid over 255 bytes',
    input: hex(`04010050 7f000001 ${'61'.repeat(256)}`),
    expect: [{ fail: 'x', bytes: '005b000000000000' }],
  },
  {
    name: 'SOCKS4a domain over 255 bytes',
    input: hex(`04010050 00000001 00 ${'61'.repeat(256)}`),
    expect: [{ fail: 'x', bytes: '005b000000000000' }],
  },
  {
    name: 'SOCKS4a empty domain',
    input: hex('04010050 00000001 00 00'),
    expect: [{ fail: 'x', bytes: '005b000000000000' }],
  },
  {
    name: 'SOCKS4a invalid domain',
    input: hex(`04010050 00000001 00 ${ascii('a b')}00`),
    expect: [{ fail: 'x', bytes: '005b000000000000' }],
  },
  { name: 'not SOCKS at all', input: Buffer.from('GET / HTTP/1.1\r\n'), expect: [{ fail: 'x', bytes: undefined }] },
  { name: 'SOCKS4 request cut short', input: hex('04010050 7f0000'), expect: [{ type: 'need-more' }] },
  { name: 'SOCKS5 greeting cut short', input: hex('050200'), expect: [{ type: 'need-more' }] },
];

/** Fail reasons are prose: compare that one exists, not its wording. */
function normalise(t: unknown[]): unknown[] {
  return t.map((s) => (typeof s === 'object' && s !== null && 'fail' in s ? { ...s, fail: 'x' } : s));
}

for (const c of cases) {
  void test(`${c.name}: whole, byte by byte and at random splits`, () => {
    const whole = drive(c.options, [c.input]);
    const got = transcript(whole.steps, whole.unfed);
    assert.deepEqual(normalise(got), c.expect);
    for (const step of got) {
      if (typeof step === 'object' && step !== null && 'fail' in step) assert.ok(String(step.fail).length > 5);
    }
    const bytewise = drive(c.options, byteByByte(c.input));
    assert.deepEqual(transcript(bytewise.steps, bytewise.unfed), got, 'byte by byte');
    const seed = (Date.now() ^ c.input.length) >>> 0;
    const rng = mulberry32(seed);
    for (let i = 0; i < 50; i++) {
      const split = drive(c.options, randomSplits(c.input, rng));
      assert.deepEqual(transcript(split.steps, split.unfed), got, `random split (seed ${seed}, round ${i})`);
    }
  });
}
