/**
 * The files of a snapshot directory: snapshot.json (read with a clear error, written atomically)
 * and the segment names `exchanges-NNNN.ndjson.gz`.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotCorruptError } from '../../errors.ts';
import { SNAPSHOT_FORMAT_VERSION, snapshotMetaSchema, type SnapshotMeta } from '../../model/snapshot.ts';

export const META_FILE = 'snapshot.json';
export const SNAPSHOTS_DIR = 'snapshots';

const SEGMENT_RE = /^exchanges-(\d{4,})\.ndjson\.gz$/;

/** `exchanges-0001.ndjson.gz` for n = 1; past 9999 the number simply grows a digit. */
export function segmentName(n: number): string {
  return `exchanges-${String(n).padStart(4, '0')}.ndjson.gz`;
}

export function segmentNumber(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * The segments to read: those on disk, in order. The directory is the truth rather than
 * snapshot.json because a recording cut off between a rotation and the next flush has a
 * segment that snapshot.json does not list yet.
 */
export async function segmentsOnDisk(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => segmentNumber(n) !== undefined)
    .sort((a, b) => (segmentNumber(a) ?? 0) - (segmentNumber(b) ?? 0));
}

/**
 * Reads and validates snapshot.json. Returns undefined when the file does not exist (the caller
 * decides whether that is "not found"); throws SnapshotCorruptError naming the file otherwise.
 */
export async function readMeta(dir: string): Promise<SnapshotMeta | undefined> {
  const file = join(dir, META_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new SnapshotCorruptError(`cannot read ${file}: ${(err as Error).message}`, {
      hint: 'check the permissions of the snapshot directory',
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SnapshotCorruptError(`${file} is not valid JSON: ${(err as Error).message}`, {
      hint: 'the snapshot metadata is damaged; restore it from a backup or delete the snapshot directory',
    });
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotCorruptError(
      `${file} has snapshot format version ${version}, newer than this tapwire understands (${SNAPSHOT_FORMAT_VERSION})`,
      { hint: 'upgrade tapwire to read this snapshot' },
    );
  }
  const result = snapshotMetaSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new SnapshotCorruptError(
      `${file} is not a valid snapshot description: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      { hint: 'the snapshot metadata is damaged; restore it from a backup or delete the snapshot directory' },
    );
  }
  return result.data;
}

/** Writes snapshot.json through a temporary file and a rename, so a reader never sees half of it. */
export async function writeMeta(dir: string, meta: SnapshotMeta): Promise<void> {
  const file = join(dir, META_FILE);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(meta, null, 2) + '\n');
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
