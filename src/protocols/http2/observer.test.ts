/**
 * The observer on real traffic: a Node http2 client and server (nghttp2 on both sides) talk
 * through a relay that keeps every chunk; the chunks are then fed to an observer, cut at random
 * points, and what it reports must match what the peers sent. Scripted frames cover what Node
 * does not produce on demand (CONTINUATION, padding, bad input).
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { HeaderList } from '../../model/exchange.ts';
import { mulberry32 } from '../../../test/helpers/prng.ts';
import { encodeFrame, Flag, FrameType, PREFACE } from './frames.ts';
import { Http2Observer, pseudoValue, type Dir, type Http2Head } from './observer.ts';

interface StreamLog {
  request?: Http2Head;
  requestBody: Buffer[];
  requestTrailers?: HeaderList;
  informational: string[];
  response?: Http2Head;
  responseBody: Buffer[];
  responseTrailers?: HeaderList;
  ends: Dir[];
  resets: string[];
  pushedFrom?: number;
}

interface Log {
  streams: Map<number, StreamLog>;
  goaways: string[];
  errors: string[];
}

function observe(chunks: Array<{ dir: Dir; bytes: Buffer }>, rand?: () => number): Log {
  const log: Log = { streams: new Map(), goaways: [], errors: [] };
  const s = (id: number): StreamLog => {
    let x = log.streams.get(id);
    if (!x) {
      x = { requestBody: [], informational: [], responseBody: [], ends: [], resets: [] };
      log.streams.set(id, x);
    }
    return x;
  };
  const obs = new Http2Observer({
    requestHead: (id, head) => (s(id).request = head),
    requestData: (id, piece) => s(id).requestBody.push(Buffer.from(piece)),
    requestTrailers: (id, t) => (s(id).requestTrailers = t),
    informational: (id, head) => s(id).informational.push(pseudoValue(head, ':status') ?? ''),
    responseHead: (id, head) => (s(id).response = head),
    responseData: (id, piece) => s(id).responseBody.push(Buffer.from(piece)),
    responseTrailers: (id, t) => (s(id).responseTrailers = t),
    end: (id, dir) => s(id).ends.push(dir),
    reset: (id, dir, _code, name) => s(id).resets.push(`${dir} ${name}`),
    push: (parent, promised, head) => {
      s(promised).request = head;
      s(promised).pushedFrom = parent;
    },
    goaway: (dir, last, _code, name) => log.goaways.push(`${dir} ${last} ${name}`),
    error: (dir, message) => log.errors.push(`${dir}: ${message}`),
  });
  let t = 0;
  for (const { dir, bytes } of chunks) {
    if (!rand) {
      obs.feed(dir, bytes, t++);
      continue;
    }
    let at = 0;
    while (at < bytes.length) {
      const n = 1 + Math.floor(rand() * Math.min(bytes.length - at, rand() < 0.5 ? 16 : 4096));
      obs.feed(dir, bytes.subarray(at, at + n), t++);
      at += n;
    }
  }
  return log;
}

/** A TCP relay in front of `port` that keeps every chunk in order, with its direction. */
async function startRelay(port: number) {
  const chunks: Array<{ dir: Dir; bytes: Buffer }> = [];
  const server = net.createServer((client) => {
    const up = net.connect(port, '127.0.0.1');
    client.on('data', (d: Buffer) => chunks.push({ dir: 'c2s', bytes: d }));
    up.on('data', (d: Buffer) => chunks.push({ dir: 's2c', bytes: d }));
    client.pipe(up).pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { chunks, port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('Http2Observer on real nghttp2 traffic', () => {
  let server: http2.Http2Server;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  const bigBody = Buffer.alloc(300_000, 0x5a);

  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const path = headers[':path'] ?? '';
      const parts: Buffer[] = [];
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('error', () => undefined);
      if (path === '/hang') return; // the client resets it
      stream.on('end', () => {
        if (path === '/push') {
          stream.pushStream({ ':path': '/pushed.css' }, (err, push) => {
            if (err) throw err;
            push.respond({ ':status': 200, 'content-type': 'text/css' });
            push.end('body{}');
            stream.respond({ ':status': 200 });
            stream.end('with push');
          });
          return;
        }
        if (path === '/trailers') {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
          stream.end(Buffer.concat(parts));
          return;
        }
        stream.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
        stream.respond({ ':status': 200, 'x-path': String(path), 'set-cookie': ['a=1', 'b=2'] });
        stream.end(path === '/big' ? bigBody : Buffer.concat(parts));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    relay = await startRelay((server.address() as net.AddressInfo).port);

    const client = http2.connect(`http://127.0.0.1:${relay.port}`);
    const request = (
      headers: http2.OutgoingHttpHeaders,
      body?: Buffer | string,
      trailers?: http2.OutgoingHttpHeaders,
    ) =>
      new Promise<void>((resolve, reject) => {
        const req = client.request(headers, trailers ? { waitForTrailers: true } : {});
        if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
        req.on('response', () => undefined);
        req.on('push', () => undefined);
        req.resume();
        req.on('end', () => resolve());
        req.on('error', reject);
        req.end(body);
      });
    const pushed = new Promise<void>((resolve) =>
      client.on('stream', (s) => {
        s.resume();
        s.on('end', () => resolve());
      }),
    );
    // Many requests sharing names and values: the dynamic table is used and evicts.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        request(
          {
            ':method': 'POST',
            ':path': `/echo/${i}?q=${'x'.repeat(i * 7)}`,
            'x-request': `value-${i % 5}-${'é'.repeat(i % 3)}`,
            'x-multi': ['one', 'two'],
            'user-agent': 'observer-test',
          },
          `body ${i}`,
        ),
      ),
    );
    await request({ ':path': '/big' });
    await request({ ':method': 'POST', ':path': '/trailers' }, 'grpc-ish', { 'x-checksum': 'abc' });
    await request({ ':path': '/push' });
    await pushed;
    await new Promise<void>((resolve) => {
      const req = client.request({ ':path': '/hang' });
      req.on('error', () => undefined);
      req.on('close', () => resolve());
      setImmediate(() => req.close(http2.constants.NGHTTP2_CANCEL));
    });
    await new Promise<void>((resolve) => client.close(() => resolve()));
  });

  after(() => {
    relay.close();
    server.close();
  });

  const check = (log: Log) => {
    assert.deepEqual(log.errors, []);
    const byPath = new Map(
      [...log.streams].map(([id, s]) => [pseudoValue(s.request as Http2Head, ':path'), { id, s }]),
    );
    for (let i = 0; i < 40; i++) {
      const found = [...byPath].find(([p]) => p?.startsWith(`/echo/${i}?`));
      assert.ok(found, `request ${i}`);
      const { s } = found[1];
      assert.equal(pseudoValue(s.request as Http2Head, ':method'), 'POST');
      // Node sends header values as latin1, one octet per char, and they are read back the same.
      assert.deepEqual(
        s.request?.headers.filter(([n]) => n.startsWith('x-') || n === 'user-agent'),
        [
          ['x-request', `value-${i % 5}-${'é'.repeat(i % 3)}`],
          ['x-multi', 'one'],
          ['x-multi', 'two'],
          ['user-agent', 'observer-test'],
        ],
      );
      assert.equal(Buffer.concat(s.requestBody).toString(), `body ${i}`);
      assert.deepEqual(s.informational, ['103']);
      assert.equal(pseudoValue(s.response as Http2Head, ':status'), '200');
      assert.deepEqual(
        s.response?.headers.filter(([n]) => n === 'x-path' || n === 'set-cookie'),
        [
          ['x-path', found[0]],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ],
      );
      assert.equal(Buffer.concat(s.responseBody).toString(), `body ${i}`);
      assert.deepEqual(s.ends.sort(), ['c2s', 's2c']);
    }
    const big = byPath.get('/big')?.s;
    assert.deepEqual(Buffer.concat(big?.responseBody ?? []), bigBody);
    const tr = byPath.get('/trailers')?.s;
    assert.deepEqual(tr?.requestTrailers, [['x-checksum', 'abc']]);
    assert.deepEqual(tr?.responseTrailers, [
      ['grpc-status', '0'],
      ['grpc-message', 'ok'],
    ]);
    assert.equal(Buffer.concat(tr?.responseBody ?? []).toString(), 'grpc-ish');
    const push = byPath.get('/push');
    const pushed = byPath.get('/pushed.css');
    assert.equal(pushed?.s.pushedFrom, push?.id);
    assert.equal(pushed?.id ? pushed.id % 2 : 1, 0, 'pushed streams are even');
    assert.equal(Buffer.concat(pushed?.s.responseBody ?? []).toString(), 'body{}');
    assert.deepEqual(byPath.get('/hang')?.s.resets, ['c2s CANCEL']);
    assert.ok(log.goaways.length > 0 && log.goaways.every((g) => g.endsWith('NO_ERROR')), log.goaways.join());
  };

  it('reports every stream as the peers saw it', () => check(observe(relay.chunks)));

  it('reports the same whatever the chunking (20 random splittings)', () => {
    const rand = mulberry32(7);
    for (let i = 0; i < 20; i++) check(observe(relay.chunks, rand));
  });
});

const hpackLiteral = (name: string, value: string) =>
  Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);

