/**
 * Reads a snapshot directory by streaming its segments. It reads past what a crash leaves
 * behind: a gzip stream without its end (the process was killed) still yields every complete
 * line, and an incomplete last line or a line that is not a valid exchange is reported through
 * `onProblem` instead of failing the whole read.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { constants as zc, createGunzip } from 'node:zlib';
import { SnapshotCorruptError } from '../../errors.ts';
import type { Exchange } from '../../model/exchange.ts';
import { parseExchange } from '../../model/migrate.ts';
import type { SnapshotMeta } from '../../model/snapshot.ts';
import { splitLines } from '../lines.ts';
import type { ReadOptions, ReadProblem, SnapshotHandle } from '../types.ts';
import { segmentsOnDisk } from './meta.ts';

export class FsSnapshotHandle implements SnapshotHandle {
  constructor(
    readonly dir: string,
    readonly meta: SnapshotMeta,
  ) {}

  async *exchanges(options: ReadOptions = {}): AsyncGenerator<Exchange> {
    const onProblem = options.onProblem ?? (() => {});
    const onDisk = await segmentsOnDisk(this.dir);
    const missing = this.meta.segments.filter((s) => !onDisk.includes(s));
    if (missing.length > 0) {
      throw new SnapshotCorruptError(
        `snapshot ${this.meta.id} lists segments that are missing from ${this.dir}: ${missing.join(', ')}`,
        {
          hint: 'the snapshot directory was changed by hand or copied in part; copy it again in full',
        },
      );
    }
    for (const segment of onDisk) yield* readSegment(join(this.dir, segment), segment, onProblem);
  }
}

/** Streams the exchanges of one segment file. */
export async function* readSegment(
  file: string,
  segment: string,
  onProblem: (problem: ReadProblem) => void,
): AsyncGenerator<Exchange> {
  const source = createReadStream(file);
  // SYNC_FLUSH at the end of input: a stream cut short yields what it has instead of an error.
  const gunzip = createGunzip({ finishFlush: zc.Z_SYNC_FLUSH });
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  const damage: { error?: Error } = {};
  let lastLine = 0;
  try {
    for await (const line of splitLines(untilDamage(gunzip, damage, file))) {
      lastLine = line.number;
      if (!line.complete) {
        onProblem({
          segment,
          line: line.number,
          kind: 'torn',
          message: damage.error
            ? `incomplete line: the compressed data after it is damaged (${damage.error.message})`
            : 'incomplete last line: the recording was cut off while writing it',
        });
        return;
      }
      if (line.text.trim() === '') continue;
      let exchange: Exchange;
      try {
        exchange = parseExchange(JSON.parse(line.text));
      } catch (err) {
        onProblem({ segment, line: line.number, kind: 'invalid', message: (err as Error).message });
        continue;
      }
      yield exchange;
    }
    if (damage.error) {
      onProblem({
        segment,
        line: lastLine + 1,
        kind: 'torn',
        message: `compressed data damaged (${damage.error.message}): nothing after line ${lastLine} can be read`,
      });
    }
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

/**
 * Passes the decompressed chunks through and ends quietly when the compressed data runs out
 * early or turns to garbage (recording where, so the caller can report it). A file that cannot
 * be read at all is an error.
 */
async function* untilDamage(
  chunks: AsyncIterable<Buffer>,
  damage: { error?: Error },
  file: string,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of chunks) yield chunk;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message)) return;
    if (typeof e.code === 'string' && e.code.startsWith('Z_')) {
      damage.error = e;
      return;
    }
    throw new SnapshotCorruptError(`cannot read ${file}: ${e.message}`, { cause: err });
  }
}
