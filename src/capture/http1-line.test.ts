import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Exchange, ExchangeError } from '../model/exchange.ts';
import { parseExchange } from '../model/migrate.ts';
import { parseRawHead } from '../protocols/http1/head.ts';
import { openStore } from '../store/fs/index.ts';
import { InThreadSink } from './batch-sink.ts';
import { buildHttpExchange, InFlight, type ExchangeContext } from './http1-exchange.ts';
import { contextParts, writeHttpLine } from './http1-line.ts';
import { JsonOut } from './json-out.ts';
import { BatchPacker, unpackRecord } from './packed-batch.ts';
import { Packer, type RawHttp } from './raw-record.ts';

const ctx: ExchangeContext = { direction: 'inbound', service: 'shop', bodyCap: 4096, tags: { proxyType: 'reverse' } };

interface Case {
  name: string;
  req: string | Buffer;
  reqBody?: Buffer[];
  reqTrailers?: [string, string][];
  res?: string | Buffer;
  resBody?: Buffer[];
  resTrailers?: [string, string][];
  error?: ExchangeError;
  ctx?: ExchangeContext;
  connectMs?: number;
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const big = Buffer.concat([Buffer.alloc(5000, 'a'), Buffer.from('\x01\x1b\x7f"\\\t\n\r\f\b end')]);

const cases: Case[] = [
  {
    name: 'GET and a 1 KiB text response',
    req: 'GET /1k.bin?x=1 HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: wrk\r\n\r\n',
    res: 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n',
    resBody: [Buffer.alloc(1024, 'x')],
  },
  {
    name: 'chunked both ways, with trailers, body split in chunks',
    req: 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n',
    reqBody: [Buffer.from('{"a":'), Buffer.from('"b\\"c"}')],
    reqTrailers: [['X-Sum', '12']],
    res: 'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n',
    resBody: [Buffer.from('ok\n'), Buffer.from('déjà vu ✓\n')],
    resTrailers: [
      ['Server-Timing', 'db;dur=5'],
      ['X-Empty', ''],
    ],
  },
  {
    name: 'binary bodies, obs-text and odd characters in headers',
    req: latin1(
      '\r\nPUT /caf\xe9/%20?q="x" HTTP/1.0\r\nHost: a:8080\r\nX-Quote: say "hi" \\ there\t \r\nX-Tab:\tv\tw\r\nX-Empty:\r\nContent-Type: image/png; name=caf\xe9\r\n\r\n',
    ),
    reqBody: [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff])],
    res: latin1('HTTP/1.0 200 Caf\xe9 OK\r\ncontent-TYPE: application/octet-stream\r\nX-Bytes: \xff\x80\r\n\r\n'),
    resBody: [Buffer.from([0, 0, 0, 0xfe])],
  },
  {
    name: 'truncated bodies (a multi-byte character cut at the cap) and control bytes past 4 KiB',
    ctx: { ...ctx, bodyCap: 5 },
    req: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n',
    reqBody: [Buffer.from('abcé€fghij')],
    res: 'HTTP/1.1 200 OK\r\nContent-Length: 5020\r\n\r\n',
    resBody: [Buffer.from('aaaa'), Buffer.from('ab')],
  },
  {
    name: 'escapes in a large utf8 body',
    ctx: { ...ctx, bodyCap: 1 << 20 },
    req: 'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    res: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n',
    resBody: [big],
  },
  {
    name: 'status lines without a reason, empty bodies kept with cap 0',
    ctx: { direction: 'outbound', service: 'x', bodyCap: 0 },
    req: 'DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n',
    reqBody: [Buffer.from('abc')],
    res: 'HTTP/1.1 204\r\nDate: now\r\n\r\n',
    connectMs: 1.23456,
  },
  {
    name: 'a reason of one space, no header lines at all',
    req: 'GET / HTTP/1.1\r\n\r\n',
    res: 'HTTP/1.1 404 \r\n\r\n',
  },
  {
    name: 'an upstream failure: no response, an error',
    ctx: { ...ctx, tags: undefined, tls: { mode: 'intercepted', sni: 'a.test', alpn: ['http/1.1'] }, scheme: 'https' },
    req: 'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n',
    error: { kind: 'timeout', message: 'the upstream did not respond "in time"', phase: 'response' },
    connectMs: 0,
  },
  {
    name: 'a 101 (left to the general path)',
    req: 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    res: 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  },
];

