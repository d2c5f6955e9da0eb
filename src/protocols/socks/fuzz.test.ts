/**
 * Fuzz of the SOCKS handshake: random byte strings and random mutations of valid handshakes,
 * fed at random chunk splits. The PRNG is seeded; a failure names its seed, and
 * TAPWIRE_FUZZ_SEED=<seed> replays exactly that run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocksServerHandshake } from './handshake.ts';
import { isAcceptableDomain } from './address.ts';
import type { SocksServerOptions, SocksStep } from './types.ts';
import { mulberry32 } from '../../../test/helpers/prng.ts';

const SEED = process.env.TAPWIRE_FUZZ_SEED ? Number(process.env.TAPWIRE_FUZZ_SEED) : Date.now() >>> 0;
const ROUNDS = 3000;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s).toString('hex');

/** Valid handshakes of every form, the seeds for mutation. */
const corpus: Buffer[] = [
  hex(`04 01 0050 7f000001 ${ascii('bob')} 00`),
  hex(`04 01 01bb 00000001 ${ascii('bob')} 00 ${ascii('example.com')} 00 ${ascii('GET / HTTP/1.1')}`),
  hex('050100 05010001 7f000001 0050'),
  hex(`050100 05010004 ${'00'.repeat(15)}01 01bb 1603010000`),
  hex(`050100 05010003 0b ${ascii('example.com')} 01bb`),
  hex(`05020002 0105${ascii('alice')}06${ascii('secret')} 05010003 06${ascii('a.test')} 0050`),
  hex(`050102 0100 00 05010001 0a000001 1f90`),
];

const optionSets: SocksServerOptions[] = [
  {},
  { authenticate: (u, p) => u === 'alice' && p === 'secret' },
  { requireAuth: true },
  { authenticate: () => true, requireAuth: false },
];

function randomBytes(rng: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rng() * 256);
  return out;
}

/** Random input whose first byte is usually a SOCKS version, so the parsers get exercised. */
function randomInput(rng: () => number): Buffer {
  const length = rng() < 0.5 ? Math.floor(rng() * 40) : Math.floor(rng() * 600);
  const buf = randomBytes(rng, length);
  const r = rng();
  if (length > 0) buf[0] = r < 0.45 ? 5 : r < 0.8 ? 4 : (buf[0] ?? 0);
  // Small counts and lengths reach deeper states than uniformly random ones.
  if (length > 1 && rng() < 0.5) buf[1] = Math.floor(rng() * 4);
  return buf;
}

const boundary = [0, 1, 2, 3, 4, 5, 0x7f, 0x80, 0xfe, 0xff];

function mutate(rng: () => number, input: Buffer): Buffer {
  let buf = Buffer.from(input);
  const ops = 1 + Math.floor(rng() * 3);
  for (let i = 0; i < ops; i++) {
    const at = Math.floor(rng() * (buf.length + 1));
    const op = Math.floor(rng() * 6);
    if (op === 0 && buf.length > 0) buf[Math.min(at, buf.length - 1)] = Math.floor(rng() * 256);
    else if (op === 1 && buf.length > 0)
      buf[Math.min(at, buf.length - 1)] = boundary[Math.floor(rng() * boundary.length)] ?? 0;
    else if (op === 2)
      buf = Buffer.concat([buf.subarray(0, at), randomBytes(rng, 1 + Math.floor(rng() * 8)), buf.subarray(at)]);
    else if (op === 3) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + Math.floor(rng() * 8))]);
    else if (op === 4) buf = buf.subarray(0, at);
    else buf = Buffer.concat([buf.subarray(0, at), buf.subarray(Math.max(0, at - 8), at), buf.subarray(at)]);
  }
  return buf;
}

function randomChunks(rng: () => number, buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const size = rng() < 0.3 ? 1 : 1 + Math.floor(rng() * (buf.length - at));
    out.push(buf.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** Runs one input and checks every invariant; returns a split-independent transcript. */
function run(options: SocksServerOptions, chunks: Buffer[]): string {
  const hs = new SocksServerHandshake(options);
  const seen: string[] = [];
  let fed = Buffer.alloc(0);
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    fed = Buffer.concat([fed, chunk]);
    const steps: SocksStep[] = hs.push(chunk);
    const last = steps[steps.length - 1];
    assert.ok(last, 'push returned no step');
    assert.ok(
      steps.slice(0, -1).every((s) => s.type === 'send'),
      'a non-send step before the last',
    );
    for (const s of steps) if (s.type === 'send') seen.push(`send ${s.bytes.toString('hex')}`);
    if (last.type === 'need-more') continue;
    const unfed = Buffer.concat(chunks.slice(i + 1));
    if (last.type === 'fail') {
      assert.ok(last.reason.length > 0);
      if (last.bytes)
        assert.ok(last.bytes.length >= 2 && [0x00, 0x01, 0x05].includes(last.bytes[0] ?? -1), 'reply bytes');
      seen.push(`fail ${last.bytes?.toString('hex')} ${last.reason}`);
      return seen.join('\n');
    }
    assert.equal(last.type, 'connect');
    const { target, rest } = last;
    assert.ok(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535, 'port');
    if (target.addressType === 'ipv4') assert.match(target.host, /^\d{1,3}(\.\d{1,3}){3}$/);
    else if (target.addressType === 'ipv6') assert.ok(new URL(`http://[${target.host}]/`).hostname.length > 2);
    else assert.ok(isAcceptableDomain(target.host), 'domain');
    assert.deepEqual(rest, fed.subarray(fed.length - rest.length), 'rest is the tail of what was fed');
    // The replies never throw either, whatever the version.
    assert.ok(hs.connectedReply({ host: target.host, port: target.port }).length >= 8);
    assert.ok(hs.failedReply('timeout').length >= 8);
    seen.push(
      `connect ${last.version} ${JSON.stringify(target)} ${last.user} ${Buffer.concat([rest, unfed]).toString('hex')}`,
    );
    return seen.join('\n');
  }
  return [...seen, 'need-more'].join('\n');
}

function fuzz(name: string, makeInput: (rng: () => number) => Buffer): void {
  void test(name, () => {
    const rng = mulberry32(SEED);
    for (let round = 0; round < ROUNDS; round++) {
      const input = makeInput(rng);
      const options = optionSets[Math.floor(rng() * optionSets.length)] ?? {};
      const chunks = randomChunks(rng, input);
      try {
        const whole = run(options, [input]);
        const split = run(options, chunks);
        assert.equal(split, whole, 'the verdict depends on how the input was split');
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        assert.fail(
          `seed ${SEED} (rerun with TAPWIRE_FUZZ_SEED=${SEED}), round ${round}, input ${input.toString('hex')}, ` +
            `chunks ${chunks.map((c) => c.length).join('+')}: ${detail}`,
        );
      }
    }
  });
}

fuzz(`random byte strings never throw and always end in need-more/connect/fail (seed ${SEED})`, randomInput);
fuzz(`mutated valid handshakes at random splits (seed ${SEED})`, (rng) =>
  mutate(rng, corpus[Math.floor(rng() * corpus.length)] ?? Buffer.alloc(0)),
);
