/**
 * Splitting a byte stream into lines, shared by the segment reader and the NDJSON importer.
 * Lines are cut on bytes (0x0A) before decoding, so a multi-byte character split across two
 * chunks never turns into replacement characters.
 */

export interface Line {
  /** 1-based line number. */
  number: number;
  /** The line without its `\n` (and without a trailing `\r`). */
  text: string;
  /** False only for a last line that had no `\n`: in a segment that means it was cut off. */
  complete: boolean;
}

const NL = 0x0a;

export async function* splitLines(
  chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
): AsyncGenerator<Line> {
  // Pieces of the line being read; joined once its end is found so that a long line costs one copy.
  let parts: Buffer[] = [];
  let number = 0;
  for await (const raw of chunks) {
    const chunk =
      typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.length);
    let start = 0;
    let nl = chunk.indexOf(NL, start);
    while (nl !== -1) {
      parts.push(chunk.subarray(start, nl));
      number++;
      yield { number, text: decode(parts), complete: true };
      parts = [];
      start = nl + 1;
      nl = chunk.indexOf(NL, start);
    }
    if (start < chunk.length) parts.push(chunk.subarray(start));
  }
  if (parts.length > 0) {
    number++;
    yield { number, text: decode(parts), complete: false };
  }
}

function decode(parts: Buffer[]): string {
  const text = (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)).toString('utf8');
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}
