/**
 * End to end: WebSocket sessions and raw TCP conversations served by `tapwire mock` from real
 * recorded traffic. A real `ws` server (with permessage-deflate, so the recorded messages were
 * compressed on the wire) and a server-first TCP protocol (an SMTP-like banner) are recorded
 * through CONNECT tunnels; then they stop and the same clients go through the responder's front
 * door: the WebSocket conversation comes back message for message (fragments, binary, pong,
 * close code and reason), each TCP connection gets its recorded conversation byte for byte, and
 * misses are explained.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { startResponder, type Responder } from '../src/mock/responder.ts';
import type { Exchange } from '../src/model/exchange.ts';
import { openStore } from '../src/store/fs/index.ts';
import { closed, connectTunnel } from './helpers/forward.ts';
import { startSmtpLikeServer } from './helpers/peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';

/** A ws app: echoes text as `echo:…`, binary as is, answers `frag` with a fragmented message. */
async function startApp(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
  wss.on('connection', (ws) => {
    ws.on('message', (data: RawData, isBinary) => {
      const buf = data as Buffer;
      if (isBinary) ws.send(buf);
      else if (buf.toString() === 'frag') {
        ws.send('part one, ', { fin: false });
        ws.send('part two', { fin: true });
      } else ws.send(`echo:${buf.toString()}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** What a client got from one conversation: each answer, the pong, the close. */
async function converse(proxyPort: number, port: number): Promise<Array<string | number>> {
  const t = await connectTunnel(proxyPort, `127.0.0.1:${port}`);
  assert.match(t.head, /^HTTP\/1\.1 200 /);
  t.socket.removeAllListeners('data');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?room=1`, { createConnection: () => t.socket });
  const got: Array<string | number> = [];
  const next = () => once(ws, 'message') as Promise<[Buffer, boolean]>;
  await once(ws, 'open');
  ws.send('hello');
  got.push(String((await next())[0]));
  ws.send(Buffer.from([0, 1, 2, 0xfe, 0xff]));
  got.push(((await next())[0] as Buffer).toString('hex'));
  ws.send('frag');
  got.push(String((await next())[0]));
  ws.ping('are you there');
  got.push(String(((await once(ws, 'pong')) as [Buffer])[0]));
  ws.close(4001, 'done here');
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  got.push(code, reason.toString());
  await closed(t.socket);
  return got;
}

/** An SMTP-like exchange: banner, HELO, QUIT; returns everything the client read. */
async function smtp(proxyPort: number, port: number, name: string): Promise<string> {
  const { socket, reader } = await connectTunnel(proxyPort, `127.0.0.1:${port}`);
  let got = await reader.readUntil('\r\n');
  socket.write(`HELO ${name}\r\n`);
  got += await reader.readUntil('\r\n');
  socket.write('QUIT\r\n');
  got += (await reader.readToEnd()).toString('latin1');
  return got;
}

describe('mock: WebSocket and raw TCP from a real recording', () => {
  let rec: TestRecording;
  let mock: Responder;
  let wsPort = 0;
  let smtpPort = 0;
  let recorded: { ws: Array<string | number>; smtp: string[] };
  let xs: Exchange[];

  before(async () => {
    const app = await startApp();
    const server = await startSmtpLikeServer();
    [wsPort, smtpPort] = [app.port, server.port];
    rec = await startTestRecording({ proxyType: 'forward' });
    try {
      const ws = await converse(rec.outPort, wsPort);
      const first = await smtp(rec.outPort, smtpPort, 'first.test');
      const second = await smtp(rec.outPort, smtpPort, 'second.test');
      recorded = { ws, smtp: [first, second] };
      xs = await rec.stopAndRead();
    } finally {
      // The real servers are gone from here on: only the mock answers.
      await app.close();
      await server.close();
    }
    mock = await startResponder({
      snapshots: [rec.recording.snapshotId],
      store: openStore(rec.storeDir),
      outPort: 0,
      adminPort: 0,
      watch: false,
      logger: pino({ level: 'silent' }),
    });
  });

  after(async () => {
    await mock?.stop();
    await rec?.cleanup();
  });

  it('recorded one WebSocket session and two TCP conversations (the premise)', () => {
    assert.deepEqual(
      xs.map((x) => x.protocol),
      ['websocket', 'tcp', 'tcp'],
    );
    assert.deepEqual(recorded.ws, [
      'echo:hello',
      '000102feff',
      'part one, part two',
      'are you there',
      4001,
      'done here',
    ]);
    assert.equal(recorded.smtp[0], '220 tapwire.test ESMTP ready\r\n250 hello first.test\r\n221 bye\r\n');
  });

  it('WebSocket: the recorded session replays in order, uncompressed, with the close code and reason', async () => {
    assert.deepEqual(await converse(mock.outbound.port, wsPort), recorded.ws);
    assert.equal(mock.stats().matched, 1);
  });

  it('WebSocket miss: 404 with x-tapwire-mock and the explanation', async () => {
    const t = await connectTunnel(mock.outbound.port, `127.0.0.1:${wsPort}`);
    t.socket.removeAllListeners('data');
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/elsewhere`, { createConnection: () => t.socket });
    ws.on('error', () => undefined);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage];
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['x-tapwire-mock'], 'miss');
    let body = '';
    for await (const chunk of res) body += String(chunk);
    const json = JSON.parse(body) as { explanation: string; candidates: Array<{ request: string }> };
    assert.match(json.explanation, /path/);
    assert.match(json.candidates[0]?.request ?? '', /\/chat\?room=1$/);
    t.socket.destroy();
  });

  it('raw TCP: connection N gets the N-th recorded conversation byte for byte, then the last repeats', async () => {
    // The client says the same as when recorded; the names in the answers tell which recording spoke.
    assert.equal(await smtp(mock.outbound.port, smtpPort, 'first.test'), recorded.smtp[0]);
    assert.equal(await smtp(mock.outbound.port, smtpPort, 'second.test'), recorded.smtp[1]);
    assert.equal(await smtp(mock.outbound.port, smtpPort, 'second.test'), recorded.smtp[1]);
  });

  it('raw TCP miss: a destination with nothing recorded is closed, and /matches says why', async () => {
    const { socket, reader } = await connectTunnel(mock.outbound.port, '127.0.0.1:9');
    socket.write('\x00\x01 not a protocol anyone recorded');
    assert.equal((await reader.readToEnd()).length, 0);
    const miss = mock.stats().misses.find((m) => m.request === 'TCP 127.0.0.1:9');
    assert.match(miss?.explanation ?? '', /no raw TCP conversation with 127\.0\.0\.1:9 was recorded/);
  });
});
