import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP2_PREFACE, MAX_METHOD_LENGTH, sniffProtocol, type SniffResult } from './sniff.ts';

const s = (text: string): SniffResult => sniffProtocol(Buffer.from(text, 'latin1'));

/** Every prefix of `full` shorter than `decidedAt` is need-more; from there on, `verdict`. */
function assertPrefixes(full: Buffer, decidedAt: number, verdict: SniffResult): void {
  for (let n = 0; n <= full.length; n++) {
    const got = sniffProtocol(full.subarray(0, n));
    assert.equal(
      got,
      n < decidedAt ? 'need-more' : verdict,
      `${JSON.stringify(full.subarray(0, n).toString('latin1'))} (${n} bytes)`,
    );
  }
}

void test('TLS: 0x16 0x03 with minor version 0 to 4', () => {
  for (let minor = 0; minor <= 4; minor++) assertPrefixes(Buffer.from([0x16, 0x03, minor, 0x02, 0x00, 0x01]), 3, 'tls');
  assert.equal(sniffProtocol(Buffer.from([0x16, 0x03, 0x05])), 'unknown');
  assert.equal(sniffProtocol(Buffer.from([0x16, 0x02])), 'unknown');
  assert.equal(sniffProtocol(Buffer.from([0x15, 0x03, 0x03])), 'unknown'); // an alert is not a hello
});

void test('HTTP/2 preface: need-more while a prefix of it, then http2-preface', () => {
  assertPrefixes(
    Buffer.concat([HTTP2_PREFACE, Buffer.from([0, 0, 0x12, 4, 0])]),
    HTTP2_PREFACE.length,
    'http2-preface',
  );
  assert.equal(HTTP2_PREFACE.length, 24);
});

void test('a PRI request that turns out not to be the preface is judged as HTTP/1', () => {
  assert.equal(s('PRI * HTTP/1.1\r\n'), 'http1');
  assert.equal(s('PRI * HTTP/2.0\r\n\r\nXX'), 'http1');
});

void test('HTTP/1 with the known methods and every request-target form', () => {
  const lines = [
    'GET / HTTP/1.1\r\n',
    'HEAD /index.html HTTP/1.1\r\n',
    'POST /api HTTP/1.1\r\n',
    'PUT /x HTTP/1.1\r\n',
    'DELETE /x HTTP/1.0\r\n',
    'CONNECT example.com:443 HTTP/1.1\r\n',
    'CONNECT 10.0.0.1:443 HTTP/1.1\r\n',
    'CONNECT [::1]:443 HTTP/1.1\r\n',
    'OPTIONS * HTTP/1.1\r\n',
    'TRACE / HTTP/1.1\r\n',
    'PATCH /x HTTP/1.1\r\n',
    'GET http://example.com/ HTTP/1.1\r\n',
  ];
  for (const line of lines) {
    const decidedAt = line.indexOf(' ') + 2;
    assertPrefixes(Buffer.from(line, 'latin1'), decidedAt, 'http1');
  }
});

void test('HTTP/1 with other token methods needs an origin-form path or *', () => {
  for (const line of [
    'PROPFIND /dav/ HTTP/1.1',
    'MKCOL /x HTTP/1.1',
    'PURGE /cache HTTP/1.1',
    'M-SEARCH * HTTP/1.1',
    'UPDATEREDIRECTREF /x HTTP/1.1',
  ]) {
    assert.equal(s(line), 'http1', line);
  }
  // Text protocols that also read "WORD SPACE word" stay unknown.
  for (const line of ['SET key value\r\n', 'get key\r\n', 'PROPFIND http://x/ HTTP/1.1', 'AUTH PLAIN x']) {
    assert.equal(s(line), 'unknown', line);
  }
});

void test('HTTP/1 is case-sensitive: a lowercase known method needs a path like any token', () => {
  assert.equal(s('get / HTTP/1.1'), 'http1');
  assert.equal(s('get example.com'), 'unknown');
});

void test('need-more until a space or the longest method, then unknown', () => {
  const long = 'A'.repeat(MAX_METHOD_LENGTH);
  assert.equal(s(long), 'need-more');
  assert.equal(s(`${long}A`), 'unknown');
  assert.equal(s(`${long} /`), 'http1');
  assert.equal(s('GET'), 'need-more');
  assert.equal(s('GET '), 'need-more');
});

void test('unknown: binary, control bytes, a leading space, a bad target', () => {
  for (const input of [
    ' GET / HTTP/1.1',
    'GET\t/ HTTP/1.1',
    'GE(T / HTTP/1.1',
    'GET  / HTTP/1.1',
    'GET \r\n',
    'SSH-2.0-OpenSSH_9.6\r\n',
    '\r\nGET / HTTP/1.1',
  ]) {
    assert.equal(s(input), 'unknown', JSON.stringify(input));
  }
  for (const bytes of [
    [0x00],
    [0x05, 0x01, 0x00],
    [0x04, 0x01],
    [0x80, 0x2e],
    [0xff, 0xfe],
    [0x2a, 0x31, 0x0d, 0x0a],
  ]) {
    assert.equal(sniffProtocol(Buffer.from(bytes)), 'unknown', Buffer.from(bytes).toString('hex'));
  }
  // PostgreSQL's SSLRequest and a Redis RESP array: binary or no space within the method.
  assert.equal(sniffProtocol(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f])), 'unknown');
  assert.equal(s('*1\r\n$4\r\nPING\r\n'), 'unknown');
});

void test('empty input asks for more', () => {
  assert.equal(sniffProtocol(Buffer.alloc(0)), 'need-more');
});

void test('random bytes never throw and the verdict is stable once given', () => {
  let state = 7;
  const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 16;
  const alphabet = Buffer.from('GETPOSTRI */HA.:\r\n\x16\x03\x01', 'latin1');
  for (let round = 0; round < 3000; round++) {
    const buf = Buffer.alloc(next() % 40);
    for (let i = 0; i < buf.length; i++)
      buf[i] = next() % 2 ? (alphabet[next() % alphabet.length] as number) : next() % 256;
    let decided: SniffResult | undefined;
    for (let n = 0; n <= buf.length; n++) {
      const got = sniffProtocol(buf.subarray(0, n));
      if (decided !== undefined) assert.equal(got, decided, `${buf.toString('hex')} at ${n}`);
      else if (got !== 'need-more') decided = got;
    }
  }
});
