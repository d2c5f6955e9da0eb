/**
 * End to end: HTTP/2 through `tapwire record`, tapped passively. Real peers (Node's http2 client
 * and server, curl, nghttp) talk h2c through the inbound port (prior knowledge, and the h2c
 * Upgrade) and through a CONNECT tunnel on the outbound port. Each test checks what the client
 * got (every byte, flow control intact) and what was recorded: one Exchange per stream with
 * httpVersion '2', its streamId, and one `conn` for the connection.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Exchange, GrpcExchange, HttpExchange } from '../src/model/exchange.ts';
import { encodeFrame, Flag, FrameType } from '../src/protocols/http2/frames.ts';
import { closed, connectTo, curl, needTool } from './helpers/forward.ts';
import { run } from './helpers/peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';

const MiB = 1024 * 1024;
const BIG = 5 * MiB;

function https(xs: Exchange[]): HttpExchange[] {
  return xs.filter((x): x is HttpExchange => x.protocol === 'http');
}

function byPath(xs: Exchange[], path: string): HttpExchange {
  const found = https(xs).filter((x) => new URL(x.request.url).pathname === path);
  assert.equal(
    found.length,
    1,
    `one exchange for ${path}: ${xs.map((x) => ('request' in x ? x.request.url : x.protocol)).join(', ')}`,
  );
  return found[0] as HttpExchange;
}

/** The origin: an h2c server with one behaviour per path. */
function startH2Origin(): Promise<{ server: http2.Http2Server; port: number }> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    stream.on('error', () => undefined);
    if (path === '/hang') {
      stream.respond({ ':status': 200 });
      stream.write('partial');
      return; // the client resets it
    }
    if (path === '/big') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 0x62);
      let sent = 0;
      const pump = () => {
        while (sent < BIG) {
          sent += chunk.length;
          if (!stream.write(chunk)) return void stream.once('drain', pump);
        }
        stream.end();
      };
      pump();
      return;
    }
    let size = 0;
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MiB) parts.push(d);
    });
    stream.on('end', () => {
      const body = Buffer.concat(parts);
      if (path === '/count') {
        stream.respond({ ':status': 200 });
        stream.end(String(size));
      } else if (path === '/trailers') {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': String(size) }));
        stream.end('with trailers');
      } else if (path === '/push') {
        stream.pushStream({ ':path': '/pushed.css' }, (err, push) => {
          if (err) return stream.destroy(err);
          push.on('error', () => undefined);
          push.respond({ ':status': 200, 'content-type': 'text/css' });
          push.end('body { color: red }');
          stream.respond({ ':status': 200 });
          stream.end('pushed one');
        });
      } else if (path.startsWith('/pkg.Svc/')) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(Buffer.from('0a026f6b', 'hex'))); // field 1: "ok"
      } else {
        stream.respond({
          ':status': 200,
          'x-zulu': 'last-letter-first',
          'content-type': 'text/plain',
          'set-cookie': ['a=1', 'b=2'],
          'x-alpha': 'first-letter-last',
        });
        stream.end(`${String(headers[':method'])} ${path} ${body.toString()}`);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port })),
  );
}

function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | string,
  trailers?: http2.OutgoingHttpHeaders,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, trailers ? { waitForTrailers: true } : {});
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let head: http2.IncomingHttpHeaders = {};
    let got: http2.IncomingHttpHeaders | undefined;
    const parts: Buffer[] = [];
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (got = t));
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () =>
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(parts), trailers: got }),
    );
    req.on('error', reject);
    req.end(body);
  });
}

function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => session.close(() => resolve()));
}

