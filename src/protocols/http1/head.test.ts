import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Http1ParseError, parseFieldLine, parseHead, type Http1ErrorCode, type Http1Head } from './head.ts';

/** Parses a head given without its final CRLFCRLF, as the parser would call parseHead. */
function head(kind: 'request' | 'response', text: string): Http1Head {
  const raw = Buffer.from(`${text}\r\n\r\n`, 'latin1');
  return parseHead(kind, text, raw);
}

function rejects(kind: 'request' | 'response', text: string, code: Http1ErrorCode): void {
  assert.throws(
    () => head(kind, text),
    (err: unknown) => {
      assert.ok(err instanceof Http1ParseError, `expected Http1ParseError for ${JSON.stringify(text)}`);
      assert.equal(err.code, code, `code for ${JSON.stringify(text)}: ${err.message}`);
      return true;
    },
  );
}

describe('parseHead: request line', () => {
  it('parses method, target and version, keeping the raw bytes', () => {
    const h = head('request', 'GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: example.com');
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/a/b?c=d&e=%20');
    assert.equal(h.version, '1.1');
    assert.equal(h.status, 0);
    assert.deepEqual(h.headers, [['Host', 'example.com']]);
    assert.equal(h.raw.toString('latin1'), 'GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: example.com\r\n\r\n');
    assert.equal(h.contentLength, undefined);
    assert.equal(h.chunked, false);
    assert.equal(h.close, false);
    assert.equal(h.upgrade, undefined);
    assert.equal(h.expectContinue, false);
  });

  it('accepts every target form and any token method', () => {
    assert.equal(head('request', 'OPTIONS * HTTP/1.1').target, '*');
    assert.equal(head('request', 'CONNECT example.com:443 HTTP/1.1').target, 'example.com:443');
    assert.equal(head('request', 'GET http://example.com/x?y HTTP/1.1').target, 'http://example.com/x?y');
    assert.equal(head('request', "M-SEARCH!#$%&'*+.^_`|~ / HTTP/1.1").method, "M-SEARCH!#$%&'*+.^_`|~");
    assert.equal(head('request', 'get / HTTP/1.0').method, 'get');
    assert.equal(head('request', 'GET /caf\xe9 HTTP/1.1').target, '/caf\xe9');
  });

  for (const line of [
    '',
    'GET',
    'GET /',
    ' GET / HTTP/1.1',
    'GET  / HTTP/1.1',
    'GET /  HTTP/1.1',
    'GET /a b HTTP/1.1',
    'GET / HTTP/1.1 ',
    'GET\t/\tHTTP/1.1',
    'G(T / HTTP/1.1',
    'GE:T / HTTP/1.1',
    'G\xc9T / HTTP/1.1',
    'GET /\x7f HTTP/1.1',
    'GET /\x00 HTTP/1.1',
    '/ HTTP/1.1',
  ]) {
    it(`rejects the request line ${JSON.stringify(line)}`, () => rejects('request', line, 'bad-request-line'));
  }

  for (const line of [
    'GET / HTTP/2.0',
    'GET / HTTP/1.2',
    'GET / HTTP/0.9',
    'GET / HTTP/1',
    'GET / http/1.1',
    'GET / HTTP/1.1x',
    'GET / HTTPS/1.1',
    'GET / ',
  ]) {
    it(`rejects the version in ${JSON.stringify(line)}`, () => rejects('request', line, 'bad-version'));
  }
});

