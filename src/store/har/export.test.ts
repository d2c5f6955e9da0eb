import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { httpExchange, tcpExchange } from '../../../test/helpers/exchanges.ts';
import { harSchemaErrors } from '../../../test/helpers/har-schema.ts';
import { encodeBody } from '../../model/body.ts';
import type { Exchange, HttpExchange, WebsocketMessage } from '../../model/exchange.ts';
import { exchangesToHar, harJsonChunks, type HarEntryWithWebSocket } from './export.ts';
import { harToExchanges } from './import.ts';

const html = '<html><body>' + 'hello tapwire '.repeat(40) + '</body></html>';
const gz = gzipSync(html);
const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

/** One of each shape HAR has to carry. */
function variety(): Exchange[] {
  const post: HttpExchange = httpExchange(1, {
    direction: 'inbound',
    service: 'shop',
    src: '10.0.0.7:51000',
    dst: '127.0.0.1:3000',
    tags: { pod: 'shop-7d9f', mode: 'reverse' },
  });
  post.request = {
    method: 'POST',
    url: 'http://localhost:3000/cart?x=1&x=2&y=a%20b',
    httpVersion: '1.1',
    headers: [
      ['Host', 'localhost:3000'],
      ['Content-Type', 'application/x-www-form-urlencoded'],
      ['X-Dup', 'one'],
      ['x-dup', 'two'],
    ],
    body: {
      encoding: 'utf8',
      data: 'sku=A1&qty=2',
      size: 12,
      truncated: false,
      contentType: 'application/x-www-form-urlencoded',
    },
    trailers: [['X-Checksum', 'abc']],
  };
  const binary = httpExchange(2, {
    tls: { sni: 'api.example.com', alpn: ['h2'], version: 'TLSv1.3', mode: 'intercepted' },
  });
  binary.request = {
    ...binary.request,
    method: 'PUT',
    httpVersion: '2',
    headers: [['content-type', 'application/octet-stream']],
    body: { encoding: 'base64', data: Buffer.from([0, 1, 2, 250, 251]).toString('base64'), size: 5, truncated: false },
  };
  binary.response = {
    status: 200,
    statusText: '',
    httpVersion: '2',
    headers: [['content-type', 'image/png']],
    body: {
      encoding: 'base64',
      data: png.toString('base64'),
      size: png.length,
      truncated: false,
      contentType: 'image/png',
    },
    trailers: [['grpc-status', '0']],
  };
  const gzipped = httpExchange(3, { timings: { ttfbMs: 4 } });
  gzipped.response = {
    status: 200,
    statusText: 'OK',
    httpVersion: '1.1',
    headers: [
      ['Content-Type', 'text/html'],
      ['Content-Encoding', 'gzip'],
      ['Content-Length', String(gz.length)],
    ],
    body: {
      encoding: 'base64',
      data: gz.toString('base64'),
      size: gz.length,
      truncated: false,
      contentType: 'text/html',
    },
  };
  const truncated = httpExchange(4);
  truncated.response = {
    status: 200,
    statusText: 'OK',
    httpVersion: '1.1',
    headers: [['Content-Type', 'text/plain']],
    body: { encoding: 'utf8', data: 'the first bytes', size: 5_000_000, truncated: true, contentType: 'text/plain' },
  };
  const failed = httpExchange(5, {
    error: { kind: 'refused', message: 'connect ECONNREFUSED 10.0.0.9:80', phase: 'connect' },
  });
  delete failed.response;
  delete failed.timings;
  const ws: Exchange = {
    ...httpExchange(6),
    protocol: 'websocket',
    response: {
      status: 101,
      statusText: 'Switching Protocols',
      httpVersion: '1.1',
      headers: [['Upgrade', 'websocket']],
    },
    messages: wsMessages(),
    messagesTruncated: true,
  };
  return [httpExchange(0), post, binary, gzipped, truncated, failed, ws];
}

