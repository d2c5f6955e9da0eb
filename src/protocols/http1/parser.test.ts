/**
 * Tests for the incremental HTTP/1 parser. Every scripted input is fed whole, byte by byte and
 * at random split points; all feeds must give the same events, and head.raw plus the onRaw
 * slices (plus the tunnel bytes after a tunnel) must reproduce the input byte for byte.
 *
 * Randomness comes from a seeded PRNG; set HTTP1_TEST_SEED to replay a failure (every
 * assertion message that depends on randomness names its seed), and HTTP1_FUZZ_SCALE=10 (say)
 * for a longer fuzz run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { HeaderList } from '../../model/exchange.ts';
import { Http1ParseError, type Http1ErrorCode, type Http1Head } from './head.ts';
import { Http1Parser, type HeadDecision } from './parser.ts';
import { mulberry32 as prng } from '../../../test/helpers/prng.ts';

const BASE_SEED = Number(process.env.HTTP1_TEST_SEED ?? 0x5eed1);
const FUZZ_SCALE = Number(process.env.HTTP1_FUZZ_SCALE ?? 1);
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);

// ---------------------------------------------------------------------------------------------
// The driver: feeds chunks the way the proxy would, records events.

interface Script {
  kind: 'request' | 'response';
  maxHeadBytes?: number;
  /** Decision for the n-th head (default 'continue'). */
  onHead?: (head: Http1Head, n: number) => HeadDecision;
  /** Return for the n-th onComplete. */
  onComplete?: (n: number) => 'pause' | void;
  /** What to do at the n-th pause: resume (default) or turn the rest into a tunnel. */
  onPause?: (n: number) => 'resume' | 'tunnel';
  /** Call finish() at the end of the input (default true). */
  finish?: boolean;
}

interface HeadSummary {
  method: string;
  target: string;
  status: number;
  statusText: string;
  version: string;
  headers: HeaderList;
  contentLength: number | undefined;
  chunked: boolean;
  close: boolean;
  upgrade: string | undefined;
  expectContinue: boolean;
  raw: string;
}

type Ev =
  | { e: 'head'; head: HeadSummary }
  | { e: 'data'; data: string }
  | { e: 'trailers'; trailers: HeaderList }
  | { e: 'complete' }
  | { e: 'pause' }
  | { e: 'tunnel' }
  | { e: 'error'; code: Http1ErrorCode }
  | { e: 'finish'; code: Http1ErrorCode | undefined };

interface Outcome {
  events: Ev[];
  /** head.raw and onRaw bytes, in order. */
  wire: Buffer;
  /** Bytes after the point where the parser became a tunnel. */
  tunnel: Buffer;
  /** Sum of execute() return values. */
  consumed: number;
  fed: number;
  error: Http1ParseError | undefined;
  finish: Http1ParseError | undefined;
  parser: Http1Parser;
}

function summarize(h: Http1Head): HeadSummary {
  return {
    method: h.method,
    target: h.target,
    status: h.status,
    statusText: h.statusText,
    version: h.version,
    headers: h.headers.map(([n, v]) => [n, v] as [string, string]),
    contentLength: h.contentLength,
    chunked: h.chunked,
    close: h.close,
    upgrade: h.upgrade,
    expectContinue: h.expectContinue,
    raw: h.raw.toString('latin1'),
  };
}

function run(script: Script, chunks: readonly Buffer[]): Outcome {
  const events: Ev[] = [];
  const wire: Buffer[] = [];
  const tunnel: Buffer[] = [];
  let heads = 0;
  let completes = 0;
  let pauses = 0;
  let consumed = 0;
  let fed = 0;
  const parser: Http1Parser = new Http1Parser(
    { kind: script.kind, maxHeadBytes: script.maxHeadBytes },
    {
      onHead(head) {
        assert.equal(parser.error, undefined, 'onHead after an error');
        wire.push(Buffer.from(head.raw));
        events.push({ e: 'head', head: summarize(head) });
        return script.onHead?.(head, heads++) ?? 'continue';
      },
      onRaw(bytes) {
        assert.ok(parser.inMessage, 'onRaw outside a message');
        assert.ok(bytes.length > 0, 'empty onRaw');
        wire.push(Buffer.from(bytes));
      },
      onData(bytes) {
        assert.ok(parser.inMessage, 'onData outside a message');
        assert.ok(bytes.length > 0, 'empty onData');
        const last = events[events.length - 1];
        if (last?.e === 'data') last.data += bytes.toString('latin1');
        else events.push({ e: 'data', data: bytes.toString('latin1') });
      },
      onTrailers(trailers) {
        events.push({ e: 'trailers', trailers: trailers.map(([n, v]) => [n, v] as [string, string]) });
      },
      onComplete() {
        events.push({ e: 'complete' });
        return script.onComplete?.(completes++);
      },
    },
  );
  let inTunnel = false;
  const enterTunnel = (rest: Buffer) => {
    if (!inTunnel) events.push({ e: 'tunnel' });
    inTunnel = true;
    if (rest.length > 0) tunnel.push(Buffer.from(rest));
  };
  outer: for (const piece of chunks) {
    fed += piece.length;
    if (inTunnel) {
      tunnel.push(Buffer.from(piece));
      continue;
    }
    let chunk = piece;
    for (;;) {
      const n = parser.execute(chunk);
      assert.ok(Number.isInteger(n) && n >= 0 && n <= chunk.length, `execute returned ${n} for ${chunk.length} bytes`);
      consumed += n;
      chunk = chunk.subarray(n);
      if (parser.error) break outer;
      if (parser.isTunnel) {
        enterTunnel(chunk);
        continue outer;
      }
      if (parser.isPaused) {
        events.push({ e: 'pause' });
        assert.equal(parser.execute(chunk.length > 0 ? chunk : b('GET')), 0, 'a paused parser consumes nothing');
        if ((script.onPause?.(pauses++) ?? 'resume') === 'tunnel') {
          parser.becomeTunnel();
          enterTunnel(chunk);
          continue outer;
        }
        parser.resume();
        if (chunk.length === 0) break;
        continue; // the caller re-feeds chunk.subarray(consumed)
      }
      assert.equal(chunk.length, 0, 'execute stopped early without a pause, tunnel or error');
      break;
    }
  }
  if (parser.error) {
    assert.ok(parser.error instanceof Http1ParseError);
    events.push({ e: 'error', code: parser.error.code });
  }
  let finish: Http1ParseError | undefined;
  if (script.finish !== false) {
    const failed = parser.error !== undefined;
    finish = parser.finish();
    assert.ok(finish === undefined || finish instanceof Http1ParseError);
    assert.equal(finish, parser.error, 'finish() returns the error it sets or the earlier one');
    if (!failed) events.push({ e: 'finish', code: finish?.code });
  }
  const error = parser.error;
  return { events, wire: Buffer.concat(wire), tunnel: Buffer.concat(tunnel), consumed, fed, error, finish, parser };
}

// ---------------------------------------------------------------------------------------------
// Splitting the input

function splitAt(input: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < input.length).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(input.subarray(prev, c));
    prev = c;
  }
  out.push(input.subarray(prev));
  return out;
}

function bytewise(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out.length > 0 ? out : [input];
}

function randomSplit(input: Buffer, rand: () => number): Buffer[] {
  if (input.length < 2) return [input];
  const mode = int(rand, 3);
  const count = mode === 0 ? 1 : mode === 1 ? 1 + int(rand, 8) : 1 + int(rand, Math.min(input.length, 64));
  const cuts: number[] = [];
  for (let i = 0; i < count; i++) cuts.push(1 + int(rand, input.length - 1));
  return splitAt(input, cuts);
}

interface Splits {
  name: string;
  chunks: Buffer[];
}

function splits(input: Buffer, seed: number, randomCount: number): Splits[] {
  const rand = prng(seed);
  const out: Splits[] = [
    { name: 'whole', chunks: [input] },
    { name: 'byte by byte', chunks: bytewise(input) },
    { name: 'halves', chunks: splitAt(input, [input.length >> 1]) },
  ];
  for (let i = 0; i < randomCount; i++) {
    const chunks = randomSplit(input, rand);
    out.push({ name: `random split #${i} at [${chunks.map((c) => c.length).join(',')}] (seed ${seed})`, chunks });
  }
  return out;
}

