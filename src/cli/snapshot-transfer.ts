/**
 * `tapwire snapshot export` and `import`: streams between a snapshot and a HAR or NDJSON file
 * (or stdout/stdin), and says on stderr what was written, skipped or unreadable.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { FileUnreadableError, FileUnwritableError, ImportFormatError, UsageError, isTapwireError } from '../errors.ts';
import type { Direction, Exchange } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { FsStore } from '../store/fs/index.ts';
import { harJsonChunks, harToExchanges, isHar } from '../store/har/index.ts';
import { ndjsonLines, readNdjson, type NdjsonProblem } from '../store/ndjson.ts';
import type { ReadProblem, SnapshotWriter } from '../store/types.ts';
import type { CliContext } from './context.ts';

type Format = 'har' | 'ndjson';
type Chunks = AsyncIterable<Uint8Array | string>;

/** How many problems or skipped entries are listed before "and N more". */
const LIST_MAX = 10;
const IMPORT_BATCH = 1000;

export interface ExportOptions {
  format?: Format | undefined;
  output?: string | undefined;
  creatorVersion: string;
}

export async function runExport(store: FsStore, ref: string, options: ExportOptions, ctx: CliContext): Promise<void> {
  const format = options.format ?? formatFromName(options.output);
  if (!format) {
    throw new UsageError('say which format to export: --format har or --format ndjson', {
      hint: 'with -o FILE.har or -o FILE.ndjson the format follows from the extension',
    });
  }
  const handle = await store.open(ref);
  const problems: ReadProblem[] = [];
  const source = handle.exchanges({ onProblem: (p) => problems.push(p) });
  const stats = { written: 0, skippedTcp: 0 };
  const chunks =
    format === 'har'
      ? harJsonChunks(source, { creatorVersion: options.creatorVersion }, stats)
      : ndjsonLines(counted(source, stats));
  const target = options.output === undefined ? 'stdout' : resolve(ctx.cwd, options.output);
  if (options.output === undefined) {
    for await (const chunk of chunks) ctx.stdout.write(chunk);
  } else {
    await writeFileAtomically(target, chunks);
  }
  warnProblems(
    ctx,
    problems.map((p) => `${p.segment} line ${p.line}: ${p.message}`),
  );
  let note =
    `tapwire: exported ${plural(stats.written, 'exchange')} of snapshot ${handle.meta.name} (${handle.meta.id}) ` +
    `to ${target} as ${format === 'har' ? 'HAR 1.2' : 'NDJSON'}`;
  if (stats.skippedTcp > 0) {
    note += `; skipped ${plural(stats.skippedTcp, 'TCP exchange')}: HAR holds HTTP only (--format ndjson keeps them)`;
  }
  ctx.stderr.write(note + '\n');
}

export interface ImportOptions {
  name?: string | undefined;
  format?: Format | undefined;
  direction: Direction;
}

export async function runImport(store: FsStore, file: string, options: ImportOptions, ctx: CliContext): Promise<void> {
  if (file === '-') return importFrom(stdinOf(ctx), store, file, options, ctx);
  const stream = await openFile(resolve(ctx.cwd, file), file);
  try {
    await importFrom(stream, store, file, options, ctx);
  } finally {
    // An import that fails early has not read the file to its end.
    stream.destroy();
  }
}

