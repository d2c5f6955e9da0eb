/**
 * Loading what the mock serves: the snapshots (each given by id, name or path, or a directory
 * that holds several snapshots: a store or a folder of snapshot directories) and the mock
 * config, built into one MockState. Used at start (where any failure stops the start) and by
 * hot reload (where a failure keeps the old state).
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SnapshotNotFoundError } from '../errors.ts';
import type { Exchange } from '../model/exchange.ts';
import { readMeta } from '../store/fs/meta.ts';
import { FsSnapshotHandle, SNAPSHOTS_DIR, type FsStore } from '../store/fs/index.ts';
import { compileRecorded, type CompiledResponse } from './compiled-response.ts';
import type { MockState } from './engine.ts';
import { FaultInjector } from './faults.ts';
import { parseLatency } from './latency.ts';
import { loadMockConfig, type MockConfig, type MockConfigOverrides } from './match-config.ts';
import { MockIndex } from './mock-index.ts';

export interface LoadSpec {
  /** Snapshot ids, names or paths (a path may hold several snapshots). */
  refs: readonly string[];
  store: FsStore;
  /** Relative paths are resolved against it (default process.cwd()). */
  cwd?: string;
  configFile?: string | undefined;
  overrides: MockConfigOverrides;
}

export interface Loaded {
  state: MockState;
  config: Readonly<MockConfig>;
  /** Snapshots read, for the banner. */
  snapshots: Array<{ id: string; name: string; dir: string; exchanges: number }>;
  /** What to watch for hot reload: snapshot directories and directories of snapshots. */
  watch: { snapshotDirs: string[]; collections: string[] };
  /** Lines that could not be read (torn, invalid): served around, reported. */
  problems: string[];
  /** What is served per origin, for the start banner. */
  origins: OriginSummary[];
}

export interface OriginSummary {
  /** `https://api.test` (`:port` when not the default), or `tcp://host:port`. */
  origin: string;
  /** Distinct method and path pairs. */
  endpoints: number;
  exchanges: number;
  protocols: string[];
}

/** The seed of the fault dice when the config gives none. */
export const DEFAULT_SEED = 1;

export async function loadMock(spec: LoadSpec): Promise<Loaded> {
  // The config first: a typo there is reported before a long snapshot read.
  const config = loadMockConfig(spec.configFile, spec.overrides);
  const handles: FsSnapshotHandle[] = [];
  const collections: string[] = [];
  for (const ref of spec.refs) {
    const found = await resolveRef(ref, spec);
    handles.push(...found.handles);
    if (found.collection) collections.push(found.collection);
  }
  const exchanges: Exchange[] = [];
  const snapshots: Loaded['snapshots'] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const handle of handles) {
    if (seen.has(handle.dir)) continue; // the same snapshot named twice is served once
    seen.add(handle.dir);
    let n = 0;
    for await (const x of handle.exchanges({
      onProblem: (p) => problems.push(`${handle.dir}/${p.segment} line ${p.line}: ${p.message}`),
    })) {
      if (x.direction !== 'outbound') continue;
      exchanges.push(x);
      n++;
    }
    snapshots.push({ id: handle.meta.id, name: handle.meta.name, dir: handle.dir, exchanges: n });
  }
  return {
    state: buildState(exchanges, config),
    config,
    snapshots,
    watch: { snapshotDirs: [...seen], collections },
    problems,
    origins: summarizeOrigins(exchanges),
  };
}

export function buildState(exchanges: Exchange[], config: Readonly<MockConfig>): MockState {
  const index = MockIndex.build(exchanges, config);
  // Compiled once here, so that a hit writes bytes it already has.
  const responses = new Map<Exchange, CompiledResponse>();
  const h2Hosts = new Set<string>();
  for (const x of exchanges) {
    if (x.protocol === 'tcp') continue;
    if (x.protocol === 'http' && x.response) responses.set(x, compileRecorded(x.response));
    if (x.request.httpVersion === '2') {
      const host = hostOf(x.request.url);
      if (host) h2Hosts.add(host);
    }
  }
  return {
    index,
    responses,
    faults: new FaultInjector(config.faults, config.seed ?? DEFAULT_SEED),
    latency: parseLatency(config.latency) ?? { kind: 'none' },
    passthrough: config.passthrough,
    h2Hosts,
    exchanges: exchanges.length,
  };
}

function summarizeOrigins(exchanges: Exchange[]): OriginSummary[] {
  const by = new Map<string, { endpoints: Set<string>; exchanges: number; protocols: Set<string> }>();
  for (const x of exchanges) {
    let origin: string;
    let endpoint: string;
    if (x.protocol === 'tcp') {
      origin = `tcp://${x.dst ?? '?'}`;
      endpoint = '';
    } else {
      try {
        const u = new URL(x.request.url);
        origin = u.origin;
        endpoint = `${x.request.method} ${u.pathname}`;
      } catch {
        continue;
      }
    }
    let o = by.get(origin);
    if (!o) by.set(origin, (o = { endpoints: new Set(), exchanges: 0, protocols: new Set() }));
    o.endpoints.add(endpoint);
    o.exchanges++;
    o.protocols.add(x.protocol);
  }
  return [...by]
    .map(([origin, o]) => ({
      origin,
      endpoints: o.endpoints.size,
      exchanges: o.exchanges,
      protocols: [...o.protocols],
    }))
    .sort((a, b) => b.exchanges - a.exchanges || (a.origin < b.origin ? -1 : 1));
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * A ref is a snapshot (id, name, path of its directory), or a directory holding snapshots: a
 * store (with `snapshots/`) or a folder of snapshot directories. The latter is watched as a
 * whole, so a snapshot recorded into it later is served without a restart.
 */
async function resolveRef(ref: string, spec: LoadSpec): Promise<{ handles: FsSnapshotHandle[]; collection?: string }> {
  try {
    return { handles: [await spec.store.open(ref)] };
  } catch (err) {
    if (!(err instanceof SnapshotNotFoundError)) throw err;
    const dir = resolve(spec.cwd ?? process.cwd(), ref);
    const isDir = await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) throw err;
    const inner = join(dir, SNAPSHOTS_DIR);
    const root = (await stat(inner).then(
      (s) => s.isDirectory(),
      () => false,
    ))
      ? inner
      : dir;
    const handles = await snapshotsIn(root);
    if (handles.length === 0) throw err;
    return { handles, collection: dir };
  }
}

/** Snapshot directories directly under `dir`, oldest first (later recordings add after). */
async function snapshotsIn(dir: string): Promise<FsSnapshotHandle[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: FsSnapshotHandle[] = [];
  for (const e of entries.filter((d) => d.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const sub = join(dir, e.name);
    const meta = await readMeta(sub).catch(() => undefined);
    if (meta) found.push(new FsSnapshotHandle(sub, meta));
  }
  return found;
}