/** Feeds `input` in many ways; asserts all agree with the whole feed; returns the whole feed. */
function runAllSplits(script: Script, input: Buffer, seed: number, randomCount = 60): Outcome {
  const all = splits(input, seed, randomCount);
  const whole = run(script, (all[0] as Splits).chunks);
  for (const s of all.slice(1)) {
    const o = run(script, s.chunks);
    assert.deepEqual(
      o.events,
      whole.events,
      `events differ, ${s.name}, input ${JSON.stringify(input.toString('latin1').slice(0, 300))}`,
    );
    assert.equal(o.error?.code, whole.error?.code, `error differs, ${s.name}`);
    if (whole.error) {
      // After an error, how much of a body was already reported depends on where the input was
      // split (bytes held for a chunk-size line were reported when they arrived); it is always
      // a prefix of the input.
      const forwarded = Buffer.concat([o.wire, o.tunnel]);
      assert.ok(
        input.subarray(0, forwarded.length).equals(forwarded),
        `forwarded bytes are not a prefix of the input, ${s.name}`,
      );
    } else {
      assert.ok(o.wire.equals(whole.wire), `forwarded bytes differ, ${s.name}`);
      assert.ok(o.tunnel.equals(whole.tunnel), `tunnel bytes differ, ${s.name}`);
    }
  }
  return whole;
}

/** For valid input: no error, and every input byte reported exactly once, in order. */
function assertValid(script: Script, input: Buffer, seed: number, randomCount?: number): Outcome {
  const o = runAllSplits(script, input, seed, randomCount);
  assert.equal(o.error, undefined, `unexpected error ${o.error?.code}: ${o.error?.message}`);
  assert.equal(o.finish, undefined, `unexpected finish() error ${o.finish?.code}`);
  const forwarded = Buffer.concat([o.wire, o.tunnel]);
  assert.equal(
    forwarded.toString('latin1'),
    input.toString('latin1'),
    `head.raw + onRaw + tunnel != input (seed ${seed})`,
  );
  assert.ok(forwarded.equals(input));
  assert.equal(o.consumed + o.tunnel.length, input.length);
  return o;
}

/** For invalid input: the given error code, whichever way it is fed, and no exception. */
function assertInvalid(script: Script, input: Buffer, code: Http1ErrorCode, seed: number, randomCount = 30): Outcome {
  const o = runAllSplits(script, input, seed, randomCount);
  assert.ok(o.error, `expected ${code}, got no error for ${JSON.stringify(input.toString('latin1').slice(0, 200))}`);
  assert.equal(
    o.error.code,
    code,
    `error code for ${JSON.stringify(input.toString('latin1').slice(0, 200))}: ${o.error.message}`,
  );
  assert.ok(o.wire.length <= o.consumed && o.consumed <= o.fed);
  assert.ok(input.subarray(0, o.wire.length).equals(o.wire), 'forwarded bytes are not a prefix of the input');
  assert.equal(o.parser.execute(b('GET / HTTP/1.1\r\n\r\n')), 0, 'a failed parser consumes nothing more');
  assert.equal(o.parser.finish(), o.error, 'finish() after an error returns that error');
  assert.equal(o.parser.finish(), o.error, 'finish() is idempotent');
  return o;
}

interface Message {
  head: HeadSummary;
  body: string;
  trailers: HeaderList | undefined;
  complete: boolean;
}

/** Groups events into messages (interim 1xx heads become messages with complete=false). */
function messages(events: Ev[]): Message[] {
  const out: Message[] = [];
  for (const ev of events) {
    const cur = out[out.length - 1];
    if (ev.e === 'head') out.push({ head: ev.head, body: '', trailers: undefined, complete: false });
    else if (ev.e === 'data') (cur as Message).body += ev.data;
    else if (ev.e === 'trailers') (cur as Message).trailers = ev.trailers;
    else if (ev.e === 'complete') (cur as Message).complete = true;
  }
  return out;
}

const kinds = (events: Ev[]): string[] => events.filter((e) => e.e !== 'data').map((e) => e.e);

let caseSeed = BASE_SEED;
const nextSeed = (): number => (caseSeed = (Math.imul(caseSeed, 1103515245) + 12345) >>> 0);

// ---------------------------------------------------------------------------------------------
// Valid requests

/** Some binary bytes, all 256 values, to prove bodies are not decoded as text. */
const BINARY = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

interface ValidCase {
  name: string;
  script: Script;
  input: Buffer;
  /** Expected messages: head fields to compare, decoded body, trailers. */
  expect: Array<{ head?: Partial<HeadSummary>; body?: string | Buffer; trailers?: HeaderList; complete?: boolean }>;
  /** Expected non-data event kinds, in order. */
  kinds?: string[];
  tunnel?: string | Buffer;
  /** Node's own server parses it the same way (no upgrade, no CONNECT). */
  node?: boolean;
}

const chunkedPost =
  'POST /upload HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, X-Other\r\n\r\n' +
  '5;name=value\r\nhello\r\n' +
  '6;a;b="q \\" d" ; c = token\r\n world\r\n' +
  '000B\r\n 0123456789\r\n' +
  '0;last=1\r\nX-Sum: 42\r\nx-other:  a b \r\n\r\n';

