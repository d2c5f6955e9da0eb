/**
 * The embedded store: a local directory holding `snapshots/<id>/`. Reading never creates
 * anything; the directory appears with the first snapshot written.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { SnapshotAmbiguousError, SnapshotNotFoundError } from '../../errors.ts';
import type { SnapshotMeta } from '../../model/snapshot.ts';
import type { CreateSnapshotOptions, Store } from '../types.ts';
import { META_FILE, SNAPSHOTS_DIR, readMeta } from './meta.ts';
import { FsSnapshotHandle } from './reader.ts';
import { createSnapshotWriter, type FsSnapshotWriter } from './writer.ts';

/** Id prefixes shorter than this would match by accident too often. */
export const MIN_ID_PREFIX = 6;

export interface FsStoreOptions {
  /** Directory that relative store and snapshot paths are resolved against (default: process.cwd()). */
  cwd?: string;
}

export class FsStore implements Store {
  readonly location: string;
  private readonly cwd: string;

  constructor(dir: string, options: FsStoreOptions = {}) {
    this.cwd = options.cwd ?? process.cwd();
    this.location = resolve(this.cwd, dir);
  }

  private get snapshotsDir(): string {
    return join(this.location, SNAPSHOTS_DIR);
  }

  create(options: CreateSnapshotOptions = {}): Promise<FsSnapshotWriter> {
    return createSnapshotWriter(this.location, options);
  }

  async list(): Promise<SnapshotMeta[]> {
    const all = await this.scan();
    return all.map((s) => s.meta).sort(newestFirst);
  }

  /**
   * Finds a snapshot by, in order: its id, a path to its directory, its name, a unique id
   * prefix (at least MIN_ID_PREFIX characters). A name or prefix that matches several is an error.
   */
  async open(ref: string): Promise<FsSnapshotHandle> {
    if (ref === '') throw new SnapshotNotFoundError(ref, this.location);
    const pathLike = isAbsolute(ref) || /[\\/]/.test(ref) || ref === '.' || ref === '..';
    if (!pathLike) {
      const byId = await this.openDir(join(this.snapshotsDir, ref));
      if (byId) return byId;
    } else {
      const byPath = await this.openPath(ref);
      if (byPath) return byPath;
      throw new SnapshotNotFoundError(ref, this.location);
    }
    const all = await this.scan();
    const byName = all.filter((s) => s.meta.name === ref);
    if (byName.length > 1)
      throw new SnapshotAmbiguousError(
        ref,
        byName.map((s) => s.meta.id),
      );
    if (byName[0]) return new FsSnapshotHandle(byName[0].dir, byName[0].meta);
    if (ref.length >= MIN_ID_PREFIX) {
      const upper = ref.toUpperCase();
      const byPrefix = all.filter((s) => s.meta.id.toUpperCase().startsWith(upper));
      if (byPrefix.length > 1)
        throw new SnapshotAmbiguousError(
          ref,
          byPrefix.map((s) => s.meta.id),
        );
      if (byPrefix[0]) return new FsSnapshotHandle(byPrefix[0].dir, byPrefix[0].meta);
    }
    // Last: a snapshot directory in the working directory, named without any slash.
    const inCwd = await this.openPath(ref);
    if (inCwd) return inCwd;
    throw new SnapshotNotFoundError(ref, this.location);
  }

  private async openPath(ref: string): Promise<FsSnapshotHandle | undefined> {
    let dir = resolve(this.cwd, ref);
    if (basename(dir) === META_FILE) dir = dirname(dir);
    return this.openDir(dir);
  }

  private async openDir(dir: string): Promise<FsSnapshotHandle | undefined> {
    const meta = await readMeta(dir);
    return meta ? new FsSnapshotHandle(dir, meta) : undefined;
  }

  /** Every readable snapshot; a directory with a damaged snapshot.json is passed over. */
  private async scan(): Promise<Array<{ dir: string; meta: SnapshotMeta }>> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.snapshotsDir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const found = await Promise.all(
      entries
        .filter((e) => e.isDirectory())
        .map(async (e) => {
          const dir = join(this.snapshotsDir, e.name);
          try {
            const meta = await readMeta(dir);
            return meta ? { dir, meta } : undefined;
          } catch {
            return undefined;
          }
        }),
    );
    return found.filter((s): s is { dir: string; meta: SnapshotMeta } => s !== undefined);
  }
}

export function openStore(dir: string, options: FsStoreOptions = {}): FsStore {
  return new FsStore(dir, options);
}

function newestFirst(a: SnapshotMeta, b: SnapshotMeta): number {
  const t = Date.parse(b.created) - Date.parse(a.created);
  if (t !== 0 && !Number.isNaN(t)) return t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