describe('record: HTTP/2 through the inbound port (h2c prior knowledge)', () => {
  let origin: { server: http2.Http2Server; port: number };
  let rec: TestRecording | undefined;

  before(async () => {
    origin = await startH2Origin();
  });
  after(async () => {
    await rec?.cleanup();
    await new Promise((resolve) => origin.server.close(resolve));
  });

  const recording = async () => {
    await rec?.cleanup();
    rec = await startTestRecording({ app: `127.0.0.1:${origin.port}`, proxyType: 'reverse' });
    return rec;
  };

  it('many concurrent streams on one connection: one exchange each, same conn, headers in wire order', async () => {
    const r = await recording();
    const session = http2.connect(r.inUrl);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(
          session,
          { ':method': 'POST', ':path': `/echo/${i}?n=${i}`, 'x-multi': ['one', 'two'], 'x-index': String(i) },
          `payload ${i}`,
        ),
      ),
    );
    await closeSession(session);
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), `POST /echo/${i}?n=${i} payload ${i}`);
      assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
    });

    const xs = await r.stopAndRead();
    assert.equal(xs.length, 30);
    const conns = new Set(xs.map((x) => x.conn));
    assert.equal(conns.size, 1, 'one conn for the connection');
    assert.ok([...conns][0]);
    const ids = new Set(xs.map((x) => x.streamId));
    assert.equal(ids.size, 30, 'one stream id each');
    const inPort = new URL(r.inUrl).port;
    for (let i = 0; i < 30; i++) {
      const x = byPath(xs, `/echo/${i}`);
      assert.equal(x.direction, 'inbound');
      assert.equal(x.request.url, `http://127.0.0.1:${inPort}/echo/${i}?n=${i}`);
      assert.equal(x.request.method, 'POST');
      assert.equal(x.request.httpVersion, '2');
      assert.equal((x.streamId ?? 0) % 2, 1, 'client streams are odd');
      assert.deepEqual(
        x.request.headers.filter(([n]) => n.startsWith('x-')),
        [
          ['x-multi', 'one'],
          ['x-multi', 'two'],
          ['x-index', String(i)],
        ],
      );
      assert.ok(!x.request.headers.some(([n]) => n.startsWith(':')), 'pseudo-headers are not headers');
      assert.equal(x.request.body?.data, `payload ${i}`);
      assert.equal(x.response?.status, 200);
      assert.equal(x.response?.statusText, '');
      assert.equal(x.response?.httpVersion, '2');
      assert.deepEqual(
        x.response?.headers.filter(([n]) => n.startsWith('x-') || n === 'set-cookie'),
        [
          ['x-zulu', 'last-letter-first'],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
          ['x-alpha', 'first-letter-last'],
        ],
      );
      assert.equal(x.response?.body?.data, `POST /echo/${i}?n=${i} payload ${i}`);
      assert.equal(x.dst, `127.0.0.1:${origin.port}`);
      assert.ok(x.timings?.ttfbMs !== undefined);
      assert.equal(x.error, undefined);
    }
  });

  it('5 MiB each way: the peers get every byte, the record keeps the cap and the real size', async () => {
    const r = await recording();
    const session = http2.connect(r.inUrl);
    const up = await request(session, { ':method': 'POST', ':path': '/count' }, Buffer.alloc(BIG, 0x61));
    assert.equal(up.body.toString(), String(BIG), 'the server got every byte');
    const down = await request(session, { ':path': '/big' });
    assert.equal(down.body.length, BIG, 'the client got every byte');
    await closeSession(session);

    const xs = await r.stopAndRead();
    const count = byPath(xs, '/count');
    assert.equal(count.request.body?.size, BIG);
    assert.equal(count.request.body?.truncated, true);
    assert.equal(count.request.body?.data.length, MiB);
    const big = byPath(xs, '/big');
    assert.equal(big.response?.body?.size, BIG);
    assert.equal(big.response?.body?.truncated, true);
    assert.equal(big.response?.body?.data.length, MiB);
    assert.equal(count.conn, big.conn);
  });

  it('trailers both ways, a client reset, a server push', async () => {
    const r = await recording();
    const session = http2.connect(r.inUrl);
    const pushed = new Promise<string>((resolve) =>
      session.on('stream', (s) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => resolve(Buffer.concat(parts).toString()));
      }),
    );
    const t = await request(session, { ':method': 'POST', ':path': '/trailers' }, 'abc', { 'x-checksum': 'c0ffee' });
    assert.equal(t.body.toString(), 'with trailers');
    assert.equal(t.trailers?.['x-sum'], '3');
    const p = await request(session, { ':path': '/push' });
    assert.equal(p.body.toString(), 'pushed one');
    assert.equal(await pushed, 'body { color: red }');

    const serverSawReset = new Promise<void>((resolve) =>
      origin.server.once('stream', (s) => s.once('close', () => resolve())),
    );
    await new Promise<void>((resolve) => {
      const req = session.request({ ':path': '/hang' });
      req.on('error', () => undefined);
      req.on('data', () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on('close', () => resolve());
    });
    await serverSawReset;
    await closeSession(session);

    const xs = await r.stopAndRead();
    const tr = byPath(xs, '/trailers');
    assert.deepEqual(tr.request.trailers, [['x-checksum', 'c0ffee']]);
    assert.deepEqual(tr.response?.trailers, [['x-sum', '3']]);
    const hang = byPath(xs, '/hang');
    assert.equal(hang.error?.kind, 'aborted');
    assert.match(hang.error?.message ?? '', /client reset the stream \(RST_STREAM CANCEL\)/);
    assert.equal(hang.error?.phase, 'response');
    assert.equal(hang.response?.status, 200);
    assert.equal(hang.response?.body?.data, 'partial');
    const push = byPath(xs, '/push');
    const css = byPath(xs, '/pushed.css');
    assert.equal((css.streamId ?? 1) % 2, 0, 'pushed streams are even');
    assert.equal(css.tags?.['h2Push'], String(push.streamId));
    assert.equal(css.request.method, 'GET');
    assert.equal(css.response?.body?.data, 'body { color: red }');
    assert.equal(new Set(xs.map((x) => x.conn)).size, 1);
  });

  it('a gRPC stream is recorded as protocol grpc with its messages and status', async () => {
    const r = await recording();
    const session = http2.connect(r.inUrl);
    const a = await request(
      session,
      { ':method': 'POST', ':path': '/pkg.Svc/Do', 'content-type': 'application/grpc', te: 'trailers' },
      grpcFrame(Buffer.from('0a026869', 'hex')),
    );
    assert.equal(a.trailers?.['grpc-status'], '0');
    await closeSession(session);
    const xs = await r.stopAndRead();
    assert.equal(xs.length, 1);
    const g = xs[0] as GrpcExchange;
    assert.equal(g.protocol, 'grpc');
    assert.equal(g.grpc.service, 'pkg.Svc');
    assert.equal(g.grpc.method, 'Do');
    assert.equal(g.grpc.status, 0);
    assert.deepEqual(
      g.grpc.messages.map((m) => m.dir),
      ['c2s', 's2c'],
    );
    assert.equal(g.request.body, undefined);
    assert.equal(g.request.httpVersion, '2');
  });

  it('garbage after the preface closes that connection; the proxy keeps serving', async () => {
    const r = await recording();
    const socket = await connectTo(Number(new URL(r.inUrl).port));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
        encodeFrame(FrameType.SETTINGS, 0, 0),
        Buffer.from('this is not HTTP/2 at all, only text that goes on and on\r\n'),
      ]),
    );
    await closed(socket);
    const session = http2.connect(r.inUrl);
    const a = await request(session, { ':path': '/after' });
    assert.equal(a.body.toString(), 'GET /after ');
    await closeSession(session);
    const xs = await r.stopAndRead();
    assert.deepEqual(
      xs.map((x) => ('request' in x ? new URL(x.request.url).pathname : x.protocol)),
      ['/after'],
    );
  });

  const noCurl = needTool('curl');
  it('curl --http2-prior-knowledge', { skip: noCurl }, async () => {
    const r = await recording();
    const res = await curl([
      '--http2-prior-knowledge',
      '-H',
      'X-Multi: one',
      '-H',
      'X-Multi: two',
      '--data-binary',
      'from curl',
      `${r.inUrl}/echo/curl`,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'POST /echo/curl from curl');
    const x = byPath(await r.stopAndRead(), '/echo/curl');
    assert.equal(x.request.httpVersion, '2');
    assert.equal(x.streamId, 1);
    assert.deepEqual(
      x.request.headers.filter(([n]) => n === 'x-multi'),
      [
        ['x-multi', 'one'],
        ['x-multi', 'two'],
      ],
    );
    assert.match(x.request.headers.find(([n]) => n === 'user-agent')?.[1] ?? '', /^curl\//);
  });

  const noNghttp = needTool('nghttp');
  it('nghttp: several URIs on one connection', { skip: noNghttp }, async () => {
    const r = await recording();
    const res = await run('nghttp', ['-n', `${r.inUrl}/echo/a`, `${r.inUrl}/echo/b`, `${r.inUrl}/echo/c`], {
      timeoutMs: 15_000,
    });
    assert.equal(res.code, 0, res.stderr);
    const xs = await r.stopAndRead();
    assert.deepEqual(
      https(xs)
        .map((x) => new URL(x.request.url).pathname)
        .sort(),
      ['/echo/a', '/echo/b', '/echo/c'],
    );
    assert.equal(new Set(xs.map((x) => x.conn)).size, 1);
  });
});