const requestCases: ValidCase[] = [
  {
    name: 'GET without a body',
    script: { kind: 'request' },
    input: b('GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n'),
    expect: [
      {
        head: {
          method: 'GET',
          target: '/a?b=c',
          version: '1.1',
          headers: [
            ['Host', 'example.com'],
            ['User-Agent', 't/1'],
            ['Accept', '*/*'],
          ],
          close: false,
        },
        body: '',
      },
    ],
    kinds: ['head', 'complete', 'finish'],
    node: true,
  },
  {
    name: 'POST with a Content-Length body',
    script: { kind: 'request' },
    input: b('POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world'),
    expect: [{ head: { method: 'POST', contentLength: 11, chunked: false }, body: 'hello world' }],
    node: true,
  },
  {
    name: 'PUT with a binary Content-Length body',
    script: { kind: 'request' },
    input: Buffer.concat([b(`PUT /bin HTTP/1.1\r\nHost: h\r\nContent-Length: ${BINARY.length}\r\n\r\n`), BINARY]),
    expect: [{ head: { method: 'PUT', contentLength: BINARY.length }, body: BINARY }],
    node: true,
  },
  {
    name: 'chunked POST with chunk extensions, upper-case hex, leading zeros and trailers',
    script: { kind: 'request' },
    input: b(chunkedPost),
    expect: [
      {
        head: { method: 'POST', chunked: true, contentLength: undefined },
        body: 'hello world 0123456789',
        trailers: [
          ['X-Sum', '42'],
          ['x-other', 'a b'],
        ],
      },
    ],
    kinds: ['head', 'trailers', 'complete', 'finish'],
    // Node rejects the optional whitespace (BWS) around ";" and "=" that RFC 9112 §7.1.1 allows.
  },
  {
    name: 'chunked POST with extensions as Node accepts them',
    script: { kind: 'request' },
    input: b(
      'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '3;a=b;c="d e"\r\nabc\r\n0002;x\r\nde\r\n0;z=1\r\nX-Sum: 9\r\nX-Sum: 10\r\n\r\n',
    ),
    expect: [
      {
        head: { chunked: true },
        body: 'abcde',
        trailers: [
          ['X-Sum', '9'],
          ['X-Sum', '10'],
        ],
      },
    ],
    node: true,
  },
  {
    name: 'chunked POST with a binary body in uneven chunks',
    script: { kind: 'request' },
    input: Buffer.concat([
      b('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'),
      b('1\r\n'),
      BINARY.subarray(0, 1),
      b('\r\n'),
      b('ff\r\n'),
      BINARY.subarray(1, 256),
      b('\r\n'),
      b(`${(BINARY.length - 256).toString(16)}\r\n`),
      BINARY.subarray(256),
      b('\r\n'),
      b('0\r\n\r\n'),
    ]),
    expect: [{ head: { chunked: true }, body: BINARY }],
  },
  {
    name: 'zero-length bodies: Content-Length 0 and an empty chunked body',
    script: { kind: 'request' },
    input: b(
      'POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n' +
        'POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
        'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n',
    ),
    expect: [
      { head: { target: '/a', contentLength: 0 }, body: '' },
      { head: { target: '/b', chunked: true }, body: '' },
      { head: { target: '/c', chunked: true }, body: '', trailers: [['X-T', '1']] },
    ],
    kinds: ['head', 'complete', 'head', 'complete', 'head', 'trailers', 'complete', 'finish'],
    node: true,
  },
  {
    name: 'keep-alive: pipelined requests of every framing in one buffer',
    script: { kind: 'request' },
    input: b(
      'GET /1 HTTP/1.1\r\nHost: h\r\n\r\n' +
        'POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc' +
        'POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ndef\r\n0\r\n\r\n' +
        'DELETE /4 HTTP/1.1\r\nHost: h\r\n\r\n' +
        'GET /5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    ),
    expect: [
      { head: { method: 'GET', target: '/1' }, body: '' },
      { head: { method: 'POST', target: '/2' }, body: 'abc' },
      { head: { method: 'POST', target: '/3' }, body: 'def' },
      { head: { method: 'DELETE', target: '/4' }, body: '' },
      { head: { method: 'GET', target: '/5', close: true }, body: '' },
    ],
    node: true,
  },
  {
    name: 'HTTP/1.0 requests: close unless keep-alive',
    script: { kind: 'request' },
    input: b(
      'GET /ka HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n' +
        'POST /body HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi' +
        'GET /last HTTP/1.0\r\nHost: h\r\n\r\n',
    ),
    expect: [
      { head: { version: '1.0', close: false, target: '/ka' }, body: '' },
      { head: { version: '1.0', close: false, target: '/body' }, body: 'hi' },
      { head: { version: '1.0', close: true, target: '/last' }, body: '' },
    ],
    node: true,
  },
  {
    name: 'stray CRLFs before a request line are kept in head.raw',
    script: { kind: 'request' },
    input: b(
      '\r\n\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\n' +
        'POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok\r\n' +
        'GET /3 HTTP/1.1\r\nHost: h\r\n\r\n',
    ),
    expect: [
      { head: { target: '/1', raw: '\r\n\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\n' }, body: '' },
      { head: { target: '/2' }, body: 'ok' },
      { head: { target: '/3', raw: '\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n' }, body: '' },
    ],
    node: true,
  },
  {
    name: 'header order, case and repeats are preserved',
    script: { kind: 'request' },
    input: b(
      'GET / HTTP/1.1\r\nhost: h\r\nCookie: a=1\r\nX-Multi: one\r\ncookie: b=2\r\nX-MULTI: two\r\nx-empty:\r\nX-Tab:\tv\t1\t\r\nX-Obs: caf\xe9\r\n\r\n',
    ),
    expect: [
      {
        head: {
          headers: [
            ['host', 'h'],
            ['Cookie', 'a=1'],
            ['X-Multi', 'one'],
            ['cookie', 'b=2'],
            ['X-MULTI', 'two'],
            ['x-empty', ''],
            ['X-Tab', 'v\t1'],
            ['X-Obs', 'caf\xe9'],
          ],
        },
      },
    ],
    node: true,
  },
  {
    name: 'Expect: 100-continue, paused on the head, resumed for the body',
    script: { kind: 'request', onHead: (h) => (h.expectContinue ? 'pause' : 'continue') },
    input: b(
      'PUT /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndataGET /next HTTP/1.1\r\nHost: h\r\n\r\n',
    ),
    expect: [{ head: { expectContinue: true }, body: 'data' }, { head: { target: '/next' } }],
    kinds: ['head', 'pause', 'complete', 'head', 'complete', 'finish'],
    node: true,
  },
  {
    name: 'onComplete pause then resume before each next message',
    script: { kind: 'request', onComplete: () => 'pause' },
    input: b(
      'GET /1 HTTP/1.1\r\nHost: h\r\n\r\n' +
        'POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n12345' +
        'POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n' +
        'GET /4 HTTP/1.1\r\nHost: h\r\n\r\n',
    ),
    expect: [{ body: '' }, { body: '12345' }, { body: 'ab' }, { body: '' }],
    kinds: [
      'head',
      'complete',
      'pause',
      'head',
      'complete',
      'pause',
      'head',
      'complete',
      'pause',
      'head',
      'complete',
      'pause',
      'finish',
    ],
    node: true,
  },
  {
    name: 'Upgrade: websocket paused on the head, then the upgrade happens (tunnel)',
    script: { kind: 'request', onHead: (h) => (h.upgrade ? 'pause' : 'continue'), onPause: () => 'tunnel' },
    input: b(
      'GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' +
        '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n\r\n',
    ),
    expect: [{ head: { upgrade: 'websocket', target: '/chat' }, body: '' }],
    kinds: ['head', 'complete', 'pause', 'tunnel', 'finish'],
    tunnel: '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n\r\n',
  },
  {
    name: 'Upgrade: websocket paused on the head, refused, parsing resumes',
    script: { kind: 'request', onHead: (h) => (h.upgrade ? 'pause' : 'continue') },
    input: b(
      'GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nGET /plain HTTP/1.1\r\nHost: h\r\n\r\n',
    ),
    expect: [{ head: { upgrade: 'websocket' } }, { head: { target: '/plain', upgrade: undefined } }],
    kinds: ['head', 'complete', 'pause', 'head', 'complete', 'finish'],
  },
  {
    name: 'CONNECT: the rest is a tunnel straight away',
    script: { kind: 'request', onHead: (h) => (h.method === 'CONNECT' ? 'tunnel' : 'continue') },
    input: Buffer.concat([b('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), BINARY]),
    expect: [{ head: { method: 'CONNECT', target: 'example.com:443' }, complete: false }],
    kinds: ['head', 'tunnel', 'finish'],
    tunnel: BINARY,
  },
  {
    name: 'absolute-form target, Connection: close',
    script: { kind: 'request' },
    input: b(
      'GET http://example.com:8080/x?y=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\nProxy-Connection: keep-alive\r\n\r\n',
    ),
    expect: [{ head: { target: 'http://example.com:8080/x?y=1', close: true } }],
    node: true,
  },
];

// ---------------------------------------------------------------------------------------------
// Valid responses

const response101 =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';

const responseCases: ValidCase[] = [
  {
    name: '200 with a Content-Length body',
    script: { kind: 'response' },
    input: b('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'),
    expect: [{ head: { status: 200, statusText: 'OK', contentLength: 5 }, body: 'hello' }],
    node: true,
  },
  {
    name: 'chunked with extensions and trailers',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n',
    ),
    expect: [
      {
        head: { chunked: true },
        body: 'Wikipedia in\r\n\r\nchunks.',
        trailers: [
          ['Expires', 'never'],
          ['X-Checksum', 'abc'],
        ],
      },
    ],
    node: true,
  },
  {
    name: 'keep-alive: pipelined responses in one buffer',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' +
        'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n0\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' +
        'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nerr',
    ),
    expect: [
      { head: { status: 200 }, body: 'ok' },
      { head: { status: 404, statusText: 'Not Found' }, body: 'not' },
      { head: { status: 200 }, body: '' },
      { head: { status: 500 }, body: 'err' },
    ],
  },
  {
    name: 'responses to HEAD: no body whatever the headers say',
    script: { kind: 'response', onHead: (_h, n) => (n < 2 ? 'no-body' : 'continue') },
    input: b(
      'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi',
    ),
    expect: [{ head: { contentLength: 1234 }, body: '' }, { head: { chunked: true }, body: '' }, { body: 'hi' }],
    kinds: ['head', 'complete', 'head', 'complete', 'head', 'complete', 'finish'],
  },
  {
    name: '204 and 304 have no body despite Content-Length or chunked',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend',
    ),
    expect: [
      { head: { status: 204 }, body: '' },
      { head: { status: 304 }, body: '' },
      { head: { status: 304 }, body: '' },
      { body: 'end' },
    ],
    kinds: ['head', 'complete', 'head', 'complete', 'head', 'complete', 'head', 'complete', 'finish'],
  },
  {
    name: '100 Continue and 103 Early Hints before the final response',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>; rel=preload\r\n\r\n' +
        'HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated',
    ),
    expect: [
      { head: { status: 100 }, complete: false },
      {
        head: {
          status: 103,
          headers: [
            ['Link', '</a.css>; rel=preload'],
            ['Link', '</b.js>; rel=preload'],
          ],
        },
        complete: false,
      },
      { head: { status: 201 }, body: 'created' },
    ],
    kinds: ['head', 'head', 'head', 'complete', 'finish'],
  },
  {
    name: '101 Switching Protocols with tunnel',
    script: { kind: 'response', onHead: (h) => (h.status === 101 ? 'tunnel' : 'continue') },
    input: b(`${response101}\x81\x05hello\x88\x02\x03\xe8HTTP/1.1 200 OK\r\n\r\n`),
    expect: [{ head: { status: 101, upgrade: 'websocket' }, complete: false }],
    kinds: ['head', 'tunnel', 'finish'],
    tunnel: '\x81\x05hello\x88\x02\x03\xe8HTTP/1.1 200 OK\r\n\r\n',
  },
  {
    name: 'read until close (HTTP/1.1, Connection: close)',
    script: { kind: 'response' },
    input: b('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of this\r\n\r\nis the body HTTP/1.1 200 OK\r\n'),
    expect: [
      {
        head: { close: true, contentLength: undefined, chunked: false },
        body: 'all of this\r\n\r\nis the body HTTP/1.1 200 OK\r\n',
      },
    ],
    kinds: ['head', 'complete', 'finish'],
    node: true,
  },
  {
    name: 'read until close (HTTP/1.0 without Content-Length)',
    script: { kind: 'response' },
    input: Buffer.concat([b('HTTP/1.0 200 OK\r\nServer: old\r\n\r\n'), BINARY]),
    expect: [{ head: { version: '1.0', close: true }, body: BINARY }],
    node: true,
  },
  {
    name: 'read until close: a final coding other than chunked',
    script: { kind: 'response' },
    input: b('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nnot two bytes'),
    expect: [{ head: { chunked: false, contentLength: undefined }, body: 'not two bytes' }],
  },
  {
    name: 'Transfer-Encoding overrides Content-Length in a response',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz',
    ),
    expect: [{ head: { chunked: true, contentLength: undefined }, body: 'ab' }, { body: 'z' }],
  },
  {
    name: 'Set-Cookie twice, header case and order kept',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/; HttpOnly\r\ncontent-length: 0\r\nSet-Cookie: b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n',
    ),
    expect: [
      {
        head: {
          headers: [
            ['Set-Cookie', 'a=1; Path=/; HttpOnly'],
            ['content-length', '0'],
            ['Set-Cookie', 'b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT'],
          ],
        },
      },
    ],
    node: true,
  },
  {
    name: 'status lines without reason, and HTTP/1.0 keep-alive',
    script: { kind: 'response' },
    input: b(
      'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\na' +
        'HTTP/1.1 299 \r\nContent-Length: 1\r\n\r\nb' +
        'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nc',
    ),
    expect: [
      { head: { status: 200, statusText: '' }, body: 'a' },
      { head: { status: 299, statusText: '' }, body: 'b' },
      { head: { version: '1.0', close: false }, body: 'c' },
    ],
  },
  {
    name: 'onComplete pause between responses, and a pause on a head',
    script: {
      kind: 'response',
      onHead: (_h, n) => (n === 1 ? 'pause' : 'continue'),
      onComplete: (n) => (n === 0 ? 'pause' : undefined),
    },
    input: b(
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\ny\r\n0\r\n\r\n',
    ),
    expect: [{ body: 'x' }, { body: 'y' }],
    kinds: ['head', 'complete', 'pause', 'head', 'pause', 'complete', 'finish'],
  },
];

