/** The frame reader with scripted frames cut at random points. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../../test/helpers/prng.ts';
import { encodeFrame, Flag, FrameReader, FrameType, headerBlockFragment, PREFACE, type FrameHeader } from './frames.ts';

interface Seen {
  frames: Array<{ h: FrameHeader; payload: string }>;
  data: Map<number, Buffer[]>;
  dataEnds: number;
  largestPiece: number;
}

function read(
  bytes: Buffer,
  cuts: number[],
  opts: { preface: boolean; maxFrameHeld?: number; maxFrameSize?: number },
): Seen {
  const seen: Seen = { frames: [], data: new Map(), dataEnds: 0, largestPiece: 0 };
  const reader = new FrameReader(opts, {
    onFrame: (h, p) => seen.frames.push({ h: { ...h }, payload: p.toString('hex') }),
    onData: (h, piece, end) => {
      const list = seen.data.get(h.streamId) ?? [];
      list.push(Buffer.from(piece));
      seen.data.set(h.streamId, list);
      seen.largestPiece = Math.max(seen.largestPiece, piece.length);
      if (end) seen.dataEnds++;
    },
  });
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(at, cut));
    at = cut;
  }
  return seen;
}

function randomCuts(rand: () => number, length: number, n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(rand() * length)).sort((a, b) => a - b);
}

const padded = (data: Buffer, pad: number) => Buffer.concat([Buffer.from([pad]), data, Buffer.alloc(pad)]);

describe('FrameReader', () => {
  const body = Buffer.from('hello, world: some body bytes');
  const script = Buffer.concat([
    PREFACE,
    encodeFrame(FrameType.SETTINGS, 0, 0, Buffer.from('000100001000', 'hex')),
    encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, padded(Buffer.from('8286', 'hex'), 3)),
    encodeFrame(0xbb, 0, 0, Buffer.alloc(40, 7)), // unknown type: skipped
    encodeFrame(FrameType.DATA, Flag.PADDED, 1, padded(body.subarray(0, 10), 5)),
    encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(0)),
    encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, body.subarray(10)),
    encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8, 1)),
  ]);

  it('reads the same frames whatever the chunking (200 random splits)', () => {
    const rand = mulberry32(42);
    const whole = read(script, [], { preface: true });
    assert.equal(whole.frames.length, 3);
    assert.deepEqual(
      whole.frames.map((f) => f.h.type),
      [FrameType.SETTINGS, FrameType.HEADERS, FrameType.PING],
    );
    assert.deepEqual(Buffer.concat(whole.data.get(1) ?? []), body);
    assert.equal(whole.dataEnds, 3);
    const h = whole.frames[1];
    assert.ok(h);
    const { fragment } = headerBlockFragment(h.h, Buffer.from(h.payload, 'hex'));
    assert.equal(fragment.toString('hex'), '8286');
    for (let i = 0; i < 200; i++) {
      const cuts = randomCuts(rand, script.length, 1 + Math.floor(rand() * 20));
      const seen = read(script, cuts, { preface: true });
      assert.deepEqual(seen.frames, whole.frames);
      assert.deepEqual(Buffer.concat(seen.data.get(1) ?? []), body);
      assert.equal(seen.dataEnds, 3);
    }
  });

  it('hands a maximum-size DATA frame on in pieces as they arrive, never whole', () => {
    const big = Buffer.alloc(0xffffff, 0x61);
    const bytes = encodeFrame(FrameType.DATA, Flag.END_STREAM, 3, big);
    const cuts = Array.from({ length: Math.floor(bytes.length / 65536) }, (_, i) => (i + 1) * 65536);
    assert.throws(() => read(bytes, cuts, { preface: false }), /exceeds the receiver's maximum frame size 16384/);
    const seen = read(bytes, cuts, { preface: false, maxFrameSize: 0xffffff });
    assert.ok(seen.largestPiece <= 65536, `largest piece ${seen.largestPiece}`);
    assert.equal(Buffer.concat(seen.data.get(3) ?? []).length, big.length);
  });

  it('stops on a bad preface, oversized control frames and bad padding', () => {
    assert.throws(() => read(Buffer.from('GET / HTTP/1.1\r\n'), [], { preface: true }), /connection preface/);
    const huge = encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.alloc(2000));
    assert.throws(() => read(Buffer.alloc(20, 0x41), [], { preface: false }), /maximum frame size/);
    assert.throws(() => read(huge, [], { preface: false, maxFrameHeld: 1000 }), /exceeds the 1000-byte bound/);
    const badPad = encodeFrame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([9, 1, 2]));
    assert.throws(() => read(badPad, [], { preface: false }), /padding longer/);
  });

  it('after an error ignores everything', () => {
    const reader = new FrameReader({ preface: true }, { onFrame: () => assert.fail(), onData: () => assert.fail() });
    assert.throws(() => reader.push(Buffer.from('XXXX')));
    reader.push(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
  });
});