describe('record: h2c Upgrade through the inbound port', { skip: needTool('curl') }, () => {
  it('curl --http2 upgrades; stream 1 is the upgrade request, answered in HTTP/2', async () => {
    // Node's http2 server does not do the h2c Upgrade: a minimal one, frame by frame.
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      let head = '';
      let upgraded = false;
      let acked = false;
      s.on('data', (d: Buffer) => {
        if (!upgraded) {
          head += d.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          upgraded = true;
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
          const block = Buffer.concat([Buffer.from([0x88, 0x0f, 0x10, 10]), Buffer.from('text/plain')]);
          s.write(
            Buffer.concat([
              encodeFrame(FrameType.SETTINGS, 0, 0),
              encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, block),
              encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('upgraded hello')),
            ]),
          );
        } else if (!acked) {
          acked = true;
          s.write(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
        }
      });
      s.on('end', () => s.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const r = await startTestRecording({ app: `127.0.0.1:${port}`, proxyType: 'reverse' });
    try {
      const res = await curl(['--http2', `${r.inUrl}/up`]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, 'upgraded hello');
      const xs = await r.stopAndRead();
      assert.equal(xs.length, 1, JSON.stringify(xs));
      const x = xs[0] as HttpExchange;
      assert.equal(x.streamId, 1);
      assert.equal(x.request.method, 'GET');
      assert.equal(x.request.httpVersion, '1.1');
      assert.ok(x.request.headers.some(([n, v]) => n.toLowerCase() === 'upgrade' && v === 'h2c'));
      assert.equal(x.response?.status, 200);
      assert.equal(x.response?.httpVersion, '2');
      assert.equal(x.response?.body?.data, 'upgraded hello');
      assert.equal(x.tags?.['h2c'], 'upgrade');
    } finally {
      await r.cleanup();
      server.close();
    }
  });
});

