/**
 * End to end: HTTP/2 and gRPC served by `tapwire mock` from real recorded traffic. A real Node
 * http2 origin (over TLS, and h2c) and a real grpc-js server are recorded through the forward
 * proxy (TLS intercepted with the test CA); then the origins stop and the same clients go
 * through the responder's front door (CONNECT tunnels, TLS terminated with the same CA) and
 * must get what was recorded: concurrent streams, headers, bodies, trailers, all four gRPC
 * call types with their messages and status, a failing call, and misses explained.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import net from 'node:net';
import grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { pino } from 'pino';
import { MockIndex } from '../src/mock/mock-index.ts';
import { startResponder, type Responder } from '../src/mock/responder.ts';
import { isConversational } from '../src/mock/signature.ts';
import { serveHttp2 } from '../src/mock/serve-h2.ts';
import type { Exchange } from '../src/model/exchange.ts';
import { openStore } from '../src/store/fs/index.ts';
import { curl, needTool } from './helpers/forward.ts';
import {
  CATALOG_PROTO,
  createCatalogClient,
  FAIL_MESSAGE,
  sampleItem,
  startGrpcServer,
  type CatalogClient,
  type CatalogItem,
} from './helpers/grpc-peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';
import { connectThrough, makeOriginPki, startH2Origin, type OriginPki } from './helpers/tls-peers.ts';

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: string) => (text += d));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: text, trailers }));
    req.on('error', reject);
    req.end(body);
  });
}

/** The origin's behaviour, the same over TLS and h2c. */
function onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const p = String(headers[':path']);
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => (body += d));
  stream.on('error', () => undefined);
  stream.on('end', () => {
    if (p === '/trailers') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': String(body.length) }));
      stream.end('with trailers');
      return;
    }
    stream.respond({ ':status': 201, 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-path': p });
    stream.end(`${String(headers[':method'])} ${p} ${body}`);
  });
}

const shown = (a: Answer) => ({
  status: a.status,
  body: a.body,
  cookies: a.headers['set-cookie'],
  xPath: a.headers['x-path'],
  sum: a.trailers?.['x-sum'],
});

async function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  await new Promise<void>((resolve) => session.close(() => resolve()));
}

/** Streams on one session, several at once; what each client got. */
async function talk(session: http2.ClientHttp2Session): Promise<Answer[]> {
  const answers = await Promise.all([
    ...Array.from({ length: 8 }, (_, i) =>
      request(session, { ':method': 'POST', ':path': `/echo/${i}` }, `payload ${i}`),
    ),
    request(session, { ':method': 'POST', ':path': '/trailers' }, 'abc'),
    request(session, { ':path': '/hello' }),
  ]);
  return answers;
}

interface GrpcResults {
  item: CatalogItem;
  upload: { count: number; ids: string[]; totalCents: string };
  list: CatalogItem[];
  fail: { code: number; details: string };
}

async function grpcCalls(client: CatalogClient): Promise<GrpcResults> {
  const item = await client.getItem('r1');
  const upload = await client.uploadItems([sampleItem('u1'), sampleItem('u2')]);
  const list = await client.listItems(3, 'L');
  const err = await client.fail();
  return { item, upload, list, fail: { code: err.code, details: err.details } };
}

const ChatMessage = protobuf.loadSync(CATALOG_PROTO).lookupType('tapwire.test.ChatMessage');
const CHAT = '/tapwire.test.Catalog/Chat';

interface ChatResult {
  replies: string[];
  code: number;
  details: string;
}

/**
 * A bidi Chat with grpc-js, one message at a time, each after the previous reply (as the
 * recorded client did); settles with the replies and the status, whatever the outcome.
 */
function chat(target: string, proxy: string | undefined, texts: string[]): Promise<ChatResult> {
  const options: grpc.ChannelOptions = { 'grpc.enable_http_proxy': 0 };
  if (proxy) {
    options['grpc.http_connect_target'] = `dns:///${target}`;
    options['grpc.default_authority'] = target;
  }
  const client = new grpc.Client(proxy ?? target, grpc.credentials.createInsecure(), options);
  const call = client.makeBidiStreamRequest(
    CHAT,
    (m: { seq: number; text: string }) => Buffer.from(ChatMessage.encode(ChatMessage.fromObject(m)).finish()),
    (b: Buffer) => ChatMessage.toObject(ChatMessage.decode(b)) as { text: string },
  );
  const replies: string[] = [];
  let next = 0;
  const send = () => {
    if (next < texts.length) call.write({ seq: next + 1, text: texts[next++] as string });
    else call.end();
  };
  return new Promise((resolve) => {
    call.on('data', (m: { text: string }) => {
      replies.push(m.text);
      send();
    });
    call.on('error', () => undefined); // the status says it
    call.on('status', (s: grpc.StatusObject) => {
      client.close();
      resolve({ replies, code: s.code, details: s.details });
    });
    send();
  });
}