describe('Http2Observer on scripted frames', () => {
  const settings = encodeFrame(FrameType.SETTINGS, 0, 0);
  it('assembles HEADERS + CONTINUATION, strips padding, and reports END_STREAM on HEADERS', () => {
    const block = Buffer.concat([Buffer.from('8286', 'hex'), hpackLiteral(':path', '/c'), hpackLiteral('x-a', '1')]);
    const log = observe([
      {
        dir: 'c2s',
        bytes: Buffer.concat([
          PREFACE,
          settings,
          encodeFrame(
            FrameType.HEADERS,
            Flag.PADDED | Flag.END_STREAM,
            1,
            Buffer.concat([Buffer.from([2]), block.subarray(0, 3), Buffer.alloc(2)]),
          ),
          encodeFrame(FrameType.CONTINUATION, 0, 1, block.subarray(3, 8)),
          encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(8)),
        ]),
      },
    ]);
    assert.deepEqual(log.errors, []);
    const s = log.streams.get(1);
    assert.deepEqual(s?.request, {
      pseudo: [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/c'],
      ],
      headers: [['x-a', '1']],
    });
    assert.deepEqual(s?.ends, ['c2s']);
  });

  it('a frame between HEADERS and CONTINUATION, garbage after the preface, a bad HPACK block: one error each', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [
        Buffer.concat([PREFACE, settings, encodeFrame(FrameType.HEADERS, 0, 1, Buffer.from('82', 'hex')), settings]),
        /CONTINUATION expected/,
      ],
      [Buffer.concat([PREFACE, Buffer.from('this is not a frame at all, just text')]), /maximum frame size/],
      [Buffer.concat([PREFACE, encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8))]), /did not start with a SETTINGS/],
      [
        Buffer.concat([
          PREFACE,
          settings,
          encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from('ff', 'hex')),
        ]),
        /past the end of the dynamic table|ends inside an integer/,
      ],
    ];
    for (const [bytes, why] of cases) {
      const log = observe([
        { dir: 'c2s', bytes },
        { dir: 'c2s', bytes: settings },
      ]);
      assert.equal(log.errors.length, 1, log.errors.join());
      assert.match(log.errors[0] ?? '', why);
    }
  });

  it('bounds a header block', () => {
    const frames = [PREFACE, settings, encodeFrame(FrameType.HEADERS, 0, 1, Buffer.alloc(16_000, 0x82))];
    for (let i = 0; i < 17; i++) frames.push(encodeFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16_000, 0x82)));
    const log = observe([{ dir: 'c2s', bytes: Buffer.concat(frames) }]);
    assert.match(log.errors[0] ?? '', /header block larger than 262144 bytes/);
  });

  it('an upgraded connection starts with stream 1 open and the request ended', () => {
    const heads: string[] = [];
    const obs = new Http2Observer({
      requestHead: (id, h) => heads.push(`${id} ${pseudoValue(h, ':path')}`),
      end: (id, dir) => heads.push(`${id} end ${dir}`),
      responseHead: (id, h) => heads.push(`${id} ${pseudoValue(h, ':status')}`),
    });
    obs.startUpgraded(
      {
        pseudo: [
          [':method', 'GET'],
          [':path', '/up'],
        ],
        headers: [],
      },
      0,
    );
    obs.feed('c2s', Buffer.concat([PREFACE, settings]), 1);
    obs.feed(
      's2c',
      Buffer.concat([
        settings,
        encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from('88', 'hex')),
      ]),
      2,
    );
    assert.deepEqual(heads, ['1 /up', '1 end c2s', '1 200', '1 end s2c']);
  });
});
