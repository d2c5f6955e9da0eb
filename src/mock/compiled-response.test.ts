/** Recorded responses compiled to HTTP/1.1 bytes: framing rewritten, everything else as recorded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRecorded } from './compiled-response.ts';
import { FaultInjector, mulberry32 } from './faults.ts';
import { parseLatency } from './latency.ts';

describe('compiled responses', () => {
  it('keeps header order and case, recomputes Content-Length in place, drops chunked framing', () => {
    const c = compileRecorded({
      status: 200,
      statusText: 'OK',
      headers: [
        ['X-Zulu', 'z'],
        ['Transfer-Encoding', 'chunked'],
        ['content-length', '999'],
        ['Connection', 'keep-alive'],
        ['X-Alpha', 'a'],
      ],
      body: { encoding: 'utf8', data: 'héllo', size: 6, truncated: false },
    });
    assert.equal(
      c.full.toString('latin1'),
      'HTTP/1.1 200 OK\r\nX-Zulu: z\r\ncontent-length: 6\r\nX-Alpha: a\r\n\r\n' +
        Buffer.from('héllo').toString('latin1'),
    );
  });

  it('serves a truncated body as recorded, with a warning; HTTP/2 responses get a reason phrase', () => {
    const c = compileRecorded({
      status: 404,
      statusText: '',
      headers: [
        [':status', '404'],
        ['content-type', 'text/plain'],
      ],
      body: { encoding: 'base64', data: Buffer.from('abc').toString('base64'), size: 10, truncated: true },
    });
    const text = c.full.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 404 Not Found\r\ncontent-type: text\/plain\r\nContent-Length: 3\r\n/);
    assert.match(text, /X-Tapwire-Warning: body truncated at capture: 3 of 10 bytes\r\n\r\nabc$/);
    assert.equal(c.truncated, true);
  });

  it('gives 204 and 304 neither a body nor a length', () => {
    const c = compileRecorded({ status: 204, statusText: 'No Content', headers: [['Content-Length', '0']] });
    assert.equal(c.full.toString(), 'HTTP/1.1 204 No Content\r\n\r\n');
  });
});

describe('latency and fault dice', () => {
  it('parses none, recorded and factors', () => {
    assert.deepEqual(parseLatency('none'), { kind: 'none' });
    assert.deepEqual(parseLatency('recorded'), { kind: 'scaled', factor: 1 });
    assert.deepEqual(parseLatency('0.5x'), { kind: 'scaled', factor: 0.5 });
    assert.equal(parseLatency('fast'), undefined);
  });

  it('draws the same faults for the same seed and requests', () => {
    const rules = [{ name: 'coin', path: '/a/**', probability: 0.5, status: 500 }];
    const run = () => {
      const f = new FaultInjector(rules, 42);
      return Array.from(
        { length: 32 },
        (_, i) => f.pick({ host: 'h', port: 80, method: 'GET', path: `/a/${i}` })?.name ?? '-',
      );
    };
    assert.deepEqual(run(), run());
    assert.ok(run().includes('coin') && run().includes('-'));
    const r = mulberry32(1);
    assert.ok(Array.from({ length: 100 }, r).every((x) => x >= 0 && x < 1));
    const none = new FaultInjector(rules, 42);
    assert.equal(none.pick({ host: 'h', port: 80, method: 'GET', path: '/b' }), undefined);
  });
});