describe('mock: HTTP/2 and gRPC from a real recording', () => {
  let pki: OriginPki;
  let caDir: string;
  let rec: TestRecording;
  let mock: Responder;
  let tlsPort = 0;
  let h2cPort = 0;
  let grpcPort = 0;
  let recorded: { tls: Answer[]; h2c: Answer[]; grpc: GrpcResults; chat: ChatResult };
  let xs: Exchange[];

  before(async () => {
    pki = await makeOriginPki();
    caDir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-mock-ca-'));
    const tlsOrigin = await startH2Origin(await pki.issue('localhost'), onStream);
    const h2c = http2.createServer();
    h2c.on('stream', onStream);
    await new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve));
    const grpcServer = await startGrpcServer();
    [tlsPort, h2cPort, grpcPort] = [tlsOrigin.port, (h2c.address() as { port: number }).port, grpcServer.port];

    rec = await startTestRecording({ proxyType: 'forward', upstreamCa: [pki.caFile] }, { caDir });
    try {
      const ca = rec.recording.ca?.certPem ?? '';
      const secure = await h2Over(rec.outPort, `localhost:${tlsPort}`, ca);
      const clear = await h2cOver(rec.outPort, h2cPort);
      const client = createCatalogClient(`127.0.0.1:${grpcPort}`, { proxy: `127.0.0.1:${rec.outPort}` });
      try {
        recorded = {
          tls: await talk(secure),
          h2c: await talk(clear),
          grpc: await grpcCalls(client),
          chat: await chat(`127.0.0.1:${grpcPort}`, `127.0.0.1:${rec.outPort}`, ['a', 'b', 'c']),
        };
      } finally {
        client.close();
        await closeSession(secure);
        await closeSession(clear);
      }
      xs = await rec.stopAndRead();
    } finally {
      // The real dependencies are gone from here on: only the mock answers.
      await tlsOrigin.close();
      h2c.close();
      await grpcServer.close();
    }
    mock = await startResponder({
      snapshots: [rec.recording.snapshotId],
      store: openStore(rec.storeDir),
      outPort: 0,
      adminPort: 0,
      caDir,
      watch: false,
      logger: pino({ level: 'silent' }),
    });
  });

  after(async () => {
    await mock?.stop();
    await rec?.cleanup();
    pki?.cleanup();
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  });

  it('recorded every stream and call (the premise)', () => {
    const counts: Record<string, number> = {};
    for (const x of xs) counts[x.protocol] = (counts[x.protocol] ?? 0) + 1;
    assert.deepEqual(counts, { http: 20, grpc: 5 });
    assert.equal(recorded.tls[0]?.body, 'POST /echo/0 payload 0');
    assert.deepEqual(recorded.chat, { replies: ['echo: a', 'echo: b', 'echo: c'], code: 0, details: 'OK' });
  });

  it('HTTP/2 over TLS: concurrent streams get the recorded status, headers, body and trailers', async () => {
    const session = await h2Over(mock.outbound.port, `localhost:${tlsPort}`, mock.ca?.certPem ?? '');
    try {
      const answers = await talk(session);
      assert.deepEqual(answers.map(shown), recorded.tls.map(shown));
      assert.equal(answers[9]?.headers['content-length'], String('GET /hello '.length));
      assert.equal(answers[8]?.trailers?.['x-sum'], '3');
    } finally {
      await closeSession(session);
    }
  });

  it('h2c prior knowledge in a CONNECT tunnel: the recorded answers', async () => {
    const session = await h2cOver(mock.outbound.port, h2cPort);
    try {
      assert.deepEqual((await talk(session)).map(shown), recorded.h2c.map(shown));
    } finally {
      await closeSession(session);
    }
  });

  const noCurl = needTool('curl');
  it('curl: --http2 over TLS and --http2-prior-knowledge through the mock proxy', { skip: noCurl }, async () => {
    const caFile = path.join(caDir, 'ca.pem');
    const proxy = `http://127.0.0.1:${mock.outbound.port}`;
    const overTls = await curl([
      '-sS',
      '-x',
      proxy,
      '--cacert',
      caFile,
      '--http2',
      `https://localhost:${tlsPort}/hello`,
    ]);
    assert.equal(overTls.code, 0, overTls.stderr);
    assert.equal(overTls.stdout, 'GET /hello ');
    const prior = await curl([
      '-sS',
      '-p',
      '-x',
      proxy,
      '--http2-prior-knowledge',
      `http://127.0.0.1:${h2cPort}/hello`,
    ]);
    assert.equal(prior.code, 0, prior.stderr);
    assert.equal(prior.stdout, 'GET /hello ');
  });

  it('an HTTP/2 miss: 404, x-tapwire-mock: miss, and the explanation in JSON', async () => {
    const session = await h2cOver(mock.outbound.port, h2cPort);
    try {
      const a = await request(session, { ':method': 'POST', ':path': '/echo/1' }, 'another payload');
      assert.equal(a.status, 404);
      assert.equal(a.headers['x-tapwire-mock'], 'miss');
      const json = JSON.parse(a.body) as { explanation: string; candidates: Array<{ request: string }> };
      assert.match(json.explanation, /body/);
      assert.match(json.candidates[0]?.request ?? '', /\/echo\/1$/);
    } finally {
      await closeSession(session);
    }
  });

  it('gRPC through the mock: unary, client streaming, server streaming, and a failing call', async () => {
    const client = createCatalogClient(`127.0.0.1:${grpcPort}`, { proxy: `127.0.0.1:${mock.outbound.port}` });
    try {
      const got = await grpcCalls(client);
      assert.deepEqual(got, recorded.grpc);
      assert.deepEqual(got.item, sampleItem('r1'));
      assert.deepEqual(got.fail, { code: 5, details: FAIL_MESSAGE });
    } finally {
      client.close();
    }
  });

  it('gRPC bidi through the front door: each reply after the message it answered', async () => {
    const got = await chat(`127.0.0.1:${grpcPort}`, `127.0.0.1:${mock.outbound.port}`, ['a', 'b', 'c']);
    assert.deepEqual(got, recorded.chat);
  });

  it('gRPC bidi, served by serveHttp2 with an index that signs conversations by their first message', async () => {
    const byId = new Map(xs.map((x) => [x.id, x]));
    const index = MockIndex.build(xs.map(firstMessageOnly), { rules: [] });
    const results: string[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (socket) =>
      serveHttp2(socket, {
        scheme: 'http',
        host: '127.0.0.1',
        port: grpcPort,
        index: () => ({
          match: (req) => {
            const r = index.match(req);
            return r.kind === 'hit' ? { ...r, exchange: byId.get(r.exchange.id) as Exchange } : r;
          },
          tcpFor: () => [],
        }),
        stats: { record: (_req, r) => results.push(r.kind) },
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const got = await chat(`127.0.0.1:${port}`, undefined, ['a', 'b', 'c']);
      assert.deepEqual(got, recorded.chat);
      const other = await chat(`127.0.0.1:${port}`, undefined, ['z']);
      assert.equal(other.code, 5, 'a first message never recorded: NOT_FOUND');
      assert.deepEqual(results, ['hit', 'miss']);
    } finally {
      server.close();
    }
  });

  it('gRPC misses: NOT_FOUND for a recorded method asked other messages, UNIMPLEMENTED for an unrecorded one', async () => {
    const client = createCatalogClient(`127.0.0.1:${grpcPort}`, { proxy: `127.0.0.1:${mock.outbound.port}` });
    try {
      const err = await client.getItem('never-recorded').then(
        () => assert.fail('a miss must fail'),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(err.code, 5);
      assert.match(err.details, /body/);
    } finally {
      client.close();
    }
    const session = await h2cOver(mock.outbound.port, grpcPort);
    try {
      const a = await request(session, {
        ':method': 'POST',
        ':path': '/tapwire.test.Nothing/Here',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      assert.equal(a.status, 200);
      assert.equal(a.headers['grpc-status'], '12');
      assert.equal(a.headers['x-tapwire-mock'], 'miss');
      assert.ok(String(a.headers['grpc-message']).length > 0);
    } finally {
      await closeSession(session);
    }
    const stats = mock.stats();
    assert.ok(stats.misses.some((m) => m.request.includes('/tapwire.test.Nothing/Here')));
  });
});

/** A recorded conversation as the index should sign it: by its first request message. */
function firstMessageOnly(x: Exchange): Exchange {
  if (x.protocol !== 'grpc' || !isConversational(x.grpc)) return x;
  const first = x.grpc.messages.find((m) => m.dir === 'c2s');
  return { ...x, grpc: { ...x.grpc, messages: first ? [first] : [] } };
}

/** An HTTP/2 session over TLS through a CONNECT tunnel, trusting `ca`. */
async function h2Over(proxyPort: number, authority: string, ca: string): Promise<http2.ClientHttp2Session> {
  const raw = await connectThrough(proxyPort, authority);
  const servername = authority.replace(/:\d+$/, '');
  return http2.connect(`https://${authority}`, {
    createConnection: () => tls.connect({ socket: raw, servername, ca, ALPNProtocols: ['h2'] }),
  });
}

/** An h2c (prior knowledge) session through a CONNECT tunnel. */
async function h2cOver(proxyPort: number, port: number): Promise<http2.ClientHttp2Session> {
  const raw = await connectThrough(proxyPort, `127.0.0.1:${port}`);
  return http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => raw });
}
