/**
 * Hot reload: the snapshot directories, the directories of snapshots and the config file are
 * watched; a change (debounced: a recording writes many times) rebuilds everything off to the
 * side, and only a complete new state replaces the old one, in one assignment. A reload that
 * fails (a config with a typo, a snapshot being rewritten) keeps serving the old state and
 * says why; the next change tries again.
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';
import type { Logger } from 'pino';

export interface ReloadOptions {
  snapshotDirs: readonly string[];
  collections: readonly string[];
  configFile?: string | undefined;
  debounceMs?: number;
  logger: Logger;
  /** Builds and swaps in a new state; throws to keep the old one. */
  reload: () => Promise<void>;
  /** Called after each attempt (tests and the CLI wait on it). */
  onResult?: (result: { ok: true } | { ok: false; error: Error }) => void;
}

export interface Reloader {
  /** Re-reads the watch list (a reload may bring new snapshot directories). */
  rewatch(snapshotDirs: readonly string[], collections: readonly string[]): void;
  close(): void;
}

export function watchForReload(opts: ReloadOptions): Reloader {
  const debounceMs = opts.debounceMs ?? 200;
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let closed = false;

  const run = async () => {
    if (running) {
      again = true; // one more pass after this one: the change came in the middle of it
      return;
    }
    running = true;
    try {
      await opts.reload();
      opts.onResult?.({ ok: true });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      opts.logger.warn({ err: error.message }, 'reload failed: still serving the previous snapshot and config');
      opts.onResult?.({ ok: false, error });
    } finally {
      running = false;
      if (again && !closed) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), debounceMs);
  };

  const add = (path: string, recursive: boolean, filter?: (name: string | null) => boolean) => {
    const key = `${recursive ? 'r' : 'f'}:${path}`;
    if (watchers.has(key)) return;
    try {
      const w = watch(path, { recursive, persistent: false }, (_event, name) => {
        if (!filter || filter(name)) schedule();
      });
      w.on('error', (err) => opts.logger.warn({ path, err: err.message }, 'stopped watching for changes'));
      watchers.set(key, w);
    } catch (err) {
      opts.logger.warn({ path, err: (err as Error).message }, 'cannot watch for changes: hot reload is off for it');
    }
  };

  const watchAll = (snapshotDirs: readonly string[], collections: readonly string[]) => {
    for (const dir of snapshotDirs) add(dir, false);
    for (const dir of collections) add(dir, true);
    // The directory, not the file: editors replace a file by renaming over it, which ends a
    // watch on the file itself.
    if (opts.configFile) {
      const name = basename(opts.configFile);
      add(dirname(opts.configFile), false, (changed) => changed === null || changed === name);
    }
  };
  watchAll(opts.snapshotDirs, opts.collections);

  return {
    rewatch: watchAll,
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