/** A CONNECT tunnel through the forward proxy, read by hand so the socket is clean afterwards. */
async function connectThrough(proxyPort: number, authority: string): Promise<net.Socket> {
  const socket = await connectTo(proxyPort);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.pause();
      // The origin's SETTINGS may come right behind the proxy's answer: they are HTTP/2's.
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length > 0) socket.unshift(rest);
      if (!/^HTTP\/1\.1 200 /.test(head)) reject(new Error(`CONNECT refused: ${head}`));
      else resolve();
    };
    socket.on('data', onData);
  });
  return socket;
}

describe('record: HTTP/2 through a CONNECT tunnel on the outbound port', () => {
  it('h2c prior knowledge inside CONNECT: streams recorded with the tunnel tag', async () => {
    const origin = await startH2Origin();
    const r = await startTestRecording({ proxyType: 'forward' });
    try {
      const tunnel = await connectThrough(r.outPort, `127.0.0.1:${origin.port}`);
      const session = http2.connect(`http://127.0.0.1:${origin.port}`, { createConnection: () => tunnel });
      const answers = await Promise.all(
        ['a', 'b', 'c', 'd'].map((p) => request(session, { ':method': 'POST', ':path': `/echo/${p}` }, p)),
      );
      assert.deepEqual(
        answers.map((a) => a.body.toString()),
        ['POST /echo/a a', 'POST /echo/b b', 'POST /echo/c c', 'POST /echo/d d'],
      );
      await closeSession(session);
      const xs = await r.stopAndRead();
      assert.equal(xs.length, 4);
      for (const p of ['a', 'b', 'c', 'd']) {
        const x = byPath(xs, `/echo/${p}`);
        assert.equal(x.direction, 'outbound');
        assert.equal(x.request.url, `http://127.0.0.1:${origin.port}/echo/${p}`);
        assert.equal(x.request.httpVersion, '2');
        assert.equal(x.tags?.['tunnel'], 'connect');
        assert.equal(x.response?.body?.data, `POST /echo/${p} ${p}`);
      }
      assert.equal(new Set(xs.map((x) => x.conn)).size, 1);
    } finally {
      await r.cleanup();
      await new Promise((resolve) => origin.server.close(resolve));
    }
  });
});
