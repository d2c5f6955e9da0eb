/**
 * Reading snapshot.json with a clear error; the file names and the atomic write live in
 * layout.ts (re-exported here).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotCorruptError } from '../../errors.ts';
import { SNAPSHOT_FORMAT_VERSION, snapshotMetaSchema, type SnapshotMeta } from '../../model/snapshot.ts';
import { META_FILE } from './layout.ts';

export { META_FILE, SNAPSHOTS_DIR, segmentName, segmentNumber, segmentsOnDisk, writeMeta } from './layout.ts';

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
