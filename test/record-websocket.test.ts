/**
 * End to end: WebSocket sessions through tapwire with the real `ws` client and server, through
 * the inbound reverse proxy and through the outbound port (CONNECT and SOCKS5 tunnels). Each
 * test checks what the peers got and the one `websocket` exchange recorded for the session:
 * messages in order, fragments reassembled, control frames, close code and reason, the byte
 * cap, permessage-deflate with context takeover, and garbage that stops the parser but not the
 * bytes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { decodeBody } from '../src/model/body.ts';
import type { Exchange, WebsocketExchange } from '../src/model/exchange.ts';
import { closed, connectTo, connectTunnel, SocketReader, socks5Connect } from './helpers/forward.ts';
import { rawExchange, startTcpServer } from './helpers/peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';

interface App {
  port: number;
  /** What the server received, as [type, text or byte count]. */
  received: Array<[string, string]>;
  close(): Promise<void>;
}

/** A ws server: echoes text as `echo:…`, binary as is, and answers `frag` with a fragmented message. */
async function startApp(perMessageDeflate: boolean): Promise<App> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: perMessageDeflate ? { threshold: 0 } : false });
  const received: Array<[string, string]> = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data: RawData, isBinary) => {
      const buf = data as Buffer;
      received.push(isBinary ? ['binary', String(buf.length)] : ['text', buf.toString()]);
      if (isBinary) ws.send(buf);
      else if (buf.toString() === 'frag') {
        ws.send('part one, ', { fin: false });
        ws.send('part two', { fin: true });
      } else ws.send(`echo:${buf.toString()}`);
    });
    ws.on('ping', (d) => received.push(['ping', d.toString()]));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    async close() {
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A client that collects what it gets. */
async function open(url: string, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(url, options);
  const got: Array<Buffer> = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d: RawData) => {
    got.push(d as Buffer);
    waiters.shift()?.();
  });
  await once(ws, 'open');
  return {
    ws,
    /** Sends and waits for the next message. */
    async ask(data: string | Buffer, opts: { binary?: boolean } = {}): Promise<Buffer> {
      const next = new Promise<void>((resolve) => waiters.push(resolve));
      ws.send(data, { binary: opts.binary ?? typeof data !== 'string' });
      await next;
      return got[got.length - 1] as Buffer;
    },
    async ping(data: string): Promise<string> {
      ws.ping(data);
      const [pong] = (await once(ws, 'pong')) as [Buffer];
      return pong.toString();
    },
    async close(code: number, reason: string): Promise<[number, string]> {
      ws.close(code, reason);
      const [c, r] = (await once(ws, 'close')) as [number, Buffer];
      return [c, r.toString()];
    },
  };
}

function onlyWebsocket(xs: Exchange[]): WebsocketExchange {
  const found = xs.filter((x): x is WebsocketExchange => x.protocol === 'websocket');
  assert.equal(found.length, 1, `one websocket exchange, got ${xs.map((x) => x.protocol).join(', ')}`);
  return found[0] as WebsocketExchange;
}

/** The recorded messages as [dir, type, text] (binary as its byte count). */
function shown(x: WebsocketExchange): Array<[string, string, string]> {
  return (x.messages ?? []).map((m) => [
    m.dir,
    m.type,
    m.type === 'binary' ? String(m.data.size) : decodeBody(m.data).toString(),
  ]);
}

/** A conversation every path runs; returns the messages the record must show. */
async function converse(url: string, options: WebSocket.ClientOptions = {}): Promise<Array<[string, string, string]>> {
  const c = await open(url, options);
  assert.equal((await c.ask('hello')).toString(), 'echo:hello');
  const bin = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  assert.deepEqual(await c.ask(bin), bin);
  assert.equal((await c.ask('frag')).toString(), 'part one, part two');
  assert.equal(await c.ping('are you there'), 'are you there');
  assert.deepEqual(await c.close(4001, 'done here'), [4001, 'done here']);
  await closed((c.ws as unknown as { _socket: net.Socket })._socket);
  return [
    ['c2s', 'text', 'hello'],
    ['s2c', 'text', 'echo:hello'],
    ['c2s', 'binary', '5'],
    ['s2c', 'binary', '5'],
    ['c2s', 'text', 'frag'],
    ['s2c', 'text', 'part one, part two'],
    ['c2s', 'ping', 'are you there'],
    ['s2c', 'pong', 'are you there'],
    ['c2s', 'close', 'done here'],
    ['s2c', 'close', 'done here'],
  ];
}

