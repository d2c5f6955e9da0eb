import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareHeaders, headerMap, parseContentType, sameContentType } from './headers.ts';

describe('headers', () => {
  it('parses media type and charset, lower-case, quotes and spacing aside', () => {
    assert.deepEqual(parseContentType('Text/HTML; Charset="UTF-8"'), { type: 'text/html', charset: 'utf-8' });
    assert.deepEqual(parseContentType('multipart/form-data; boundary=xyz'), {
      type: 'multipart/form-data',
      charset: undefined,
    });
    assert.equal(sameContentType('multipart/form-data; boundary=a', 'multipart/form-data; boundary=b'), true);
    assert.equal(sameContentType('text/plain; charset=utf-8', 'text/plain; charset=latin1'), false);
  });

  it('joins repeated headers in order under lower-case names', () => {
    assert.deepEqual(
      [
        ...headerMap([
          ['Vary', ' Accept '],
          ['X-A', '1'],
          ['vary', 'Origin'],
        ]),
      ],
      [
        ['vary', 'Accept, Origin'],
        ['x-a', '1'],
      ],
    );
  });

  it('compares content-type by default and only the chosen headers otherwise', () => {
    const rec: Array<[string, string]> = [
      ['Content-Type', 'text/plain'],
      ['X-A', '1'],
    ];
    const rep: Array<[string, string]> = [
      ['content-type', 'text/html'],
      ['x-a', '2'],
    ];
    assert.deepEqual(
      compareHeaders(rec, rep).map((d) => d.path),
      ['header.content-type'],
    );
    assert.deepEqual(
      compareHeaders(rec, rep, ['X-A', 'x-a']).map((d) => d.path),
      ['header.x-a'],
    );
  });
});