async function importFrom(input: Chunks, store: FsStore, file: string, options: ImportOptions, ctx: CliContext) {
  const label = file === '-' ? 'stdin' : file;
  const { head, all } = await peek(readable(input, label), 64 * 1024);
  const detected = options.format ?? detect(head, label);
  const name = options.name ?? (file === '-' ? undefined : basename(file, extname(file)) || undefined);
  const create = (source: string) =>
    store.create({
      ...(name === undefined ? {} : { name }),
      source,
      tags: { importedFrom: file === '-' ? 'stdin' : basename(file) },
    });

  if (detected === 'ndjson') {
    const problems: NdjsonProblem[] = [];
    const meta = await writeAll(readNdjson(all, { onProblem: (p) => problems.push(p) }), () => create('import:ndjson'));
    warnProblems(
      ctx,
      problems.map((p) => `${label} line ${p.line}: ${p.message}`),
    );
    if (!meta) {
      throw new ImportFormatError(`${label} holds no valid exchange`, {
        hint: problems.length > 0 ? `line ${problems[0]?.line}: ${problems[0]?.message}` : 'the file has no lines',
      });
    }
    report(ctx, meta, label, 'NDJSON');
    return;
  }

  // HAR, or a JSON document to look at as a whole.
  const text = (await readAll(all)).toString('utf8').replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ImportFormatError(`${label} is not valid JSON: ${(err as Error).message}`, {
      hint: 'a HAR file is one JSON document with a "log" object; NDJSON has one exchange per line (--format ndjson)',
    });
  }
  if (!isHar(doc)) {
    throw new ImportFormatError(`${label} is JSON but not HAR: it has no "log" object`, {
      hint: 'import a HAR file (DevTools: Network panel, "Save all as HAR") or NDJSON exchanges, one per line',
    });
  }
  const result = harToExchanges(doc, { direction: options.direction });
  const skipped = result.skipped.map((s) => `entry ${s.index}${s.url ? ` (${s.url})` : ''}: ${s.reason}`);
  if (result.exchanges.length === 0) {
    throw new ImportFormatError(
      `${label} holds no HTTP exchange tapwire can import (${plural(result.skipped.length, 'entry', 'entries')} skipped)`,
      {
        hint: skipped[0] ?? 'the HAR file has no entries: record the page again with the Network panel open',
      },
    );
  }
  const meta = await writeAll(result.exchanges, () => create('import:har'));
  if (skipped.length > 0) {
    ctx.stderr.write(`tapwire: skipped ${plural(skipped.length, 'HAR entry', 'HAR entries')}:\n`);
    listSome(ctx, skipped);
  }
  report(ctx, meta as SnapshotMeta, label, `HAR${result.creator ? ` from ${result.creator}` : ''}`);
}

function report(ctx: CliContext, meta: SnapshotMeta, label: string, what: string): void {
  ctx.stderr.write(
    `tapwire: imported ${plural(meta.counts.exchanges, 'exchange')} from ${label} (${what}) into snapshot ${meta.name} (${meta.id})\n`,
  );
  // stdout carries only the id, for scripts: id=$(tapwire snapshot import x.har)
  ctx.stdout.write(meta.id + '\n');
}

/**
 * Writes the exchanges to a new snapshot, created only once there is a first exchange. On a
 * failure the half-written snapshot is removed. Undefined when there was nothing to write.
 */
