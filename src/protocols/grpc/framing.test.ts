/** The gRPC message framing: random splits, compression, bounds, and broken streams as data. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { grpcFrame as frame } from '../../../test/helpers/grpc-peers.ts';
import { mulberry32 } from '../../../test/helpers/prng.ts';
import { GrpcDeframer, type FramedMessage } from './framing.ts';

/** Feeds `stream` cut at the given points; chunk i arrives at tMs = i. */
function feed(deframer: GrpcDeframer, stream: Buffer, cuts: number[]): FramedMessage[] {
  const out: FramedMessage[] = [];
  let from = 0;
  for (const [i, to] of [...cuts, stream.length].entries()) {
    out.push(...deframer.push(stream.subarray(from, to), i));
    from = to;
  }
  return out;
}

describe('GrpcDeframer', () => {
  it('splits messages at any chunk boundary, timed by the chunk that completed them', () => {
    const seed = Date.now() >>> 0;
    const rng = mulberry32(seed);
    const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last')];
    const stream = Buffer.concat(messages.map((m) => frame(m)));
    for (let round = 0; round < 200; round++) {
      const cuts = [
        ...new Set(Array.from({ length: Math.floor(rng() * 12) }, () => Math.floor(rng() * stream.length))),
      ].sort((a, b) => a - b);
      const deframer = new GrpcDeframer({ dir: 'c2s', keep: 1024 });
      const out = feed(deframer, stream, cuts);
      assert.deepEqual(
        out.map((m) => m.bytes),
        messages,
        `seed ${seed} cuts ${cuts.join(',')}`,
      );
      let end = 0;
      for (const [i, m] of out.entries()) {
        end += 5 + (messages[i] as Buffer).length;
        const chunk = [...cuts, stream.length].findIndex((c) => c >= end);
        assert.equal(m.tMs, chunk, `message ${i} completes in chunk ${chunk}`);
        assert.equal(m.size, (messages[i] as Buffer).length);
        assert.equal(m.whole, true);
        assert.equal(m.error, undefined);
      }
      assert.equal(deframer.pending, false);
      assert.deepEqual(deframer.end(99), []);
    }
  });

  it('inflates gzip and deflate messages by grpc-encoding', () => {
    const text = Buffer.from('hello hello hello hello hello');
    for (const [encoding, compressed] of [
      ['gzip', zlib.gzipSync(text)],
      ['deflate', zlib.deflateSync(text)],
      ['deflate', zlib.deflateRawSync(text)],
    ] as const) {
      const [m] = new GrpcDeframer({ dir: 's2c', encoding, keep: 100 }).push(frame(compressed, true), 3);
      assert.deepEqual(m?.bytes, text, encoding);
      assert.equal(m?.compressed, true);
      assert.equal(m?.size, compressed.length);
      assert.equal(m?.fullSize, text.length);
      assert.equal(m?.whole, true);
    }
    // Uncompressed messages pass through a compressed stream untouched.
    const [plain] = new GrpcDeframer({ dir: 's2c', encoding: 'gzip', keep: 100 }).push(frame(text), 0);
    assert.deepEqual(plain?.bytes, text);
    assert.equal(plain?.compressed, false);
  });

  it('keeps the raw bytes with an error for an unknown encoding, identity, or bad data', () => {
    const raw = Buffer.from('not really compressed');
    for (const [encoding, error] of [
      ['snappy', /unknown grpc-encoding "snappy"/],
      [undefined, /grpc-encoding is identity/],
      ['gzip', /cannot inflate gzip/],
    ] as const) {
      const [m] = new GrpcDeframer({ dir: 'c2s', encoding, keep: 100 }).push(frame(raw, true), 0);
      assert.match(m?.error ?? '', error);
      assert.deepEqual(m?.bytes, raw);
      assert.equal(m?.whole, false);
    }
  });

  it('never inflates past the limit (a zip bomb)', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(4 * 1024 * 1024));
    const [m] = new GrpcDeframer({ dir: 'c2s', encoding: 'gzip', keep: 64, inflateLimit: 64 * 1024 }).push(
      frame(bomb, true),
      0,
    );
    assert.match(m?.error ?? '', /inflates past 65536 bytes/);
    assert.equal(m?.bytes.length, 64, 'keeps the capped compressed bytes');
    // Under the limit, the message is inflated and capped to `keep`.
    const [ok] = new GrpcDeframer({ dir: 'c2s', encoding: 'gzip', keep: 64 }).push(frame(bomb, true), 0);
    assert.equal(ok?.bytes.length, 64);
    assert.equal(ok?.fullSize, 4 * 1024 * 1024);
    assert.equal(ok?.whole, false);
  });

  it('holds at most `keep` bytes of a large message but counts them all', () => {
    const deframer = new GrpcDeframer({ dir: 'c2s', keep: 10 });
    const big = Buffer.alloc(1000, 1);
    const out = feed(deframer, frame(big), [3, 500]);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.bytes.length, 10);
    assert.equal(out[0]?.size, 1000);
    assert.equal(out[0]?.whole, false);
  });

  it('reports a stream that ends inside a message or its prefix', () => {
    const d1 = new GrpcDeframer({ dir: 's2c', keep: 100 });
    assert.deepEqual(d1.push(frame(Buffer.from('complete')).subarray(0, 8), 1), []);
    const [cut] = d1.end(5);
    assert.equal(cut?.error, 'stream ended 3 bytes into a 8-byte message');
    assert.equal(cut?.tMs, 5);
    assert.deepEqual(cut?.bytes, Buffer.from('com'));
    const d2 = new GrpcDeframer({ dir: 's2c', keep: 100 });
    d2.push(Buffer.from([0, 0]), 0);
    assert.match(d2.end(1)[0]?.error ?? '', /inside a message prefix \(2 of 5 bytes\)/);
  });

  it('reports a bad prefix and keeps the rest of the stream raw', () => {
    const d = new GrpcDeframer({ dir: 'c2s', keep: 100 });
    const good = frame(Buffer.from('ok'));
    const out = d.push(Buffer.concat([good, Buffer.from('GET / HTTP/1.1\r\n')]), 0);
    assert.deepEqual(
      out.map((m) => m.bytes.toString()),
      ['ok'],
    );
    d.push(Buffer.from('more'), 2);
    const [bad] = d.end(3);
    assert.match(bad?.error ?? '', /bad gRPC message prefix \(flag byte 0x47\)/);
    assert.equal(bad?.bytes.toString(), 'GET / HTTP/1.1\r\nmore');
    assert.equal(bad?.tMs, 2);
  });
});