function checkRecord(x: WebsocketExchange, expected: Array<[string, string, string]>, dst: string): void {
  assert.equal(x.response?.status, 101);
  assert.equal(x.dst, dst);
  assert.equal(x.error, undefined);
  assert.deepEqual(shown(x), expected);
  const closes = (x.messages ?? []).filter((m) => m.type === 'close');
  assert.deepEqual(
    closes.map((m) => [m.code, m.reason]),
    [
      [4001, 'done here'],
      [4001, 'done here'],
    ],
  );
  const times = (x.messages ?? []).map((m) => m.tMs);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
  assert.ok(x.durationMs >= (times[times.length - 1] ?? 0), 'the duration covers the whole session');
  assert.equal(x.messagesTruncated, undefined);
}

describe('record: WebSocket messages', () => {
  let plain: App;
  let deflate: App;

  before(async () => {
    plain = await startApp(false);
    deflate = await startApp(true);
  });
  after(async () => {
    await plain.close();
    await deflate.close();
  });

  it('reverse path: text, binary, a fragmented message, ping/pong, close with code and reason', async () => {
    const rec = await startTestRecording({ proxyType: 'reverse', app: `127.0.0.1:${plain.port}` });
    try {
      const expected = await converse(`${rec.inUrl.replace('http', 'ws')}/chat?room=1`);
      const x = onlyWebsocket(await rec.stopAndRead());
      checkRecord(x, expected, `127.0.0.1:${plain.port}`);
      assert.equal(x.direction, 'inbound');
      assert.equal(x.request.url, `${rec.inUrl}/chat?room=1`);
    } finally {
      await rec.cleanup();
    }
  });

  const tunnels: Array<[string, (rec: TestRecording, port: number) => Promise<net.Socket>]> = [
    [
      'CONNECT',
      async (rec, port) => {
        const t = await connectTunnel(rec.outPort, `127.0.0.1:${port}`);
        assert.match(t.head, /^HTTP\/1\.1 200 /);
        t.socket.removeAllListeners('data');
        return t.socket;
      },
    ],
    [
      'SOCKS5',
      async (rec, port) => {
        const t = await socks5Connect(rec.outPort, '127.0.0.1', port);
        assert.equal(t.rep, 0);
        t.socket.removeAllListeners('data');
        return t.socket;
      },
    ],
  ];
  for (const [name, tunnel] of tunnels) {
    it(`forward path through ${name}: the same conversation, recorded as outbound`, async () => {
      const rec = await startTestRecording({ proxyType: 'forward' });
      try {
        const socket = await tunnel(rec, plain.port);
        const expected = await converse(`ws://127.0.0.1:${plain.port}/fwd`, { createConnection: () => socket });
        const x = onlyWebsocket(await rec.stopAndRead());
        checkRecord(x, expected, `127.0.0.1:${plain.port}`);
        assert.equal(x.direction, 'outbound');
        assert.equal(x.request.url, `http://127.0.0.1:${plain.port}/fwd`);
      } finally {
        await rec.cleanup();
      }
    });
  }

  it('permessage-deflate with context takeover: messages are recorded inflated', async () => {
    const rec = await startTestRecording({ proxyType: 'reverse', app: `127.0.0.1:${deflate.port}` });
    try {
      const c = await open(`${rec.inUrl.replace('http', 'ws')}/z`, { perMessageDeflate: { threshold: 0 } });
      assert.match(String(c.ws.extensions), /permessage-deflate/, 'compression was negotiated');
      const texts = Array.from({ length: 5 }, (_, i) => JSON.stringify({ greeting: 'hello compressed world', i }));
      for (const t of texts) assert.equal((await c.ask(t)).toString(), `echo:${t}`);
      await c.close(1000, 'bye');
      const x = onlyWebsocket(await rec.stopAndRead());
      assert.equal(x.error, undefined);
      assert.match(x.response?.headers.find(([n]) => /^sec-websocket-extensions$/i.test(n))?.[1] ?? '', /deflate/);
      const data = shown(x).filter(([, type]) => type === 'text');
      assert.deepEqual(
        data,
        texts.flatMap((t) => [
          ['c2s', 'text', t],
          ['s2c', 'text', `echo:${t}`],
        ]),
      );
    } finally {
      await rec.cleanup();
    }
  });

  it('a 1 MiB message with a small body cap: the peers get every byte, the record keeps the size', async () => {
    const cap = 64 * 1024;
    const rec = await startTestRecording({ proxyType: 'reverse', app: `127.0.0.1:${plain.port}`, bodyCap: cap });
    try {
      const c = await open(`${rec.inUrl.replace('http', 'ws')}/big`);
      const big = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
      const back = await c.ask(big);
      assert.ok(back.equals(big), 'the echo came back whole');
      await c.close(1000, '');
      const x = onlyWebsocket(await rec.stopAndRead());
      const [up, down] = x.messages ?? [];
      assert.equal(up?.data.size, big.length);
      assert.equal(up?.data.truncated, true);
      assert.ok(decodeBody(up?.data).equals(big.subarray(0, cap)), 'the first cap bytes are kept');
      assert.equal(down?.data.size, big.length);
      assert.equal(decodeBody(down?.data).length, 0, 'nothing left of the cap for the echo');
      assert.equal(x.messagesTruncated, true);
      assert.equal(x.error, undefined);
    } finally {
      await rec.cleanup();
    }
  });

  it('garbage after the upgrade: the bytes still flow, the record has an error, the proxy keeps serving', async () => {
    const hi = Buffer.from([0x81, 0x02, 0x68, 0x69]); // a server text frame "hi"
    const junk = Buffer.from([0x8f, 0x01, 0x00, 0xde, 0xad]); // opcode 0xf: no such frame
    const good = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x6f ^ 1, 0x6b ^ 2]); // a masked client "ok"
    const bad = Buffer.concat([Buffer.from([0x81, 0x03]), Buffer.from('bad'), Buffer.from([0xff, 0x00, 0x13])]);
    let serverGot = Buffer.alloc(0);
    // A raw server: plain HTTP gets a 200; an upgrade gets a 101, "hi", and once the client's
    // bytes are in, junk and the end.
    const raw = await startTcpServer((s) => {
      s.on('error', () => undefined);
      let head = '';
      const onHead = (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        s.off('data', onHead);
        if (!/upgrade: websocket/i.test(head)) {
          s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
          return;
        }
        s.write(
          Buffer.concat([
            Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
            hi,
          ]),
        );
        s.on('data', (more: Buffer) => {
          serverGot = Buffer.concat([serverGot, more]);
          if (serverGot.length >= good.length + bad.length) s.end(junk);
        });
      };
      s.on('data', onHead);
    });
    const rec = await startTestRecording({ proxyType: 'reverse', app: `127.0.0.1:${raw.port}` });
    try {
      const port = Number(new URL(rec.inUrl).port);
      const socket = await connectTo(port);
      const reader = new SocketReader(socket);
      socket.write(
        'GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      assert.match(await reader.readUntil('\r\n\r\n'), /^HTTP\/1\.1 101 /);
      assert.deepEqual(await reader.read(hi.length), hi);
      socket.write(good);
      socket.write(bad);
      assert.deepEqual(await reader.readToEnd(), junk, 'the garbage of the server reached the client untouched');
      assert.deepEqual(serverGot, Buffer.concat([good, bad]), 'the garbage of the client reached the server untouched');
      socket.end();
      await closed(socket);

      const after = await rawExchange(port, 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(after, /^HTTP\/1\.1 200 [^]*ok$/, 'the proxy keeps serving');

      const xs = await rec.stopAndRead();
      assert.equal(xs.length, 2);
      const x = onlyWebsocket(xs);
      assert.equal(x.error?.kind, 'protocol');
      assert.match(x.error?.message ?? '', /invalid WebSocket stream: c2s: unmasked frame from the client/);
      assert.deepEqual(shown(x), [
        ['s2c', 'text', 'hi'],
        ['c2s', 'text', 'ok'],
      ]);
    } finally {
      await rec.cleanup();
      await raw.close();
    }
  });
});
