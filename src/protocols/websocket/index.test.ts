/**
 * WebSocket capture from scripted byte streams: reassembly, control frames, close codes, the
 * shared byte cap, message-level violations, and permessage-deflate with and without context
 * takeover. Every stream is also fed at random split points and must give the same messages.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { mulberry32 } from '../../../test/helpers/prng.ts';
import { encodeFrame as frame, OPCODE, parseDeflateExtension, WebsocketCapture, type WsDir } from './index.ts';

interface Shown {
  dir: WsDir;
  type: string;
  text: string;
  size: number;
  truncated: boolean;
  code?: number;
  reason?: string;
}

type Feed = Array<[WsDir, Buffer]>;

function pieces(buf: Buffer, seed: number): Buffer[] {
  if (seed === 0) return [buf];
  const rand = mulberry32(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length;) {
    const n = 1 + Math.floor(rand() * 30);
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function capture(
  feed: Feed,
  opts: { cap?: number; extensions?: string; seed?: number; maxInflateBytes?: number; maxMessages?: number } = {},
): Promise<{ shown: Shown[]; c: WebsocketCapture }> {
  let clock = 0;
  const c = new WebsocketCapture({
    cap: opts.cap ?? 1024 * 1024,
    extensions: opts.extensions,
    now: () => ++clock,
    ...(opts.maxInflateBytes !== undefined ? { maxInflateBytes: opts.maxInflateBytes } : {}),
    ...(opts.maxMessages !== undefined ? { maxMessages: opts.maxMessages } : {}),
  });
  for (const [dir, bytes] of feed) for (const p of pieces(bytes, opts.seed ?? 0)) c.feed(dir, p);
  await new Promise<void>((resolve) => c.end(resolve));
  const shown = c.messages.map((m) => {
    const s: Shown = {
      dir: m.dir,
      type: m.type,
      text: m.payload.bytes().toString('latin1'),
      size: m.payload.size,
      truncated: m.payload.truncated,
    };
    if (m.code !== undefined) s.code = m.code;
    if (m.reason !== undefined) s.reason = m.reason;
    return s;
  });
  const times = c.messages.map((m) => m.tMs);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
    'messages are listed in the order they completed',
  );
  return { shown, c };
}

const msg = (dir: WsDir, type: string, text: string, extra: Partial<Shown> = {}): Shown => ({
  dir,
  type,
  text,
  size: Buffer.byteLength(text, 'latin1'),
  truncated: false,
  ...extra,
});

/** Compresses messages the way one permessage-deflate sender does (one stream, sync flushes). */
async function compressor(contextTakeover: boolean): Promise<(text: string | Buffer) => Promise<Buffer>> {
  let stream = zlib.createDeflateRaw({ windowBits: 15 });
  return async (text) => {
    if (!contextTakeover) stream = zlib.createDeflateRaw({ windowBits: 15 });
    const out: Buffer[] = [];
    const onData = (d: Buffer) => out.push(d);
    stream.on('data', onData);
    stream.write(text);
    await new Promise<void>((resolve) => stream.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    while (stream.read() !== null);
    stream.off('data', onData);
    const all = Buffer.concat(out);
    return all.subarray(0, all.length - 4); // the 00 00 ff ff tail is left out on the wire
  };
}

describe('websocket capture', () => {
  for (const seed of [0, 1, 2, 3]) {
    it(`text, binary, fragments with a ping between them, pong, close (split ${seed})`, async () => {
      const feed: Feed = [
        ['c2s', frame({ opcode: OPCODE.text, payload: 'hello', mask: true })],
        ['s2c', frame({ opcode: OPCODE.binary, payload: Buffer.from([0, 1, 2, 0xff]) })],
        ['c2s', frame({ opcode: OPCODE.text, payload: 'frag', fin: false, mask: true })],
        ['c2s', frame({ opcode: OPCODE.ping, payload: 'p', mask: true })],
        ['c2s', frame({ opcode: OPCODE.continuation, payload: 'men', fin: false, mask: true })],
        ['c2s', frame({ opcode: OPCODE.continuation, payload: 'ted', mask: true })],
        ['s2c', frame({ opcode: OPCODE.pong, payload: 'p' })],
        [
          'c2s',
          frame({ opcode: OPCODE.close, payload: Buffer.from([0x0f, 0xa0, ...Buffer.from('bye now')]), mask: true }),
        ],
        ['s2c', frame({ opcode: OPCODE.close })],
      ];
      const { shown, c } = await capture(feed, { seed });
      assert.deepEqual(shown, [
        msg('c2s', 'text', 'hello'),
        msg('s2c', 'binary', '\x00\x01\x02\xff'),
        msg('c2s', 'ping', 'p'),
        msg('c2s', 'text', 'fragmented'),
        msg('s2c', 'pong', 'p'),
        msg('c2s', 'close', 'bye now', { code: 4000, reason: 'bye now' }),
        msg('s2c', 'close', ''),
      ]);
      assert.equal(c.error, undefined);
      assert.equal(c.truncated, false);
    });
  }

  it('keeps at most `cap` payload bytes over the session; sizes stay whole', async () => {
    const big = 'b'.repeat(5000);
    const feed: Feed = [
      ['c2s', frame({ opcode: OPCODE.text, payload: 'abcdef', mask: true })],
      ['s2c', frame({ opcode: OPCODE.text, payload: big })],
      ['c2s', frame({ opcode: OPCODE.binary, payload: big, mask: true })],
    ];
    const { shown, c } = await capture(feed, { cap: 10, seed: 5 });
    assert.deepEqual(shown, [
      msg('c2s', 'text', 'abcdef'),
      { dir: 's2c', type: 'text', text: 'bbbb', size: 5000, truncated: true },
      { dir: 'c2s', type: 'binary', text: '', size: 5000, truncated: true },
    ]);
    assert.equal(c.truncated, true);
    assert.equal(c.keptBytes, 10);
  });

  it('lists at most maxMessages messages and says some were left out', async () => {
    const feed: Feed = ['a', 'b', 'c'].map((t) => ['s2c', frame({ opcode: OPCODE.text, payload: t })]);
    const { shown, c } = await capture(feed, { maxMessages: 2 });
    assert.deepEqual(
      shown.map((m) => m.text),
      ['a', 'b'],
    );
    assert.equal(c.truncated, true);
  });

  const violations: Array<[string, Buffer, RegExp]> = [
    ['a continuation with nothing to continue', frame({ opcode: 0, payload: 'x' }), /continuation frame without/],
    [
      'a new message inside a fragmented one',
      Buffer.concat([frame({ opcode: 1, payload: 'a', fin: false }), frame({ opcode: 1, payload: 'b' })]),
      /new message began/,
    ],
    ['a 1-byte close payload', frame({ opcode: OPCODE.close, payload: 'x' }), /close frame with a 1-byte payload/],
  ];
  for (const [name, bytes, re] of violations) {
    it(`stops reading a direction at ${name}; the other goes on`, async () => {
      const { shown, c } = await capture([
        ['s2c', frame({ opcode: 1, payload: 'before' })],
        ['s2c', bytes],
        ['s2c', frame({ opcode: 1, payload: 'after' })],
        ['c2s', frame({ opcode: 1, payload: 'other side', mask: true })],
      ]);
      assert.match(c.error ?? '', re);
      assert.match(c.error ?? '', /^s2c: /);
      assert.deepEqual(
        shown.map((m) => m.text),
        ['before', 'other side'],
      );
    });
  }

  it('rejects RSV1 on a control frame even with deflate on', async () => {
    const { c } = await capture([['s2c', frame({ opcode: OPCODE.ping, rsv1: true })]], {
      extensions: 'permessage-deflate',
    });
    assert.match(c.error ?? '', /RSV1 set on a control frame/);
  });

  for (const contextTakeover of [true, false]) {
    for (const seed of [0, 4]) {
      it(`permessage-deflate ${contextTakeover ? 'with' : 'without'} context takeover (split ${seed})`, async () => {
        const texts = ['{"hello":"world","n":1}', '{"hello":"world","n":2}', 'plain', '{"hello":"world","n":3}'];
        const server = await compressor(contextTakeover);
        const client = await compressor(contextTakeover);
        const feed: Feed = [];
        for (const t of texts) {
          feed.push(['s2c', frame({ opcode: OPCODE.text, rsv1: true, payload: await server(t) })]);
          // The client's copy arrives in two fragments with a ping between them.
          const z = await client(t);
          const half = z.length >> 1;
          feed.push([
            'c2s',
            frame({ opcode: OPCODE.text, rsv1: true, fin: false, payload: z.subarray(0, half), mask: true }),
          ]);
          feed.push(['c2s', frame({ opcode: OPCODE.ping, payload: 'k', mask: true })]);
          feed.push(['c2s', frame({ opcode: OPCODE.continuation, payload: z.subarray(half), mask: true })]);
        }
        feed.push(['s2c', frame({ opcode: OPCODE.binary, payload: 'not compressed' })]);
        const ext = contextTakeover
          ? 'permessage-deflate; client_max_window_bits=15'
          : 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
        const { shown, c } = await capture(feed, { extensions: ext, seed });
        assert.equal(c.error, undefined);
        const expected = texts.flatMap((t) => [msg('s2c', 'text', t), msg('c2s', 'ping', 'k'), msg('c2s', 'text', t)]);
        expected.push(msg('s2c', 'binary', 'not compressed'));
        assert.deepEqual(shown, expected);
      });
    }
  }

  it('a deflate bomb keeps its size and only `cap` bytes', async () => {
    // 100 MiB of zeros in ~100 KiB: holding the output would grow memory by far more than the bound.
    const z = zlib.deflateRawSync(Buffer.alloc(100 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const before = process.memoryUsage().rss;
    const { shown, c } = await capture(
      [['s2c', frame({ opcode: OPCODE.binary, rsv1: true, payload: z.subarray(0, z.length - 4) })]],
      { extensions: 'permessage-deflate', cap: 100 },
    );
    assert.equal(shown[0]?.size, 100 * 1024 * 1024);
    assert.equal(shown[0]?.text.length, 100);
    assert.equal(c.truncated, true);
    const grew = process.memoryUsage().rss - before;
    assert.ok(grew < 50 * 1024 * 1024, `the inflated bytes were not held (rss grew ${grew})`);
  });

  it('past maxInflateBytes a direction is given up, with an error', async () => {
    const z = zlib.deflateRawSync(Buffer.alloc(4 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const { shown, c } = await capture(
      [
        ['s2c', frame({ opcode: OPCODE.binary, rsv1: true, payload: z.subarray(0, z.length - 4) })],
        ['c2s', frame({ opcode: OPCODE.text, payload: 'still read', mask: true })],
      ],
      { extensions: 'permessage-deflate', maxInflateBytes: 1024 * 1024, cap: 10 },
    );
    assert.match(c.error ?? '', /s2c: permessage-deflate: a message inflates past 1048576 bytes/);
    assert.equal(shown.length, 2);
    assert.equal(shown[1]?.text, 'still read');
  });

  it('corrupt compressed data is an error, not a crash', async () => {
    const { c } = await capture(
      [['s2c', frame({ opcode: OPCODE.text, rsv1: true, payload: Buffer.from([0xff, 0xff, 0xff]) })]],
      {
        extensions: 'permessage-deflate',
      },
    );
    assert.match(c.error ?? '', /s2c: permessage-deflate: the compressed data is invalid/);
  });

  it('reads the accepted permessage-deflate parameters', () => {
    assert.equal(parseDeflateExtension(undefined), undefined);
    assert.equal(parseDeflateExtension('x-webkit-deflate-frame'), undefined);
    assert.deepEqual(
      parseDeflateExtension('foo, permessage-deflate; server_no_context_takeover; client_max_window_bits="10"'),
      { serverNoContextTakeover: true, clientNoContextTakeover: false, clientMaxWindowBits: 10 },
    );
  });
});
