import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { httpExchange, tcpExchange } from '../../test/helpers/exchanges.ts';
import type { Exchange } from '../model/exchange.ts';
import { formatNdjson, ndjsonLines, parseNdjson, readNdjson, type NdjsonProblem } from './ndjson.ts';

const xs: Exchange[] = [httpExchange(0), tcpExchange(1), httpExchange(2, { direction: 'inbound' })];

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

void describe('NDJSON', () => {
  void test('export writes one exchange per line; import reads them back', async () => {
    const text = (await collect(ndjsonLines(xs))).join('');
    assert.equal(text, formatNdjson(xs));
    assert.equal(text.split('\n').length, xs.length + 1);
    assert.ok(text.endsWith('\n'));
    assert.deepEqual(parseNdjson(text), { exchanges: xs, problems: [] });
  });

  void test('streamed import survives chunks that split lines and multi-byte characters', async () => {
    const x = httpExchange(5);
    if (x.response?.body) x.response.body.data = 'naïve café – ünïcödé';
    const bytes = Buffer.from(formatNdjson([...xs, x]));
    // Three-byte chunks cut through every line and through the multi-byte characters.
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
    assert.deepEqual(await collect(readNdjson(Readable.from(chunks))), [...xs, x]);
  });

  void test('bad lines are reported with their line numbers and skipped', async () => {
    const lines = [
      JSON.stringify(xs[0]),
      '',
      '{not json',
      JSON.stringify({ ...xs[1], v: 2 }),
      '[1,2]',
      JSON.stringify(xs[2]),
    ];
    const problems: NdjsonProblem[] = [];
    // No newline after the last line, and Windows line ends: both are fine.
    const got = await collect(readNdjson([lines.join('\r\n')], { onProblem: (p) => problems.push(p) }));
    assert.deepEqual(got, [xs[0], xs[2]]);
    assert.deepEqual(
      problems.map((p) => p.line),
      [3, 4, 5],
    );
    assert.match(problems[0]?.message ?? '', /^not JSON/);
    assert.match(problems[1]?.message ?? '', /newer than this tapwire/);
    assert.deepEqual(parseNdjson(lines.join('\n')).problems, problems);
  });
});
