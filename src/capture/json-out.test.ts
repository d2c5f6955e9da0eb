import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonOut } from './json-out.ts';

// Every character class JSON.stringify treats differently: controls, quote, backslash, DEL,
// latin1, BMP, astral, and a lone surrogate (only reachable from a JS string).
const samples = [
  '',
  'plain',
  'a"b\\c',
  '\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1f\x7f',
  'café ÿ',
  '✓ €',
  '😀',
  '\ud800x',
  'x'.repeat(100),
];

describe('JsonOut', () => {
  it('writes strings as JSON.stringify does, whichever way they come in', () => {
    for (const s of samples) {
      const expected = JSON.stringify(s);
      const out = new JsonOut(1); // grows as it goes
      out.string(s);
      assert.equal(out.bytes.toString('utf8'), expected, `string ${expected}`);
      if ([...s].every((ch) => ch.charCodeAt(0) <= 0xff)) {
        const fromLatin1 = new JsonOut(1);
        fromLatin1.latin1String(Buffer.from(`..${s}..`, 'latin1'), 2, 2 + s.length);
        assert.equal(fromLatin1.bytes.toString('utf8'), expected, `latin1 ${expected}`);
      }
      if (!/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) {
        const fromUtf8 = new JsonOut(1);
        fromUtf8.utf8String(Buffer.from(s, 'utf8'));
        assert.equal(fromUtf8.bytes.toString('utf8'), expected, `utf8 ${expected}`);
      }
    }
  });

  it('writes ASCII pieces and numbers as they are', () => {
    const out = new JsonOut(4);
    out.ascii('{"a":');
    out.number(1.5);
    out.ascii(`,"b":${'x'.repeat(70)}`);
    out.byte(0x7d);
    assert.equal(out.bytes.toString(), `{"a":1.5,"b":${'x'.repeat(70)}}`);
  });
});