function checkCase(c: ValidCase, seed: number): Outcome {
  const o = assertValid(c.script, c.input, seed);
  const msgs = messages(o.events);
  assert.equal(msgs.length, c.expect.length, `message count: ${JSON.stringify(kinds(o.events))}`);
  c.expect.forEach((want, i) => {
    const got = msgs[i] as Message;
    if (want.head) {
      for (const [k, v] of Object.entries(want.head)) {
        assert.deepEqual(got.head[k as keyof HeadSummary], v, `message ${i}: ${k}`);
      }
    }
    if (want.body !== undefined) {
      const body = typeof want.body === 'string' ? want.body : want.body.toString('latin1');
      assert.equal(got.body, body, `message ${i}: body`);
    }
    assert.deepEqual(got.trailers, want.trailers, `message ${i}: trailers`);
    assert.equal(got.complete, want.complete ?? true, `message ${i}: complete`);
  });
  if (c.kinds) assert.deepEqual(kinds(o.events), c.kinds);
  if (c.tunnel !== undefined) {
    assert.equal(o.tunnel.toString('latin1'), typeof c.tunnel === 'string' ? c.tunnel : c.tunnel.toString('latin1'));
  } else {
    assert.equal(o.tunnel.length, 0);
  }
  return o;
}

describe('Http1Parser: valid requests, fed whole, byte by byte and at random splits', () => {
  for (const c of requestCases) {
    const seed = nextSeed();
    it(c.name, () => {
      checkCase(c, seed);
    });
  }
});

