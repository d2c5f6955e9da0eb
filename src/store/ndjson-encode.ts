/**
 * Exchanges encoded as NDJSON lines for a snapshot writer. Apart from ndjson.ts (which also
 * validates what it reads) so that code that only writes does not load the schema.
 */
import type { Exchange } from '../model/exchange.ts';

/**
 * NDJSON lines already encoded (by the capture worker's writer), with what a snapshot writer
 * keeps count of for each line: line i is bytes[ends[i-1] ?? 0, ends[i]), newline included.
 */
export interface LineBatch {
  bytes: Uint8Array;
  ends: number[];
  directions: Exchange['direction'][];
  services: (string | undefined)[];
  /** Start of each exchange, ms since the epoch (the instant of its `ts`). */
  times: number[];
  /** Each `ts` as written, when it is not the ISO form of `times` (imported records). */
  ts?: string[];
}

/** Exchanges as a LineBatch. */
export function encodeLines(exchanges: readonly Exchange[]): LineBatch {
  const batch: LineBatch = { bytes: new Uint8Array(0), ends: [], directions: [], services: [], times: [], ts: [] };
  let text = '';
  for (const x of exchanges) {
    text += JSON.stringify(x) + '\n';
    batch.ends.push(text.length); // UTF-16 units for now; made byte offsets below
    batch.directions.push(x.direction);
    batch.services.push(x.service);
    batch.times.push(Date.parse(x.ts));
    batch.ts?.push(x.ts);
  }
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length !== text.length) {
    // Not all ASCII: measure each line in bytes.
    let start = 0;
    let at = 0;
    batch.ends = batch.ends.map((end) => {
      at += Buffer.byteLength(text.slice(start, end), 'utf8');
      start = end;
      return at;
    });
  }
  batch.bytes = bytes;
  return batch;
}
