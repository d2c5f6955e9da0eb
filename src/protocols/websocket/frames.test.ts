/**
 * The frame parser against scripted frames: every input is fed whole, byte by byte and at
 * random split points, and must give the same frames and payloads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../../test/helpers/prng.ts';
import { encodeFrame as frame, FrameParser, type FrameHeader, type FrameSpec } from './frames.ts';

interface Seen {
  header: FrameHeader;
  payload: Buffer;
}

function parse(
  input: Buffer,
  fromClient: boolean,
  split: (n: number) => number[],
  opts: { allowRsv1?: boolean; skip?: (h: FrameHeader) => boolean } = {},
): { frames: Seen[]; error: string | undefined } {
  const frames: Seen[] = [];
  let parts: Buffer[] = [];
  let current: FrameHeader | undefined;
  const parser = new FrameParser(
    { fromClient, allowRsv1: opts.allowRsv1 ?? false },
    {
      onFrame: (h) => {
        current = h;
        parts = [];
        return !(opts.skip?.(h) ?? false);
      },
      onPayload: (piece) => parts.push(Buffer.from(piece)),
      onFrameEnd: () => frames.push({ header: current as FrameHeader, payload: Buffer.concat(parts) }),
    },
  );
  let at = 0;
  for (const size of split(input.length)) {
    parser.execute(input.subarray(at, at + size));
    at += size;
  }
  return { frames, error: parser.error };
}

const whole = (n: number) => [n];
const bytewise = (n: number) => Array.from({ length: n }, () => 1);
function randomSplit(seed: number): (n: number) => number[] {
  const rand = mulberry32(seed);
  return (n) => {
    const out: number[] = [];
    let left = n;
    while (left > 0) {
      const size = Math.min(left, 1 + Math.floor(rand() * 40));
      out.push(size);
      left -= size;
    }
    return out;
  };
}
const splits = [whole, bytewise, randomSplit(1), randomSplit(2), randomSplit(3)];

describe('websocket frames', () => {
  const big = Buffer.alloc(70_000, 0);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const script = [
    { opcode: 1, payload: 'hello' },
    { opcode: 2, payload: Buffer.from([0, 1, 2, 255]) },
    { opcode: 1, payload: 'x'.repeat(300) },
    { opcode: 2, payload: big },
    { opcode: 1, payload: 'short but 64-bit', lengthBits: 64 as const },
    { opcode: 9, payload: '' },
    { opcode: 1, payload: 'frag-', fin: false },
    { opcode: 0, payload: 'ment', fin: true },
  ];

  for (const fromClient of [true, false]) {
    it(`${fromClient ? 'client (masked)' : 'server'} frames: 7, 16 and 64-bit lengths, any split`, () => {
      const input = Buffer.concat(script.map((s) => frame({ ...s, mask: fromClient })));
      for (const split of splits) {
        const { frames, error } = parse(input, fromClient, split);
        assert.equal(error, undefined);
        assert.equal(frames.length, script.length);
        frames.forEach((f, i) => {
          const s = script[i] as (typeof script)[number];
          const want = typeof s.payload === 'string' ? Buffer.from(s.payload) : s.payload;
          assert.equal(f.header.opcode, s.opcode);
          assert.equal(f.header.fin, s.fin ?? true);
          assert.equal(f.header.length, want.length);
          assert.ok(f.payload.equals(want), `payload of frame ${i}`);
        });
      }
    });
  }

  it('does not touch the bytes it reads (they are on their way to the peer)', () => {
    const input = frame({ opcode: 1, payload: 'masked text', mask: true });
    const copy = Buffer.from(input);
    parse(input, true, whole);
    assert.ok(input.equals(copy));
  });

  it('a skipped payload is never handed over, but the frame still ends', () => {
    const input = Buffer.concat([
      frame({ opcode: 2, payload: big, mask: true }),
      frame({ opcode: 1, payload: 'next' }),
    ]);
    const { frames, error } = parse(input, true, randomSplit(9), { skip: (h) => h.opcode === 2 });
    assert.match(error ?? '', /unmasked frame from the client/, 'the second frame is unmasked: a violation');
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.payload.length, 0);
    assert.equal(frames[0]?.header.length, big.length);
  });

  const violations: Array<[string, FrameSpec, boolean, RegExp]> = [
    ['RSV2', { opcode: 1, payload: 'a', extraBits: 0x20 }, false, /RSV2\/RSV3/],
    ['RSV1 without deflate', { opcode: 1, payload: 'a', rsv1: true }, false, /RSV1 set without permessage-deflate/],
    ['an unknown opcode', { opcode: 3, payload: 'a' }, false, /unknown opcode 0x3/],
    ['a fragmented control frame', { opcode: 9, payload: 'a', fin: false }, false, /fragmented control frame/],
    ['a long control frame', { opcode: 10, payload: 'p'.repeat(126) }, false, /control frame of 126 bytes/],
    ['an unmasked client frame', { opcode: 1, payload: 'a' }, true, /unmasked frame from the client/],
    ['a masked server frame', { opcode: 1, payload: 'a', mask: true }, false, /masked frame from the server/],
  ];
  for (const [name, spec, fromClient, re] of violations) {
    it(`stops at ${name} and ignores what follows`, () => {
      const ok = frame({ opcode: 1, payload: 'fine', mask: fromClient });
      const input = Buffer.concat([ok, frame(spec), ok]);
      for (const split of splits) {
        const { frames, error } = parse(input, fromClient, split);
        assert.match(error ?? '', re);
        assert.equal(frames.length, 1, 'only the frame before the violation');
      }
    });
  }

  it('stops at a 64-bit length past 2^53', () => {
    const input = Buffer.from([0x82, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 1]);
    assert.match(parse(input, false, whole).error ?? '', /frame length too large/);
  });

  it('never throws on garbage, whatever the split', () => {
    const rand = mulberry32(77);
    for (let round = 0; round < 300; round++) {
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
      for (const fromClient of [true, false])
        parse(junk, fromClient, randomSplit(round), { allowRsv1: round % 2 === 0 });
    }
  });
});
