/**
 * The files of a snapshot directory as the writer needs them: snapshot.json written atomically,
 * the segment names `exchanges-NNNN.ndjson.gz`. No schema here (reading with validation is in
 * meta.ts), so the capture worker that only writes does not load zod.
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotMeta } from '../../model/snapshot.ts';

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