describe('Http1Parser: valid responses, fed whole, byte by byte and at random splits', () => {
  for (const c of responseCases) {
    const seed = nextSeed();
    it(c.name, () => {
      checkCase(c, seed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The API, step by step

function recorder(
  kind: 'request' | 'response',
  decide: (h: Http1Head) => HeadDecision = () => 'continue',
  opts: { maxHeadBytes?: number } = {},
) {
  const log: string[] = [];
  const heads: Http1Head[] = [];
  const parser = new Http1Parser(
    { kind, ...opts },
    {
      onHead(h) {
        heads.push(h);
        log.push(`head ${h.method || h.status}`);
        return decide(h);
      },
      onRaw(bytes) {
        log.push(`raw ${bytes.toString('latin1')}`);
      },
      onData(bytes) {
        log.push(`data ${bytes.toString('latin1')}`);
      },
      onTrailers(t) {
        log.push(`trailers ${JSON.stringify(t)}`);
      },
      onComplete() {
        log.push('complete');
      },
    },
  );
  return { parser, log, heads };
}

describe('Http1Parser: API behaviour', () => {
  it('101 + tunnel: execute returns the offset where the tunnel bytes start', () => {
    const { parser, log } = recorder('response', (h) => (h.status === 101 ? 'tunnel' : 'continue'));
    const input = b(`${response101}\x81\x00more`);
    assert.equal(parser.execute(input), response101.length);
    assert.equal(parser.isTunnel, true);
    assert.equal(parser.inMessage, false);
    assert.equal(parser.messages, 1);
    assert.equal(parser.execute(b('anything')), 0);
    assert.equal(parser.finish(), undefined);
    assert.deepEqual(log, ['head 101']);
  });

  it('101 split across calls: the second call returns the offset of the tunnel in that chunk', () => {
    const { parser } = recorder('response', (h) => (h.status === 101 ? 'tunnel' : 'continue'));
    const input = b(`${response101}\x81\x00`);
    assert.equal(parser.execute(input.subarray(0, 40)), 40);
    assert.equal(parser.execute(input.subarray(40)), response101.length - 40);
    assert.equal(parser.isTunnel, true);
  });

  it('pause on a head: consumed stops after the head, nothing is parsed until resume()', () => {
    const { parser, log } = recorder('request', (h) => (h.upgrade ? 'pause' : 'continue'));
    const first = 'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n';
    const input = b(`${first}POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz`);
    assert.equal(parser.execute(input), first.length);
    assert.equal(parser.isPaused, true);
    assert.equal(parser.execute(input.subarray(first.length)), 0);
    assert.deepEqual(log, ['head GET', 'complete']);
    parser.resume();
    assert.equal(parser.execute(input.subarray(first.length)), input.length - first.length);
    assert.deepEqual(log, ['head GET', 'complete', 'head POST', 'data z', 'raw z', 'complete']);
    assert.equal(parser.messages, 2);
  });

  it('onComplete pause: execute(rest) after resume() continues exactly where it stopped', () => {
    let pause = true;
    const seen: string[] = [];
    const parser = new Http1Parser(
      { kind: 'request' },
      {
        onHead: (h) => (seen.push(h.target), 'continue'),
        onRaw: () => {},
        onData: (d) => void seen.push(d.toString()),
        onTrailers: () => {},
        onComplete: () => (pause ? 'pause' : undefined),
      },
    );
    const input = b('POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nxyGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n');
    const n1 = parser.execute(input);
    assert.equal(input.subarray(n1).toString(), 'GET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n');
    assert.equal(parser.isPaused, true);
    assert.equal(parser.inMessage, false);
    parser.resume();
    pause = false;
    const rest = input.subarray(n1);
    assert.equal(parser.execute(rest), rest.length);
    assert.deepEqual(seen, ['/a', 'xy', '/b', '/c']);
    assert.equal(parser.messages, 3);
  });

  it('becomeTunnel() after a paused head with a body turns the rest into a tunnel', () => {
    const { parser } = recorder('request', () => 'pause');
    const head = 'POST /h2c HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 3\r\n\r\n';
    assert.equal(parser.execute(b(`${head}abc`)), head.length);
    parser.becomeTunnel();
    assert.equal(parser.isTunnel, true);
    assert.equal(parser.isPaused, false);
    assert.equal(parser.execute(b('abc')), 0);
  });

  it('until-close body ends with finish()', () => {
    const { parser, log } = recorder('response');
    parser.execute(b('HTTP/1.0 200 OK\r\n\r\nab'));
    parser.execute(b('cd'));
    assert.equal(parser.inMessage, true);
    assert.equal(parser.messages, 0);
    assert.equal(parser.finish(), undefined);
    assert.equal(parser.messages, 1);
    assert.equal(parser.inMessage, false);
    assert.deepEqual(log, ['head 200', 'data ab', 'raw ab', 'data cd', 'raw cd', 'complete']);
  });

  it('finish() between messages is clean, also with stray CRLFs waiting', () => {
    const { parser } = recorder('request');
    assert.equal(parser.finish(), undefined);
    const p2 = recorder('request').parser;
    assert.equal(p2.execute(b('GET / HTTP/1.1\r\n\r\n\r\n')), 20);
    assert.equal(p2.finish(), undefined);
    assert.equal(p2.error, undefined);
  });

  const truncations: Array<[string, 'request' | 'response', string]> = [
    ['in a request head', 'request', 'GET / HTTP/1.1\r\nHost: h\r\n'],
    ['in a request line', 'request', 'G'],
    ['in a Content-Length body', 'request', 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345'],
    ['right after a head with a body', 'request', 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n'],
    ['in a chunk-size line', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1'],
    ['in chunk data', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ['before the CRLF after chunk data', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r'],
    ['before the final CRLF', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n'],
    ['in trailers', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n'],
    ['in a response head', 'response', 'HTTP/1.1 200 OK\r\n'],
    ['in a response body', 'response', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab'],
    ['in a second message', 'response', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 2'],
  ];
  for (const [name, kind, text] of truncations) {
    it(`finish() ${name} is a 'truncated' error, at every split`, () => {
      const seed = nextSeed();
      const o = assertInvalid({ kind }, b(text), 'truncated', seed, 10);
      assert.deepEqual(o.events[o.events.length - 1], { e: 'finish', code: 'truncated' });
    });
  }

  it('head.raw is a copy: reusing the input buffer does not change it', () => {
    const { parser, heads } = recorder('request');
    const input = b('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    parser.execute(input.subarray(0, 10));
    parser.execute(input.subarray(10));
    const whole = b('GET /y HTTP/1.1\r\nHost: h\r\n\r\n');
    parser.execute(whole);
    input.fill(0);
    whole.fill(0);
    assert.equal(heads[0]?.raw.toString(), 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    assert.equal(heads[1]?.raw.toString(), 'GET /y HTTP/1.1\r\nHost: h\r\n\r\n');
  });

  it('execute on an empty buffer is a no-op', () => {
    const { parser, log } = recorder('request');
    assert.equal(parser.execute(Buffer.alloc(0)), 0);
    parser.execute(b('POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n'));
    assert.equal(parser.execute(Buffer.alloc(0)), 0);
    assert.deepEqual(log, ['head POST']);
  });

  it('exceptions thrown by callbacks propagate (they are not parse errors)', () => {
    const parser = new Http1Parser(
      { kind: 'request' },
      {
        onHead: () => {
          throw new TypeError('boom');
        },
        onRaw: () => {},
        onData: () => {},
        onTrailers: () => {},
        onComplete: () => {},
      },
    );
    assert.throws(() => parser.execute(b('GET / HTTP/1.1\r\n\r\n')), TypeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input

const REQ = { kind: 'request' } as const;
const RES = { kind: 'response' } as const;
const chunkedHead = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';

const badInputs: Array<[string, Script, string | Buffer, Http1ErrorCode]> = [
  // request line
  ['request line without a version', REQ, 'GET /\r\nHost: h\r\n\r\n', 'bad-request-line'],
  ['request line with only a method', REQ, 'GET\r\n\r\n', 'bad-request-line'],
  ['request line without a method', REQ, '/ HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['bad method character', REQ, 'G@T / HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['non-ASCII method', REQ, 'G\xc9T / HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['two spaces after the method', REQ, 'GET  / HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['space inside the target', REQ, 'GET /a b HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['trailing space after the version', REQ, 'GET / HTTP/1.1 \r\n\r\n', 'bad-request-line'],
  ['leading space', REQ, ' GET / HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['tabs as separators', REQ, 'GET\t/\tHTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['control character in the target', REQ, 'GET /\x01 HTTP/1.1\r\n\r\n', 'bad-request-line'],
  ['a response where a request belongs', REQ, 'HTTP/1.1 200 OK\r\n\r\n', 'bad-request-line'],
  ['bad request after a good one', REQ, 'GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1 x\r\n\r\n', 'bad-request-line'],
  // versions
  ['request HTTP/2.0', REQ, 'GET / HTTP/2.0\r\n\r\n', 'bad-version'],
  ['request HTTP/1.2', REQ, 'GET / HTTP/1.2\r\n\r\n', 'bad-version'],
  ['request HTTP/0.9 style', REQ, 'GET / HTTP/0.9\r\n\r\n', 'bad-version'],
  ['request lower-case version', REQ, 'GET / http/1.1\r\n\r\n', 'bad-version'],
  ['response HTTP/2.0', RES, 'HTTP/2.0 200 OK\r\n\r\n', 'bad-version'],
  ['response HTTP/1.2', RES, 'HTTP/1.2 200 OK\r\n\r\n', 'bad-version'],
  // status line
  ['status with two digits', RES, 'HTTP/1.1 20 OK\r\n\r\n', 'bad-status-line'],
  ['status with four digits', RES, 'HTTP/1.1 2000 OK\r\n\r\n', 'bad-status-line'],
  ['status below 100', RES, 'HTTP/1.1 099 Low\r\n\r\n', 'bad-status-line'],
  ['not a status line', RES, 'GET / HTTP/1.1\r\n\r\n', 'bad-status-line'],
  ['control character in the reason', RES, 'HTTP/1.1 200 O\x00K\r\n\r\n', 'bad-status-line'],
  ['stray CRLF before a status line', RES, '\r\nHTTP/1.1 200 OK\r\n\r\n', 'bad-status-line'],
  // header fields
  ['header without colon', REQ, 'GET / HTTP/1.1\r\nHost example.com\r\n\r\n', 'bad-header'],
  ['header with an empty name', REQ, 'GET / HTTP/1.1\r\n: x\r\n\r\n', 'bad-header'],
  ['space before the colon', REQ, 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 'bad-header'],
  ['obs-fold', REQ, 'GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n b\r\n\r\n', 'bad-header'],
  ['obs-fold with a tab', RES, 'HTTP/1.1 200 OK\r\nX-Long: a\r\n\tb\r\n\r\n', 'bad-header'],
  ['obs-fold right after the start line', REQ, 'GET / HTTP/1.1\r\n Host: h\r\n\r\n', 'bad-header'],
  ['NUL in a header value', REQ, 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n', 'bad-header'],
  ['NUL in a response header value', RES, 'HTTP/1.1 200 OK\r\nX: \x00\r\nContent-Length: 0\r\n\r\n', 'bad-header'],
  ['bare CR in a header value', REQ, 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n', 'bad-header'],
  ['DEL in a header name', REQ, 'GET / HTTP/1.1\r\nX\x7f: a\r\n\r\n', 'bad-header'],
  // bare LF line endings
  ['bare LF everywhere in a request', REQ, 'GET / HTTP/1.1\nHost: h\n\n', 'bad-request-line'],
  ['bare LF after the request line', REQ, 'GET / HTTP/1.1\nHost: h\r\n\r\n', 'bad-request-line'],
  ['bare LF after a header', REQ, 'GET / HTTP/1.1\r\nHost: h\n\r\n', 'bad-header'],
  ['bare LF ending the head', REQ, 'GET / HTTP/1.1\r\nHost: h\r\n\n', 'bad-header'],
  ['bare LF everywhere in a response', RES, 'HTTP/1.1 200 OK\nContent-Length: 0\n\n', 'bad-status-line'],
  ['bare LF after a response header', RES, 'HTTP/1.1 200 OK\r\nContent-Length: 0\n\n', 'bad-header'],
  [
    'bare LF head followed by a real request',
    REQ,
    'GET /a HTTP/1.1\nHost: h\n\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n',
    'bad-request-line',
  ],
  // Content-Length
  ['non-numeric Content-Length', REQ, 'POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n', 'bad-content-length'],
  ['negative Content-Length', REQ, 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 'bad-content-length'],
  ['Content-Length with a sign', REQ, 'POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello', 'bad-content-length'],
  ['hex Content-Length', REQ, 'POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello', 'bad-content-length'],
  ['empty Content-Length', REQ, 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n', 'bad-content-length'],
  ['huge Content-Length', REQ, 'POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n', 'bad-content-length'],
  [
    'conflicting Content-Length headers',
    REQ,
    'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'bad-content-length',
  ],
  [
    'conflicting Content-Length list',
    REQ,
    'POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello!',
    'bad-content-length',
  ],
  [
    'conflicting Content-Length in a response',
    RES,
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'bad-content-length',
  ],
  ['vertical tab after a Content-Length', REQ, 'POST / HTTP/1.1\r\nContent-Length: 1\x0b\r\n\r\nx', 'bad-header'],
  // Transfer-Encoding
  [
    'Content-Length and Transfer-Encoding in a request',
    REQ,
    'POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'bad-transfer-encoding',
  ],
  [
    'request Transfer-Encoding not ending in chunked',
    REQ,
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'bad-transfer-encoding',
  ],
  [
    'request Transfer-Encoding without chunked',
    REQ,
    'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n',
    'bad-transfer-encoding',
  ],
  [
    'request Transfer-Encoding chunked twice',
    REQ,
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'bad-transfer-encoding',
  ],
  [
    'request Transfer-Encoding with a near miss',
    REQ,
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n',
    'bad-transfer-encoding',
  ],
  // chunks
  ['non-hex chunk size', REQ, `${chunkedHead}xyz\r\n`, 'bad-chunk'],
  ['negative chunk size', REQ, `${chunkedHead}-1\r\n`, 'bad-chunk'],
  ['0x chunk size', REQ, `${chunkedHead}0x5\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['empty chunk-size line', REQ, `${chunkedHead}\r\n`, 'bad-chunk'],
  ['chunk size too long', REQ, `${chunkedHead}fffffffffffffff\r\n`, 'bad-chunk'],
  ['chunk size with trailing space', REQ, `${chunkedHead}5 \r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['chunk size with a trailing NBSP', REQ, `${chunkedHead}5\xa0\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['chunk size with a leading space', REQ, `${chunkedHead} 5\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['chunk-size line ended by a bare LF', REQ, `${chunkedHead}5\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['bare CR inside a chunk extension', REQ, `${chunkedHead}5;a\rb\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['empty chunk extension', REQ, `${chunkedHead}5;\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['NUL in a chunk extension', REQ, `${chunkedHead}5;a=\x00\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['unterminated quoted chunk extension', REQ, `${chunkedHead}5;a="b\r\nhello\r\n0\r\n\r\n`, 'bad-chunk'],
  ['chunk data longer than its size', REQ, `${chunkedHead}5\r\nhelloX\r\n0\r\n\r\n`, 'bad-chunk'],
  ['chunk data followed by a bare LF', REQ, `${chunkedHead}5\r\nhello\n0\r\n\r\n`, 'bad-chunk'],
  ['chunk data followed by a bare CR', REQ, `${chunkedHead}5\r\nhello\r0\r\n\r\n`, 'bad-chunk'],
  ['last chunk followed by a bare LF', REQ, `${chunkedHead}0\r\n\n`, 'bad-chunk'],
  ['last chunk followed by CR and garbage', REQ, `${chunkedHead}0\r\n\rX`, 'bad-chunk'],
  ['bad chunk in a response', RES, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'bad-chunk'],
  // trailers
  ['trailer without colon', REQ, `${chunkedHead}0\r\nNoColon\r\n\r\n`, 'bad-header'],
  ['trailer with a bad name', REQ, `${chunkedHead}0\r\nBad Name: x\r\n\r\n`, 'bad-header'],
  ['trailer with obs-fold', REQ, `${chunkedHead}0\r\nX: a\r\n b\r\n\r\n`, 'bad-header'],
  ['trailer with NUL', REQ, `${chunkedHead}0\r\nX: \x00\r\n\r\n`, 'bad-header'],
  ['trailer ended by a bare LF', REQ, `${chunkedHead}0\r\nX: y\n\n`, 'bad-header'],
  [
    'trailer ended by a bare LF, then a request',
    REQ,
    `${chunkedHead}0\r\nX: y\n\r\nGET / HTTP/1.1\r\n\r\n`,
    'bad-header',
  ],
];

describe('Http1Parser: bad input gives the right error at every split, and never throws', () => {
  for (const [name, script, input, code] of badInputs) {
    const seed = nextSeed();
    it(`${name} → ${code}`, () => {
      assertInvalid(script, typeof input === 'string' ? b(input) : input, code, seed);
    });
  }
});

describe('Http1Parser: size limits', () => {
  const max = 256;
  const headOf = (size: number): string => {
    const start = 'GET / HTTP/1.1\r\nX: ';
    return `${start}${'a'.repeat(size - start.length - 4)}\r\n\r\n`;
  };

  it('a head of exactly maxHeadBytes is accepted at every split', () => {
    const input = b(headOf(max));
    assert.equal(input.length, max);
    assertValid({ kind: 'request', maxHeadBytes: max }, input, nextSeed());
  });

  it('a head of maxHeadBytes + 1 is head-too-large at every split', () => {
    const input = b(headOf(max + 1));
    assertInvalid({ kind: 'request', maxHeadBytes: max }, input, 'head-too-large', nextSeed());
  });

  it('a head that never ends is head-too-large once maxHeadBytes arrived, also in small pieces', () => {
    const input = b(`GET / HTTP/1.1\r\n${'X-Filler: 0123456789\r\n'.repeat(40)}`);
    const o = assertInvalid({ kind: 'request', maxHeadBytes: max }, input, 'head-too-large', nextSeed());
    assert.equal(o.wire.length, 0);
    // In many small chunks: the error comes as soon as maxHeadBytes arrived, not at the end.
    const { parser } = recorder('request', undefined, { maxHeadBytes: max });
    let fed = 0;
    while (!parser.error && fed < input.length) {
      parser.execute(input.subarray(fed, fed + 7));
      fed += 7;
    }
    assert.equal(parser.error?.code, 'head-too-large');
    assert.ok(fed <= max + 7, `error after ${fed} bytes`);
  });

  it('a large head trickling in byte by byte is parsed in linear time', () => {
    // Quadratic copying (concatenating the partial head with every new byte) makes 4x the bytes
    // cost 16x the time; linear work costs 4x. Timings are noisy, so the bound sits in between.
    const feed = (size: number): number => {
      const big = b(`GET / HTTP/1.1\r\nX: ${'a'.repeat(size)}\r\n\r\n`);
      const { parser } = recorder('request', undefined, { maxHeadBytes: 1 << 20 });
      const start = performance.now();
      for (let i = 0; i < big.length; i++) parser.execute(big.subarray(i, i + 1));
      assert.equal(parser.messages, 1);
      return performance.now() - start;
    };
    feed(20_000); // warm up the JIT
    const small = Math.min(feed(40_000), feed(40_000));
    const large = feed(160_000);
    assert.ok(large < small * 9 + 50, `40 kB: ${small.toFixed(0)} ms, 160 kB: ${large.toFixed(0)} ms`);
  });

  it('the default limit is 64 KiB', () => {
    const input = b(headOf(64 * 1024 + 1));
    const o = run({ kind: 'request' }, [input]);
    assert.equal(o.error?.code, 'head-too-large');
    assert.equal(run({ kind: 'request' }, [b(headOf(64 * 1024))]).error, undefined);
  });

  it('a response head over the limit', () => {
    const input = b(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(max)}\r\n\r\n`);
    assertInvalid({ kind: 'response', maxHeadBytes: max }, input, 'head-too-large', nextSeed());
  });

  it('endless stray CRLFs count against the limit', () => {
    assertInvalid({ kind: 'request', maxHeadBytes: max }, b('\r\n'.repeat(max)), 'head-too-large', nextSeed());
    assertValid({ kind: 'request', maxHeadBytes: max }, b(`${'\r\n'.repeat(20)}GET / HTTP/1.1\r\n\r\n`), nextSeed());
  });

  it('a trailer section over the limit is head-too-large', () => {
    const input = b(`${chunkedHead}0\r\n${'X-T: 0123456789\r\n'.repeat(20)}\r\n`);
    assertInvalid({ kind: 'request', maxHeadBytes: max }, input, 'head-too-large', nextSeed());
  });

  it('a chunk-size line of 4096 bytes is accepted, 4097 is bad-chunk', () => {
    const line = (len: number): string => `1;e=${'v'.repeat(len - 6)}\r\n`;
    assert.equal(line(4096).length, 4096);
    const ok = assertValid({ kind: 'request' }, b(`${chunkedHead}${line(4096)}x\r\n0\r\n\r\n`), nextSeed(), 10);
    assert.equal(messages(ok.events)[0]?.body, 'x');
    assertInvalid({ kind: 'request' }, b(`${chunkedHead}${line(4097)}x\r\n0\r\n\r\n`), 'bad-chunk', nextSeed(), 10);
  });

  it('an endless chunk-size line is bad-chunk without waiting for its end', () => {
    const input = b(`${chunkedHead}1${';a=b'.repeat(5000)}`);
    const o = assertInvalid({ kind: 'request' }, input, 'bad-chunk', nextSeed(), 10);
    assert.ok(o.wire.length < chunkedHead.length + 4096 + 4);
  });

  it('leading zeros in a chunk size are fine, 13 significant hex digits are the most', () => {
    assertValid({ kind: 'request' }, b(`${chunkedHead}00000000000000000001\r\nx\r\n0000\r\n\r\n`), nextSeed(), 10);
    assertInvalid({ kind: 'request' }, b(`${chunkedHead}10000000000000\r\n`), 'bad-chunk', nextSeed(), 10);
    // 13 digits parse (and then want more data than we have)
    const o = run({ kind: 'request', finish: false }, [b(`${chunkedHead}fffffffffffff\r\nabc`)]);
    assert.equal(o.error, undefined);
    assert.equal(o.parser.inMessage, true);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz

const ATOMS = [
  'GET ',
  'POST ',
  'HEAD ',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/1.1 200 OK',
  'HTTP/1.1 100 Continue',
  'HTTP/1.1 101 Switching',
  'HTTP/1.1 204 No',
  ' ',
  '/',
  '/x?y',
  '\r\n',
  '\r\n\r\n',
  '\r',
  '\n',
  ':',
  ': ',
  'Host: h',
  'Content-Length: ',
  'Transfer-Encoding: chunked',
  'Connection: close',
  'Connection: upgrade',
  'Upgrade: ws',
  'Expect: 100-continue',
  '0',
  '1',
  '5',
  'a',
  'F',
  ';',
  '=',
  '"',
  '\t',
  '\x00',
  '\x7f',
  '\xff',
  ',',
  '0\r\n\r\n',
  '5\r\nhello\r\n',
];

function randomInput(rand: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = int(rand, 40);
  for (let i = 0; i < n; i++) {
    if (rand() < 0.15) parts.push(Buffer.from([int(rand, 256)]));
    else parts.push(b(ATOMS[int(rand, ATOMS.length)] as string));
  }
  return Buffer.concat(parts);
}

function mutate(input: Buffer, rand: () => number): Buffer {
  let out = Buffer.from(input);
  const edits = 1 + int(rand, 4);
  for (let i = 0; i < edits; i++) {
    const at = int(rand, out.length + 1);
    switch (int(rand, 5)) {
      case 0: // flip a bit
        if (out.length > 0) {
          const j = Math.min(at, out.length - 1);
          out[j] = (out[j] as number) ^ (1 << int(rand, 8));
        }
        break;
      case 1: // insert random bytes
        out = Buffer.concat([
          out.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + int(rand, 3) }, () => int(rand, 256))),
          out.subarray(at),
        ]);
        break;
      case 2: // delete bytes
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(rand, 3))]);
        break;
      case 3: // insert a syntax atom
        out = Buffer.concat([out.subarray(0, at), b(ATOMS[int(rand, ATOMS.length)] as string), out.subarray(at)]);
        break;
      default: // replace a byte with a digit or CR/LF
        if (out.length > 0) out[Math.min(at, out.length - 1)] = b('0123456789\r\n:; ').at(int(rand, 16)) as number;
    }
  }
  return out;
}

/** Decisions that depend only on the head and its index, so every split sees the same. */
function fuzzScript(kind: 'request' | 'response', variant: number): Script {
  return {
    kind,
    maxHeadBytes: variant % 2 === 0 ? 64 * 1024 : 40 + variant * 7,
    onHead: (h, n) => {
      if (kind === 'response' && h.status === 101) return 'tunnel';
      const r = (n * 31 + variant) % 7;
      return r === 0 ? 'pause' : r === 1 ? 'no-body' : 'continue';
    },
    onComplete: (n) => ((n + variant) % 3 === 0 ? 'pause' : undefined),
    onPause: (n) => ((n + variant) % 5 === 4 ? 'tunnel' : 'resume'),
  };
}

function fuzzOne(input: Buffer, script: Script, seed: number): void {
  let o: Outcome;
  try {
    o = runAllSplits(script, input, seed, 4);
  } catch (err) {
    if (err instanceof assert.AssertionError) {
      err.message += `\n(seed ${seed}, input ${JSON.stringify(input.toString('latin1'))})`;
    }
    throw err;
  }
  const ctx = `(seed ${seed}, input ${JSON.stringify(input.toString('latin1'))})`;
  assert.ok(o.error === undefined || o.error instanceof Http1ParseError, ctx);
  assert.ok(o.finish === undefined || o.finish instanceof Http1ParseError, ctx);
  assert.ok(o.wire.length <= o.consumed, `reported ${o.wire.length} bytes but consumed ${o.consumed} ${ctx}`);
  assert.ok(o.consumed + o.tunnel.length <= input.length, `consumed more than fed ${ctx}`);
  const forwarded = Buffer.concat([o.wire, o.tunnel]);
  assert.ok(
    input.subarray(0, forwarded.length).equals(forwarded),
    `forwarded bytes are not a prefix of the input ${ctx}`,
  );
  if (o.tunnel.length > 0 || o.events.some((e) => e.e === 'tunnel')) {
    assert.ok(forwarded.equals(input), `tunnel: forwarded bytes != input ${ctx}`);
  }
}

describe('Http1Parser: fuzz', () => {
  it('random byte strings never throw and agree at every split', () => {
    const seed = BASE_SEED ^ 0x1234;
    const rand = prng(seed);
    for (let i = 0; i < 1500 * FUZZ_SCALE; i++) {
      const s = (seed + i) >>> 0;
      const input = randomInput(rand);
      // Prefix some with a valid start line so the fuzz reaches past it.
      const prefix = i % 3 === 0 ? b('POST / HTTP/1.1\r\n') : i % 3 === 1 ? b('HTTP/1.1 200 OK\r\n') : Buffer.alloc(0);
      const kind = i % 2 === 0 ? 'request' : 'response';
      fuzzOne(Buffer.concat([prefix, input]), fuzzScript(kind, i % 6), s);
    }
  });

  it('mutations of valid messages never throw and agree at every split', () => {
    const seed = BASE_SEED ^ 0x9876;
    const rand = prng(seed);
    const corpus = [...requestCases, ...responseCases].map((c) => ({ kind: c.script.kind, input: c.input }));
    for (let i = 0; i < 2500 * FUZZ_SCALE; i++) {
      const s = (seed + i) >>> 0;
      const base = corpus[i % corpus.length] as { kind: 'request' | 'response'; input: Buffer };
      fuzzOne(mutate(base.input, rand), fuzzScript(base.kind, i % 6), s);
    }
  });

  it('valid messages stay valid and exact with random decisions on pause', () => {
    const rand = prng(BASE_SEED ^ 0x5555);
    for (let i = 0; i < 200; i++) {
      const c = requestCases[i % requestCases.length] as ValidCase;
      if (c.script.onHead || c.script.onPause) continue;
      const pauseEvery = 1 + int(rand, 3);
      assertValid(
        { kind: 'request', onComplete: (n) => (n % pauseEvery === 0 ? 'pause' : undefined) },
        c.input,
        (BASE_SEED + i) >>> 0,
        5,
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Differential: Node's own parser must see the same requests and responses.

interface NodeRequest {
  method: string;
  url: string;
  headers: HeaderList;
  body: string;
  trailers: HeaderList;
}

const pairs = (raw: string[]): HeaderList => {
  const out: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
};

/** A random valid request, exercising framings, header shapes and chunk extensions. */
function randomRequest(rand: () => number): string {
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND']; // llhttp knows a fixed list
  const method = methods[int(rand, methods.length)] as string;
  const path = `/${Array.from({ length: int(rand, 4) }, () => ['a', 'b%20c', 'd.e', '~f', 'x=1&y=2', '%E2%82%AC'][int(rand, 6)]).join('/')}${rand() < 0.3 ? '?q=1&r=%2F' : ''}`;
  const headers: string[] = ['Host: example.test'];
  const extra = int(rand, 6);
  for (let i = 0; i < extra; i++) {
    const name = ['X-A', 'x-b', 'Accept', 'Cookie', 'X-Dup', 'x-dup', 'User-Agent'][int(rand, 7)] as string;
    const value = ['v', 'a, b', '  spaced  ', 'caf\xe9', '', 'q="1"; w=2', 'tab\there'][int(rand, 7)] as string;
    headers.push(`${name}:${rand() < 0.5 ? ' ' : ''}${value}`);
  }
  let body = '';
  const bodyLen = int(rand, 40);
  for (let i = 0; i < bodyLen; i++) body += String.fromCharCode(int(rand, 256));
  const framing = int(rand, 3);
  let bodyWire = '';
  if (framing === 1) {
    headers.push(`${rand() < 0.5 ? 'Content-Length' : 'content-length'}: ${body.length}`);
    bodyWire = body;
  } else if (framing === 2) {
    headers.push(`${rand() < 0.5 ? 'Transfer-Encoding' : 'transfer-encoding'}: chunked`);
    let rest = body;
    while (rest.length > 0) {
      const n = 1 + int(rand, rest.length);
      const ext = rand() < 0.3 ? ';ext=1' : rand() < 0.2 ? ';q="a b"' : '';
      bodyWire += `${n.toString(16)}${ext}\r\n${rest.slice(0, n)}\r\n`;
      rest = rest.slice(n);
    }
    bodyWire += '0\r\n';
    if (rand() < 0.4) bodyWire += 'X-Trailer: t\r\n';
    bodyWire += '\r\n';
  }
  return `${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n${bodyWire}`;
}

describe('Http1Parser: differential against Node’s http parser', () => {
  let server: http.Server;
  let seen: NodeRequest[] = [];
  let port = 0;

  before(async () => {
    server = http.createServer({ requireHostHeader: false }, (req, res) => {
      const body: Buffer[] = [];
      req.on('data', (d: Buffer) => body.push(d));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: pairs(req.rawHeaders),
          body: Buffer.concat(body).toString('latin1'),
          trailers: pairs(req.rawTrailers),
        });
        res.end('ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  async function nodeParses(input: Buffer): Promise<NodeRequest[]> {
    seen = [];
    const socket = net.connect(port, '127.0.0.1');
    socket.on('data', () => {});
    await once(socket, 'connect');
    socket.end(input);
    await once(socket, 'close');
    return seen;
  }

  function ourParse(input: Buffer): NodeRequest[] {
    const o = run({ kind: 'request' }, [input]);
    assert.equal(o.error, undefined);
    return messages(o.events).map((m) => ({
      method: m.head.method,
      url: m.head.target,
      headers: m.head.headers,
      body: m.body,
      trailers: m.trailers ?? [],
    }));
  }

  it('scripted requests', async () => {
    for (const c of requestCases.filter((x) => x.node)) {
      const ours = ourParse(c.input);
      const node = await nodeParses(c.input);
      assert.deepEqual(ours, node, c.name);
    }
  });

  it('random valid requests, pipelined on one connection', async () => {
    const seed = BASE_SEED ^ 0xd1ff;
    const rand = prng(seed);
    for (let round = 0; round < 5; round++) {
      const input = b(Array.from({ length: 20 }, () => randomRequest(rand)).join(''));
      const ours = ourParse(input);
      assert.equal(ours.length, 20);
      const node = await nodeParses(input);
      assert.deepEqual(ours, node, `seed ${seed}, round ${round}`);
      assertValid({ kind: 'request' }, input, (seed + round) >>> 0, 5);
    }
  });

  it('scripted responses, read by Node’s http client', async () => {
    for (const c of responseCases.filter((x) => x.node)) {
      const upstream = net.createServer((sock) => {
        sock.on('data', () => {});
        sock.end(c.input);
      });
      upstream.listen(0, '127.0.0.1');
      await once(upstream, 'listening');
      try {
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port, agent: false }, resolve)
            .on('error', reject);
        });
        const body: Buffer[] = [];
        for await (const d of res) body.push(d as Buffer);
        const ours = messages(run({ kind: 'response' }, [c.input]).events).filter((m) => m.complete);
        assert.equal(ours.length, 1, c.name);
        const m = ours[0] as Message;
        assert.equal(res.statusCode, m.head.status, c.name);
        assert.equal(res.statusMessage, m.head.statusText, c.name);
        assert.deepEqual(pairs(res.rawHeaders), m.head.headers, c.name);
        assert.equal(Buffer.concat(body).toString('latin1'), m.body, c.name);
        assert.deepEqual(pairs(res.rawTrailers), m.trailers ?? [], c.name);
      } finally {
        upstream.close();
      }
    }
  });
});