describe('parseHead: status line', () => {
  it('parses status, reason and version', () => {
    const h = head('response', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0');
    assert.equal(h.status, 404);
    assert.equal(h.statusText, 'Not Found');
    assert.equal(h.version, '1.1');
    assert.equal(h.method, '');
    assert.equal(h.contentLength, 0);
  });

  it('accepts an empty or missing reason, and tabs or obs-text in it', () => {
    assert.equal(head('response', 'HTTP/1.1 200').statusText, '');
    assert.equal(head('response', 'HTTP/1.1 200 ').statusText, '');
    assert.equal(head('response', 'HTTP/1.0 200 A\tB \xe9').statusText, 'A\tB \xe9');
    assert.equal(head('response', 'HTTP/1.1 999 Whatever').status, 999);
  });

  for (const line of [
    '',
    'HTTP/1.1',
    'HTTP/1.1 ',
    'HTTP/1.1 20 OK',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 099 Low',
    'HTTP/1.1 000',
    'HTTP/1.1  200 OK',
    'HTTP/1.1 abc OK',
    'ICY 200 OK',
    'HTTP/1.1 200 O\x01K',
    'HTTP/1.1 200 O\x7fK',
    'HTTP/1.1 200\tOK',
  ]) {
    it(`rejects the status line ${JSON.stringify(line)}`, () => rejects('response', line, 'bad-status-line'));
  }

  for (const line of ['HTTP/2.0 200 OK', 'HTTP/1.2 200 OK', 'HTTP/0.9 200 OK', 'HTTP/3.0 200']) {
    it(`rejects the version in ${JSON.stringify(line)}`, () => rejects('response', line, 'bad-version'));
  }
});

describe('parseHead: header fields', () => {
  it('keeps order, case and repeats', () => {
    const h = head(
      'response',
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nX-Thing: one\r\nset-cookie: b=2\r\nx-thing: two\r\nSET-COOKIE: c=3',
    );
    assert.deepEqual(h.headers, [
      ['Set-Cookie', 'a=1; Path=/'],
      ['X-Thing', 'one'],
      ['set-cookie', 'b=2'],
      ['x-thing', 'two'],
      ['SET-COOKIE', 'c=3'],
    ]);
  });

  it('strips spaces and tabs around values, and nothing else', () => {
    const h = head('request', 'GET / HTTP/1.1\r\nA:  \t x y \t \r\nB:\r\nC:   \r\nD:\xa0v\xa0\r\nE:\x80\xff');
    assert.deepEqual(h.headers, [
      ['A', 'x y'],
      ['B', ''],
      ['C', ''],
      ['D', '\xa0v\xa0'],
      ['E', '\x80\xff'],
    ]);
  });

  for (const [name, line] of [
    ['no colon', 'Host example.com'],
    ['an empty name', ': value'],
    ['a space in the name', 'Ho st: a'],
    ['a space before the colon', 'Host : a'],
    ['a tab before the colon', 'Host\t: a'],
    ['a separator in the name', 'Ho(st): a'],
    ['a NUL in the value', 'X: a\x00b'],
    ['a NUL in the name', 'X\x00: a'],
    ['a control character in the value', 'X: a\x01b'],
    ['a DEL in the value', 'X: a\x7fb'],
    ['a vertical tab in the value', 'X: 1\x0b'],
    ['a form feed in the value', 'X: \x0c1'],
    ['a bare CR in the value', 'X: a\rb'],
    ['a bare LF in the value', 'X: a\nb'],
    ['an empty line', ''],
  ] as const) {
    it(`rejects a header with ${name}`, () => rejects('request', `GET / HTTP/1.1\r\n${line}`, 'bad-header'));
  }

  it('rejects obs-fold continuation lines, also right after the start line', () => {
    rejects('request', 'GET / HTTP/1.1\r\nX: a\r\n b', 'bad-header');
    rejects('request', 'GET / HTTP/1.1\r\nX: a\r\n\tb', 'bad-header');
    rejects('request', 'GET / HTTP/1.1\r\n X: a', 'bad-header');
    rejects('response', 'HTTP/1.1 200 OK\r\nX: a\r\n b', 'bad-header');
  });

  it('a bare LF decides the error before any other check (as the parser sees it early)', () => {
    rejects('request', 'GET / HTTP/1.1\n', 'bad-request-line');
    rejects('request', 'GET / HTTP/1.1\nHost: h', 'bad-request-line');
    rejects('response', 'HTTP/1.1 200 OK\nX: y', 'bad-status-line');
    rejects('request', 'GET / HTTP/2.0\r\nX: a\nb', 'bad-header');
    rejects('request', 'GET / HTTP/1.1\r\nBad Name: x\r\nX: a\n', 'bad-header');
    rejects('response', 'HTTP/9.9 200 OK\r\nContent-Length: x\r\nX: y\n', 'bad-header');
  });

  it('parseFieldLine splits and validates one line', () => {
    assert.deepEqual(parseFieldLine('Name:  v a l  '), ['Name', 'v a l']);
    assert.deepEqual(parseFieldLine('n:'), ['n', '']);
    assert.deepEqual(parseFieldLine('a:b:c'), ['a', 'b:c']);
    for (const bad of ['', ':x', ' n: v', 'n : v', 'n: \x00', 'no colon']) {
      assert.throws(() => parseFieldLine(bad), Http1ParseError, JSON.stringify(bad));
    }
  });
});

describe('parseHead: Content-Length', () => {
  it('reads a length, repeats of the same length, and lists of it', () => {
    assert.equal(head('request', 'POST / HTTP/1.1\r\nContent-Length: 42').contentLength, 42);
    assert.equal(head('request', 'POST / HTTP/1.1\r\ncontent-length:0').contentLength, 0);
    assert.equal(head('request', 'POST / HTTP/1.1\r\nContent-Length: 007').contentLength, 7);
    assert.equal(head('request', 'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5').contentLength, 5);
    assert.equal(head('request', 'POST / HTTP/1.1\r\nContent-Length: 5, 5,5').contentLength, 5);
    assert.equal(head('request', 'POST / HTTP/1.1\r\nContent-Length: 999999999999999').contentLength, 999999999999999);
  });

  for (const value of [
    'abc',
    '-1',
    '+1',
    '1.5',
    '0x10',
    '1e3',
    '',
    '1 2',
    '5,',
    ',5',
    '1234567890123456',
    '\xa05',
    '5\xa0',
  ]) {
    it(`rejects Content-Length ${JSON.stringify(value)}`, () => {
      rejects('request', `POST / HTTP/1.1\r\nContent-Length: ${value}`, 'bad-content-length');
      rejects('response', `HTTP/1.1 200 OK\r\nContent-Length: ${value}`, 'bad-content-length');
    });
  }

  it('rejects conflicting lengths', () => {
    rejects('request', 'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6', 'bad-content-length');
    rejects('request', 'POST / HTTP/1.1\r\nContent-Length: 5, 6', 'bad-content-length');
    rejects('response', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\ncontent-length: 1', 'bad-content-length');
  });
});

describe('parseHead: Transfer-Encoding', () => {
  it('sees chunked as the final coding, across repeated headers and in any case', () => {
    assert.equal(head('request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked').chunked, true);
    assert.equal(head('request', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked').chunked, true);
    assert.equal(
      head('request', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED').chunked,
      true,
    );
    assert.equal(head('response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked').chunked, true);
  });

  it('in a response, overrides Content-Length, and reads a non-chunked coding until close', () => {
    const h = head('response', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked');
    assert.equal(h.chunked, true);
    assert.equal(h.contentLength, undefined);
    const g = head('response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 10');
    assert.equal(g.chunked, false);
    assert.equal(g.contentLength, undefined);
  });

  for (const [name, headers] of [
    ['Content-Length too', 'Transfer-Encoding: chunked\r\nContent-Length: 5'],
    ['Content-Length first', 'Content-Length: 5\r\nTransfer-Encoding: chunked'],
    ['a final coding other than chunked', 'Transfer-Encoding: gzip'],
    ['chunked then gzip', 'Transfer-Encoding: chunked, gzip'],
    ['chunked then gzip in two headers', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip'],
    ['chunked twice', 'Transfer-Encoding: chunked, chunked'],
    ['chunked twice in two headers', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked'],
    ['an empty value', 'Transfer-Encoding: '],
    ['a near miss', 'Transfer-Encoding: xchunked'],
  ] as const) {
    it(`rejects a request Transfer-Encoding with ${name}`, () =>
      rejects('request', `POST / HTTP/1.1\r\n${headers}`, 'bad-transfer-encoding'));
  }
});

describe('parseHead: connection management', () => {
  const cases: Array<[string, string, boolean]> = [
    ['HTTP/1.1 by default', 'GET / HTTP/1.1', false],
    ['HTTP/1.1 with close', 'GET / HTTP/1.1\r\nConnection: close', true],
    ['HTTP/1.1 with a close token in a list', 'GET / HTTP/1.1\r\nConnection: TE, Close', true],
    ['HTTP/1.1 with close in a second header', 'GET / HTTP/1.1\r\nConnection: te\r\nConnection: close', true],
    ['HTTP/1.0 by default', 'GET / HTTP/1.0', true],
    ['HTTP/1.0 with keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive', false],
    ['HTTP/1.0 with keep-alive and close', 'GET / HTTP/1.0\r\nConnection: keep-alive, close', true],
  ];
  for (const [name, text, close] of cases) {
    it(`close is ${close} for ${name}`, () => assert.equal(head('request', text).close, close));
  }

  it('close for a HTTP/1.0 response', () => {
    assert.equal(head('response', 'HTTP/1.0 200 OK').close, true);
    assert.equal(head('response', 'HTTP/1.0 200 OK\r\nConnection: keep-alive').close, false);
  });

  it('reports Upgrade only when Connection lists upgrade', () => {
    assert.equal(head('request', 'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade').upgrade, 'websocket');
    assert.equal(head('request', 'GET / HTTP/1.1\r\nConnection: keep-alive, upgrade\r\nUpgrade: h2c').upgrade, 'h2c');
    assert.equal(head('request', 'GET / HTTP/1.1\r\nUpgrade: websocket').upgrade, undefined);
    assert.equal(
      head('response', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade').upgrade,
      'websocket',
    );
  });

  it('reports Expect: 100-continue in any case', () => {
    assert.equal(head('request', 'PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1').expectContinue, true);
    assert.equal(head('request', 'PUT / HTTP/1.1\r\nExpect: something-else').expectContinue, false);
  });
});
