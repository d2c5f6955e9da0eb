/**
 * NDJSON export and import: one exchange per line, exactly the records the store keeps. Import
 * validates every line and reports the bad ones by line number instead of failing the file.
 */
import type { Exchange } from '../model/exchange.ts';
import { parseExchange } from '../model/migrate.ts';
import { splitLines } from './lines.ts';

export interface NdjsonProblem {
  /** 1-based line number in the input. */
  line: number;
  message: string;
}

export interface NdjsonReadOptions {
  onProblem?: (problem: NdjsonProblem) => void;
}

/** The export, line by line, so that a large snapshot streams to its destination. */
export async function* ndjsonLines(exchanges: AsyncIterable<Exchange> | Iterable<Exchange>): AsyncGenerator<string> {
  for await (const x of exchanges) yield JSON.stringify(x) + '\n';
}

export { encodeLines, type LineBatch } from './ndjson-encode.ts';

export function formatNdjson(exchanges: Iterable<Exchange>): string {
  let out = '';
  for (const x of exchanges) out += JSON.stringify(x) + '\n';
  return out;
}

/**
 * Reads exchanges from NDJSON bytes or text. Blank lines are ignored; a line that is not JSON
 * or not a valid exchange goes to `onProblem` and is skipped. A last line without a newline is
 * read like any other (files written by other tools often end that way).
 */
export async function* readNdjson(
  input: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: NdjsonReadOptions = {},
): AsyncGenerator<Exchange> {
  for await (const line of splitLines(input)) {
    const exchange = parseLine(line.text, line.number, options.onProblem);
    if (exchange) yield exchange;
  }
}

/** The same for a string held in memory. */
export function parseNdjson(text: string): { exchanges: Exchange[]; problems: NdjsonProblem[] } {
  const exchanges: Exchange[] = [];
  const problems: NdjsonProblem[] = [];
  text.split('\n').forEach((raw, i) => {
    const x = parseLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw, i + 1, (p) => problems.push(p));
    if (x) exchanges.push(x);
  });
  return { exchanges, problems };
}

function parseLine(
  text: string,
  line: number,
  onProblem: ((p: NdjsonProblem) => void) | undefined,
): Exchange | undefined {
  if (text.trim() === '') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    onProblem?.({ line, message: `not JSON: ${(err as Error).message}` });
    return undefined;
  }
  try {
    return parseExchange(raw);
  } catch (err) {
    onProblem?.({ line, message: (err as Error).message });
    return undefined;
  }
}
