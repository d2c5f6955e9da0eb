/**
 * Peers for replay tests: real HTTP/1.1 and HTTP/2 servers that note every request they get
 * (method, path, raw headers, body, connection), and a recording of real inbound traffic made
 * through tapwire's reverse proxy in front of such a server.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import type { Exchange } from '../../src/model/exchange.ts';
import { startTestRecording } from './recording.ts';

export interface Received {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  body: Buffer;
  /** Which client connection it came on (1, 2, … in order of connection). */
  conn: number;
}

export interface Peer {
  url: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}

export type Answer = (req: Received) => { status?: number; body?: string; delayMs?: number } | undefined;

const defaultAnswer: Answer = (r) => ({
  body: JSON.stringify({ method: r.method, url: r.url, size: r.body.length }),
});

/** An HTTP/1.1 server on 127.0.0.1:0. */
export async function startHttp1Peer(answer: Answer = defaultAnswer): Promise<Peer> {
  const received: Received[] = [];
  const conns = new WeakMap<net.Socket, number>();
  let nextConn = 1;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let conn = conns.get(req.socket);
      if (conn === undefined) conns.set(req.socket, (conn = nextConn++));
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(parts),
        conn,
      };
      received.push(r);
      const a = answer(r) ?? defaultAnswer(r) ?? {};
      const send = () => {
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json', 'x-served-by': 'peer' });
        res.end(a.body ?? '');
      };
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An h2c server (prior knowledge) on 127.0.0.1:0. */
export async function startHttp2Peer(answer: Answer = defaultAnswer): Promise<Peer> {
  const received: Received[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const conns = new WeakMap<http2.ServerHttp2Session, number>();
  let nextConn = 1;
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    conns.set(s, nextConn++);
    s.on('close', () => sessions.delete(s));
  });
  server.on(
    'stream',
    (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      const parts: Buffer[] = [];
      stream.on('error', () => undefined);
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        const r: Received = {
          method: String(headers[':method']),
          url: String(headers[':path']),
          httpVersion: '2.0',
          rawHeaders,
          body: Buffer.concat(parts),
          conn: conns.get(stream.session as http2.ServerHttp2Session) ?? 0,
        };
        received.push(r);
        const a = answer(r) ?? defaultAnswer(r) ?? {};
        stream.respond({ ':status': a.status ?? 200, 'content-type': 'application/json', 'x-served-by': 'peer' });
        stream.end(a.body ?? '');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Records `drive(proxyUrl)` through tapwire's inbound reverse proxy in front of `app` and returns
 * the exchanges (inbound and any others) in recorded order.
 */
export async function recordInbound(
  app: Peer,
  drive: (proxyUrl: string) => Promise<void>,
  name = 'replay-test',
): Promise<{ exchanges: Exchange[]; storeDir: string; snapshotId: string; cleanup: () => Promise<void> }> {
  const rec = await startTestRecording({ app: `127.0.0.1:${app.port}`, proxyType: 'reverse', name });
  try {
    await drive(rec.inUrl);
    const exchanges = await rec.stopAndRead();
    return { exchanges, storeDir: rec.storeDir, snapshotId: rec.recording.snapshotId, cleanup: () => rec.cleanup() };
  } catch (err) {
    await rec.cleanup();
    throw err;
  }
}

/** Header pairs of a raw list, without the ones a replay rewrites or drops. */
export function comparableHeaders(raw: readonly string[]): Array<[string, string]> {
  const skip = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive']);
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!name.startsWith(':') && !skip.has(name.toLowerCase())) out.push([name.toLowerCase(), raw[i + 1] as string]);
  }
  return out;
}

export function header(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) return raw[i + 1];
  return undefined;
}