function flight(c: Case, i: number): InFlight {
  const reqRaw = typeof c.req === 'string' ? Buffer.from(c.req) : c.req;
  const f = new InFlight(
    parseRawHead('request', reqRaw),
    `http://a.test/${i}?"é"`,
    { host: 'a.test', port: 80 },
    '127.0.0.1:5000',
    c.ctx ?? ctx,
  );
  for (const chunk of c.reqBody ?? []) f.reqBody.add(chunk);
  if (c.reqTrailers) f.reqTrailers = c.reqTrailers;
  if (c.connectMs !== undefined) f.connectMs = c.connectMs;
  if (c.res) {
    f.responseHead(parseRawHead('response', typeof c.res === 'string' ? Buffer.from(c.res) : c.res));
    for (const chunk of c.resBody ?? []) f.resBody?.add(chunk);
    if (c.resTrailers) f.resTrailers = c.resTrailers;
  }
  f.finish(c.error);
  return f;
}

/** The records of all cases, packed in one batch as the recorder does, and unpacked. */
function packedCases(): { raws: RawHttp[]; bytes: Buffer } {
  const packer = new BatchPacker();
  cases.forEach((c, i) => packer.add(flight(c, i).pack(packer.packer)));
  const { batch } = packer.finish();
  const bytes = Buffer.from(batch.bytes);
  return { raws: cases.map((_, i) => unpackRecord(batch, i, bytes) as RawHttp), bytes };
}

const withoutId = (line: string) => line.replace(/^\{"v":1,"id":"[0-9A-Z]{26}"/, '{"v":1,"id":"-"');

describe('writeHttpLine', () => {
  const { raws, bytes } = packedCases();
  cases.forEach((c, i) => {
    it(`writes what buildHttpExchange + JSON.stringify write: ${c.name}`, () => {
      const raw = raws[i] as RawHttp;
      const expected = JSON.stringify(buildHttpExchange(raw, bytes));
      const out = new JsonOut(16);
      const parts = contextParts(raw.ctx);
      assert.ok(parts);
      if (!writeHttpLine(raw, bytes, parts, out)) {
        assert.equal(c.name, 'a 101 (left to the general path)', 'only the 101 case is left to the general path');
        assert.equal(out.at, 0, 'nothing written when declined');
        return;
      }
      const line = out.bytes.toString('utf8');
      assert.ok(line.endsWith('}\n'));
      assert.equal(withoutId(line.slice(0, -1)), withoutId(expected)); // same keys, order, escapes
      const parsed = parseExchange(JSON.parse(line)) as Exchange; // and valid against the schema
      assert.match(parsed.id, /^[0-9A-Z]{26}$/);
    });
  });

  it('declines records with fields or contexts it does not know', () => {
    const raw = { ...(raws[0] as RawHttp), ws: { messages: [], truncated: false } } as RawHttp;
    const out = new JsonOut();
    assert.equal(writeHttpLine(raw, bytes, contextParts(raw.ctx)!, out), false);
    assert.equal(contextParts({ ...ctx, somethingNew: 1 } as ExchangeContext), undefined);
  });
});

describe('InThreadSink lines', () => {
  it('writes a snapshot the reader reads back as the built exchanges (built records and failures too)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-lines-'));
    try {
      const store = openStore(dir);
      const writer = await store.create({ name: 'lines', segmentExchanges: 4 });
      const sink = new InThreadSink(writer);
      const packer = new BatchPacker(2);
      cases.forEach((c, i) => packer.add(flight(c, i).pack(packer.packer)));
      const other = new Packer();
      const rec = flight(cases[0] as Case, 99).pack(other);
      const tcp = buildHttpExchange(rec, Buffer.from(other.finish()));
      packer.add({ t: 'built', exchange: tcp });
      const { batch } = packer.finish();
      // The general path, from the same batch (before the lines path takes it).
      const bytes = Buffer.from(batch.bytes.slice(0));
      const expected = cases.map((_, i) => buildHttpExchange(unpackRecord(batch, i, bytes) as RawHttp, bytes));
      const result = await sink.write(batch, false);
      assert.equal(result.failed, 0);
      assert.deepEqual(
        result.written.map((w) => [w.direction, w.protocol, w.durationsMs.length]),
        [
          ['inbound', 'http', 8], // 7 written from their bytes, and the built one
          ['outbound', 'http', 1],
          ['inbound', 'websocket', 1],
        ],
      );
      const meta = await sink.close(0);
      assert.equal(meta.counts.exchanges, cases.length + 1);
      assert.equal(meta.segments.length, 3);
      const problems: unknown[] = [];
      const read: Exchange[] = [];
      for await (const x of (await store.open(meta.id)).exchanges({ onProblem: (p) => problems.push(p) })) read.push(x);
      assert.deepEqual(problems, []);
      const strip = (x: Exchange) => ({ ...x, id: '-' });
      assert.deepEqual(read.slice(0, -1).map(strip), expected.map(strip));
      assert.deepEqual(strip(read.at(-1) as Exchange), strip(tcp));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