/** Every kind of WebSocket message, and bodies Chrome's fields cannot hold exactly. */
function wsMessages(): WebsocketMessage[] {
  return [
    { dir: 'c2s', tMs: 1.234567, type: 'text', data: encodeBody(Buffer.from('héllo')) },
    { dir: 's2c', tMs: 2.5, type: 'binary', data: encodeBody(Buffer.from([0, 1, 2, 255])) },
    { dir: 's2c', tMs: 3, type: 'binary', data: encodeBody(Buffer.from('looks like text')) },
    { dir: 'c2s', tMs: 4, type: 'text', data: encodeBody(Buffer.from([0x61, 0x00, 0x62])) },
    { dir: 'c2s', tMs: 5, type: 'ping', data: encodeBody(Buffer.alloc(0)) },
    { dir: 's2c', tMs: 6, type: 'pong', data: encodeBody(Buffer.alloc(0)) },
    { dir: 's2c', tMs: 7, type: 'text', data: encodeBody(Buffer.from('abc'), 4096) },
    { dir: 'c2s', tMs: 8, type: 'close', data: encodeBody(Buffer.from('bye')), code: 4001, reason: 'bye' },
  ];
}

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

void describe('HAR export', () => {
  void test('export then import gives back the same exchanges; TCP is skipped and counted', () => {
    const xs = variety();
    const { har, skippedTcp } = exchangesToHar([...xs, tcpExchange(9)], { creatorVersion: '0.1.0' });
    assert.equal(skippedTcp, 1);
    assert.equal(har.log.entries.length, xs.length);
    const back = harToExchanges(json(har));
    assert.deepEqual(back.skipped, []);
    assert.deepEqual(json(back.exchanges), json(xs));
  });

  void test("WebSocket messages are written in Chrome's `_webSocketMessages` form and read back", () => {
    const ws = variety().find((x) => x.protocol === 'websocket');
    assert.ok(ws);
    const { har } = exchangesToHar([ws], { creatorVersion: '0.1.0' });
    const entry = har.log.entries[0] as HarEntryWithWebSocket;
    const start = Date.parse(ws.ts);
    assert.deepEqual(
      entry._webSocketMessages?.map(({ type, time, opcode, data }) => [
        type,
        Math.round(time * 1000 - start),
        opcode,
        data,
      ]),
      [
        ['send', 1, 1, 'héllo'],
        ['receive', 3, 2, 'AAEC/w=='],
        ['receive', 3, 2, Buffer.from('looks like text').toString('base64')],
        ['send', 4, 1, 'a\u0000b'],
        ['send', 5, 9, ''],
        ['receive', 6, 10, ''],
        ['receive', 7, 1, 'abc'],
        ['send', 8, 8, 'bye'],
      ],
    );
    // A browser's file has no `_tapwire`: the messages are read from Chrome's fields alone.
    const plain = json(entry);
    delete plain._tapwire;
    for (const m of plain._webSocketMessages ?? []) delete m._tapwire;
    const [back] = harToExchanges({ log: { entries: [plain] } }).exchanges;
    assert.equal(back?.protocol, 'websocket');
    const messages = back?.protocol === 'websocket' ? (back.messages ?? []) : [];
    assert.deepEqual(
      messages.map((m) => [m.dir, m.type, m.data.data, Math.round(m.tMs)]),
      [
        ['c2s', 'text', 'héllo', 1],
        ['s2c', 'binary', 'AAEC/w==', 3],
        ['s2c', 'binary', 'looks like text', 3],
        ['c2s', 'text', 'YQBi', 4],
        ['c2s', 'ping', '', 5],
        ['s2c', 'pong', '', 6],
        ['s2c', 'text', 'abc', 7],
        ['c2s', 'close', 'bye', 8],
      ],
    );
  });

  void test('the export validates against the HAR 1.2 schema', () => {
    const { har } = exchangesToHar(variety(), { creatorVersion: '0.1.0' });
    assert.deepEqual(harSchemaErrors(json(har)), []);
  });

  void test('the streaming export is the same document', async () => {
    const xs = [...variety(), tcpExchange(8)];
    const stats = { written: 0, skippedTcp: 0 };
    let text = '';
    for await (const piece of harJsonChunks(xs, { creatorVersion: '0.1.0' }, stats)) text += piece;
    assert.deepEqual(JSON.parse(text), json(exchangesToHar(xs, { creatorVersion: '0.1.0' }).har));
    assert.deepEqual(stats, { written: xs.length - 1, skippedTcp: 1 });
    let empty = '';
    for await (const piece of harJsonChunks([], { creatorVersion: '0.1.0' })) empty += piece;
    assert.deepEqual(JSON.parse(empty).log.entries, []);
    assert.deepEqual(harSchemaErrors(JSON.parse(empty)), []);
  });

  void test('HAR fields: headers, cookies, query, postData, content, timings', () => {
    const [plain, post, binary, gzipped, truncated, failed] = variety();
    const { har } = exchangesToHar([plain!, post!, binary!, gzipped!, truncated!, failed!], {
      creatorVersion: '9.9.9',
    });
    const [e0, e1, e2, e3, e4, e5] = har.log.entries;
    assert.deepEqual(har.log.creator, { name: 'tapwire', version: '9.9.9' });

    assert.equal(e0?.request.httpVersion, 'HTTP/1.1');
    assert.deepEqual(e0?.request.cookies, [
      { name: 'session', value: 'abc123' },
      { name: 'theme', value: 'dark' },
    ]);
    assert.deepEqual(e0?.response.cookies, [
      { name: 'session', value: 'abc123', path: '/', httpOnly: true, secure: true },
      { name: 'seen', value: '1', expires: '2026-10-21T07:28:00.000Z' },
    ]);
    assert.deepEqual(e0?.request.queryString, [
      { name: 'fields', value: 'name' },
      { name: 'fields', value: 'email' },
    ]);
    // connect 3 + wait (10 - 3) + receive (12.5 - 10) = time
    assert.deepEqual(e0?.timings, { blocked: -1, dns: -1, connect: 3, ssl: -1, send: 0, wait: 7, receive: 2.5 });
    assert.equal(e0?.time, 12.5);
    assert.equal(e0?.request.bodySize, 0);
    assert.equal(e0?.request.headersSize, -1);

    assert.deepEqual(
      e1?.request.headers.map((h) => [h.name, h.value]),
      post?.protocol === 'http' ? post.request.headers : [],
      'order, case and repeats kept',
    );
    assert.deepEqual(e1?.request.postData, {
      mimeType: 'application/x-www-form-urlencoded',
      text: 'sku=A1&qty=2',
      params: [
        { name: 'sku', value: 'A1' },
        { name: 'qty', value: '2' },
      ],
    });
    assert.deepEqual(e1?.request.queryString, [
      { name: 'x', value: '1' },
      { name: 'x', value: '2' },
      { name: 'y', value: 'a b' },
    ]);
    assert.equal(e1?.serverIPAddress, '127.0.0.1');
    assert.equal(e1?._tapwire?.direction, 'inbound');

    assert.equal(e2?.request.httpVersion, 'HTTP/2');
    assert.equal(e2?._tapwire?.request.body?.data, 'AAEC+vs=', 'binary request bodies travel in _tapwire');
    assert.deepEqual(e2?.response.content, {
      size: 68,
      mimeType: 'image/png',
      text: png.toString('base64'),
      encoding: 'base64',
    });

    assert.equal(e3?.response.content.text, html, 'a gzip body is shown decoded');
    assert.equal(e3?.response.content.size, html.length);
    assert.equal(e3?.response.content.compression, html.length - gz.length);
    assert.equal(e3?.response.bodySize, gz.length);
    assert.equal(e3?._tapwire?.response?.body?.data, gz.toString('base64'));

    assert.equal(e4?.response.content.size, 5_000_000);
    assert.match(e4?.response.content.comment ?? '', /truncated/);

    assert.equal(e5?.response.status, 0);
    assert.match(e5?.response._error ?? '', /refused: connect ECONNREFUSED/);
  });
});
