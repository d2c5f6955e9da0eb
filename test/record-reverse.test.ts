/** End to end: clients → tapwire's inbound reverse proxy → a real origin, recorded. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request as undiciRequest, Agent } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import http from 'node:http';
import type net from 'node:net';
import { rawExchange, run, startOrigin, type Origin } from './helpers/peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';
import type { HttpExchange } from '../src/model/exchange.ts';
import { decodeBody } from '../src/model/body.ts';

describe('record: inbound reverse proxy', () => {
  let origin: Origin;
  let rec: TestRecording;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', 'http://x');
        if (url.pathname === '/cookies') {
          res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
          res.end('cookies');
        } else if (url.pathname === '/chunked') {
          res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
          res.write('hello ');
          res.write('chunked ');
          res.addTrailers({ 'X-Checksum': 'abc123' });
          res.end('world');
        } else if (url.pathname === '/big') {
          const size = Number(url.searchParams.get('size'));
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
          const block = Buffer.alloc(64 * 1024, 0x61);
          let left = size;
          const pump = () => {
            while (left > 0) {
              const n = Math.min(left, block.length);
              left -= n;
              if (!res.write(block.subarray(0, n))) return res.once('drain', pump);
            }
            res.end();
          };
          pump();
        } else if (url.pathname === '/nocontent') {
          res.writeHead(204);
          res.end();
        } else if (url.pathname === '/notmodified') {
          res.writeHead(304, { ETag: '"x"' });
          res.end();
        } else {
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({ method: req.method, url: req.url, bodyLength: body.length, rawHeaders: req.rawHeaders }),
          );
        }
      });
    });
    rec = await startTestRecording({ app: `127.0.0.1:${origin.port}` });
  });

  after(async () => {
    await rec.cleanup();
    await origin.close();
  });

  it('proxies and records a keep-alive sequence with header order and case kept', async () => {
    const agent = new Agent({ connections: 1 });
    for (let i = 0; i < 3; i++) {
      const res = await undiciRequest(`${rec.inUrl}/items/${i}?q=${i}`, {
        dispatcher: agent,
        method: 'POST',
        headers: ['X-First', '1', 'content-type', 'application/json', 'X-MiXeD-CaSe', 'yes', 'x-first', '2'],
        body: JSON.stringify({ i }),
      });
      const json = (await res.body.json()) as { method: string; rawHeaders: string[]; bodyLength: number };
      assert.equal(res.statusCode, 200);
      assert.equal(json.method, 'POST');
      assert.equal(json.bodyLength, JSON.stringify({ i }).length);
      // The origin saw the headers in the order and case the client sent.
      const names = json.rawHeaders.filter((_, k) => k % 2 === 0);
      assert.deepEqual(
        names.filter((n) => /^x-/i.test(n)),
        ['X-First', 'X-MiXeD-CaSe', 'x-first'],
      );
    }
    await agent.close();
  });

  it('passes chunked bodies with trailers, repeated Set-Cookie, 204 and 304', async () => {
    const chunked = await run('curl', ['-sS', '--raw', '-D', '-', `${rec.inUrl}/chunked`]);
    assert.equal(chunked.code, 0, chunked.stderr);
    assert.match(chunked.stdout, /Transfer-Encoding: chunked/i);
    assert.match(chunked.stdout, /X-Checksum: abc123/);
    const cookies = await run('curl', ['-sS', '-D', '-', `${rec.inUrl}/cookies`]);
    assert.equal((cookies.stdout.match(/Set-Cookie/g) ?? []).length, 2);
    const nc = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${rec.inUrl}/nocontent`,
      `${rec.inUrl}/notmodified`,
    ]);
    assert.equal(nc.stdout, '204304');
    const head = await run('curl', ['-sS', '-I', `${rec.inUrl}/items/head`]);
    assert.match(head.stdout, /^HTTP\/1\.1 200/);
  });

  it('pipelines requests on one connection and keeps responses in order', async () => {
    const reqs =
      [1, 2, 3].map((i) => `GET /pipe/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') +
      'GET /pipe/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const got = await rawExchange(Number(new URL(rec.inUrl).port), reqs);
    const urls = [...got.matchAll(/"url":"(\/pipe\/\d)"/g)].map((m) => m[1]);
    assert.deepEqual(urls, ['/pipe/1', '/pipe/2', '/pipe/3', '/pipe/4']);
  });

  it('handles Expect: 100-continue', async () => {
    const body = 'x'.repeat(2000);
    const res = await run('curl', ['-sS', '-H', 'Expect: 100-continue', '--data-binary', body, `${rec.inUrl}/expect`]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).bodyLength, 2000);
  });

  it('streams a body far larger than the capture cap', async () => {
    const size = 8 * 1024 * 1024;
    const res = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{size_download}',
      `${rec.inUrl}/big?size=${size}`,
    ]);
    assert.equal(Number(res.stdout), size);
  });

  it('passes a WebSocket upgrade through', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(isBinary ? m : `echo:${m.toString()}`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const wsRec = await startTestRecording({ app: `127.0.0.1:${(server.address() as net.AddressInfo).port}` });
    try {
      const ws = new WebSocket(`${wsRec.inUrl.replace('http', 'ws')}/socket`);
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      ws.send('hello');
      const msg = await new Promise<Buffer>((r) => ws.once('message', (data) => r(data as Buffer)));
      assert.equal(msg.toString(), 'echo:hello');
      ws.close();
      await new Promise((r) => ws.once('close', r));
      const xs = await wsRec.stopAndRead();
      const up = xs.find((x) => x.protocol === 'websocket');
      assert.ok(up, 'the upgrade is recorded as a websocket exchange');
      assert.equal(up.protocol === 'websocket' && up.response?.status, 101);
      const texts = up.protocol === 'websocket' ? (up.messages ?? []).filter((m) => m.type === 'text') : [];
      assert.deepEqual(
        texts.map((m) => [m.dir, m.data.data]),
        [
          ['c2s', 'hello'],
          ['s2c', 'echo:hello'],
        ],
        'the messages of the session are recorded',
      );
    } finally {
      await wsRec.cleanup();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('answers malformed requests with 400 and 431 and keeps serving others', async () => {
    const port = Number(new URL(rec.inUrl).port);
    const bad = await rawExchange(port, 'GET /a b c\r\nHost: x\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    assert.match(bad, /X-Tapwire-Error: TW_HTTP_BAD_REQUEST_LINE/);
    const huge = await rawExchange(port, `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    const badChunk = await rawExchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    assert.match(badChunk, /HTTP\/1\.1 400 /);
    const ok = await run('curl', ['-sS', `${rec.inUrl}/still-ok`]);
    assert.equal(JSON.parse(ok.stdout).url, '/still-ok');
  });

  it('wrote what it saw to the snapshot', async () => {
    const xs = (await rec.stopAndRead()) as HttpExchange[];
    const items = xs.filter((x) => x.request.url.includes('/items/') && x.request.method === 'POST');
    assert.equal(items.length, 3);
    const first = items[0] as HttpExchange;
    assert.equal(first.direction, 'inbound');
    assert.equal(first.request.url, `${rec.inUrl}/items/0?q=0`);
    assert.deepEqual(
      first.request.headers.filter(([n]) => /^x-/i.test(n)),
      [
        ['X-First', '1'],
        ['X-MiXeD-CaSe', 'yes'],
        ['x-first', '2'],
      ],
    );
    assert.equal(decodeBody(first.request.body).toString(), '{"i":0}');
    assert.equal(first.response?.status, 200);
    const chunked = xs.find((x) => x.request.url.endsWith('/chunked'));
    assert.equal(decodeBody(chunked?.response?.body).toString(), 'hello chunked world');
    assert.deepEqual(chunked?.response?.trailers, [['X-Checksum', 'abc123']]);
    const cookies = xs.find((x) => x.request.url.endsWith('/cookies'));
    assert.equal(cookies?.response?.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').length, 2);
    const big = xs.find((x) => x.request.url.includes('/big'));
    assert.equal(big?.response?.body?.size, 8 * 1024 * 1024);
    assert.equal(big?.response?.body?.truncated, true);
    assert.equal(
      Buffer.from(big?.response?.body?.data ?? '', big?.response?.body?.encoding === 'base64' ? 'base64' : 'utf8')
        .length,
      1024 * 1024,
    );
    const pipes = xs.filter((x) => x.request.url.includes('/pipe/')).map((x) => new URL(x.request.url).pathname);
    assert.deepEqual(pipes, ['/pipe/1', '/pipe/2', '/pipe/3', '/pipe/4']);
    const expect = xs.find((x) => x.request.url.endsWith('/expect'));
    assert.equal(expect?.request.body?.size, 2000);
    const head = xs.find((x) => x.request.method === 'HEAD');
    assert.equal(head?.response?.status, 200);
    assert.equal(head?.response?.body, undefined);
  });
});