async function writeAll(
  exchanges: AsyncIterable<Exchange> | Iterable<Exchange>,
  create: () => Promise<SnapshotWriter>,
): Promise<SnapshotMeta | undefined> {
  let writer: SnapshotWriter | undefined;
  let batch: Exchange[] = [];
  try {
    for await (const x of exchanges) {
      batch.push(x);
      if (batch.length >= IMPORT_BATCH) {
        writer ??= await create();
        await writer.writeBatch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) {
      writer ??= await create();
      await writer.writeBatch(batch);
    }
    return writer ? await writer.close() : undefined;
  } catch (err) {
    if (writer) {
      await writer.close().catch(() => undefined);
      await rm(writer.dir, { recursive: true, force: true });
    }
    throw err;
  }
}

function formatFromName(file: string | undefined): Format | undefined {
  if (!file) return undefined;
  if (/\.har$/i.test(file)) return 'har';
  if (/\.(ndjson|jsonl)$/i.test(file)) return 'ndjson';
  return undefined;
}

/** HAR when the document starts as a JSON object whose first key (or first line) has `log`. */
function detect(head: Buffer, label: string): Format | 'json' {
  const text = head
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (text === '') throw new ImportFormatError(`${label} is empty`, { hint: 'give a HAR or NDJSON file' });
  if (/^\{\s*"log"\s*:/.test(text)) return 'har';
  if (!text.startsWith('{') && !text.startsWith('[')) return 'ndjson';
  const nl = text.indexOf('\n');
  try {
    return isHar(JSON.parse(nl === -1 ? text : text.slice(0, nl))) ? 'har' : 'ndjson';
  } catch {
    // The first line is not a JSON value of its own: a pretty-printed document, HAR or not.
    return 'json';
  }
}

async function* counted(source: AsyncIterable<Exchange>, stats: { written: number }): AsyncGenerator<Exchange> {
  for await (const x of source) {
    stats.written++;
    yield x;
  }
}

/** Writes through a temporary file and a rename: a failed export leaves no half file behind. */
async function writeFileAtomically(path: string, chunks: AsyncIterable<string>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  let stream: WriteStream | undefined;
  try {
    stream = createWriteStream(tmp, { flags: 'wx' });
    await once(stream, 'open');
    for await (const chunk of chunks) if (!stream.write(chunk)) await once(stream, 'drain');
    stream.end();
    await finished(stream);
    await rename(tmp, path);
  } catch (err) {
    stream?.destroy();
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (isTapwireError(err) || typeof code !== 'string') throw err;
    // The error names the temporary file; say it about the file the user asked for.
    const reason =
      code === 'ENOENT'
        ? 'its directory does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message;
    throw new FileUnwritableError(path, reason, 'check that the directory exists and is writable');
  }
}

async function openFile(path: string, label: string): Promise<ReadStream> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new FileUnreadableError(label, 'it is a directory', 'give a HAR or NDJSON file');
  } catch (err) {
    if (isTapwireError(err)) throw err;
    throw new FileUnreadableError(label, (err as Error).message, 'check the path; use - to read stdin');
  }
  return createReadStream(path);
}

function stdinOf(ctx: CliContext): Chunks {
  // CliContext has no stdin yet; tests may provide one on the context object.
  return (ctx as CliContext & { stdin?: Chunks }).stdin ?? process.stdin;
}

/** Turns read errors into FileUnreadableError, and gunzips a gzip file on the fly. */
async function* readable(input: Chunks, label: string): AsyncGenerator<Buffer> {
  try {
    const it = input[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) return;
    const firstBuf = toBuffer(first.value);
    const rest = async function* () {
      yield firstBuf;
      for (let r = await it.next(); !r.done; r = await it.next()) yield toBuffer(r.value);
    };
    if (firstBuf[0] === 0x1f && firstBuf[1] === 0x8b) {
      // A gzip file (an exported .ndjson.gz, a segment): read what it holds. A failure on
      // either side destroys the gunzip, which ends the loop below with the error.
      const gunzip = createGunzip();
      pipeline(Readable.from(rest()), gunzip).catch(() => undefined);
      for await (const c of gunzip) yield c as Buffer;
    } else {
      yield* rest();
    }
  } catch (err) {
    if (isTapwireError(err)) throw err;
    throw new FileUnreadableError(label, (err as Error).message);
  }
}

function toBuffer(c: Uint8Array | string): Buffer {
  return typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c.buffer, c.byteOffset, c.length);
}

/** Reads at least `size` bytes (or all) to look at, and gives back the whole stream. */
async function peek(input: AsyncIterable<Buffer>, size: number): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = input[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let total = 0;
  let done = false;
  while (total < size) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    seen.push(r.value);
    total += r.value.length;
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield* seen;
    if (!done) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head: Buffer.concat(seen), all: all() };
}

async function readAll(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

function warnProblems(ctx: CliContext, lines: string[]): void {
  if (lines.length === 0) return;
  ctx.stderr.write(`tapwire: warning: ${plural(lines.length, 'unreadable line')}, skipped:\n`);
  listSome(ctx, lines);
}

function listSome(ctx: CliContext, lines: string[]): void {
  for (const line of lines.slice(0, LIST_MAX)) ctx.stderr.write(`  ${line}\n`);
  if (lines.length > LIST_MAX) ctx.stderr.write(`  … and ${lines.length - LIST_MAX} more\n`);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
