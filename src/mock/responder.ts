/**
 * The responder as a library: `startResponder()` loads snapshots and config, serves them on the
 * front door (--out-port) and the --map listeners, keeps them fresh with hot reload, and counts
 * what it matched; `stop()` closes everything and returns the counts. `tapwire mock` is a thin
 * command line around it; replay runs it in-process.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { loadOrInitCa, type LocalCa } from '../protocols/tls/ca.ts';
import { LeafCache } from '../protocols/tls/leaf-cache.ts';
import { upstreamTrust } from '../protocols/tls/trust.ts';
import type { FsStore } from '../store/fs/index.ts';
import { MockEngine, type MockState } from './engine.ts';
import { handleFrontDoor, serveTunnel, type FrontDoorEnv } from './front-door.ts';
import { defaultHooks } from './hooks.ts';
import { loadMock, type Loaded } from './load.ts';
import { MatchStats, type StatsSnapshot } from './match-stats.ts';
import type { MockConfig } from './match-config.ts';
import { startMockAdmin, type MockAdmin } from './mock-admin.ts';
import { listenMock, type MockListener } from './mock-listeners.ts';
import type { ProtocolHooks } from './protocol-hooks.ts';
import { watchForReload, type Reloader } from './reload.ts';

/** `--map 8443=api.example.com:443`: a listener that serves as if every request went to host:port. */
export interface MapSpec {
  listenPort: number;
  host: string;
  port: number;
}

export interface ResponderOptions {
  /** Snapshot ids, names or directories (a directory may hold several snapshots). */
  snapshots: readonly string[];
  store: FsStore;
  /** Relative snapshot and config paths are resolved against it (default process.cwd()). */
  cwd?: string;
  /** The front door: HTTP proxy, CONNECT and SOCKS on one port (default 4140; 0 picks one). */
  outPort?: number;
  /** Address the front door and map listeners bind to (default 127.0.0.1). */
  host?: string;
  maps?: readonly MapSpec[];
  /** Flags over the config file (undefined: the file, or the default, decides). */
  passthrough?: boolean | undefined;
  latency?: string | undefined;
  seed?: number | undefined;
  configFile?: string | undefined;
  /** The local CA (the same as record's): TLS is served with leaves it signs. Absent: no TLS. */
  caDir?: string | undefined;
  /** PEM files of extra CAs that verify real hosts for --passthrough. */
  upstreamCa?: readonly string[];
  insecureUpstream?: boolean;
  /** Admin endpoint on 127.0.0.1 (default 4101; 0 picks one). */
  adminPort?: number;
  logger: Logger;
  /** Protocol handlers (HTTP/2, WebSocket, TCP); default: the ones in src/mock. */
  hooks?: ProtocolHooks;
  /** Hot reload (default on). */
  watch?: boolean;
  reloadDebounceMs?: number;
  idleTimeoutMs?: number;
  maxHeadBytes?: number;
  connectTimeoutMs?: number;
}

export interface ReloadEvent {
  ok: boolean;
  error?: string;
  endpoints: number;
}

export interface Responder {
  readonly outbound: { host: string; port: number };
  readonly maps: ReadonlyArray<{ port: number; host: string; target: string }>;
  readonly admin: { url: string; port: number };
  readonly ca: LocalCa | undefined;
  /** What is being served now (changes on reload). */
  readonly loaded: Pick<Loaded, 'snapshots' | 'problems' | 'origins'> & {
    config: Readonly<MockConfig>;
    state: MockState;
  };
  stats(): StatsSnapshot;
  /** Resolves after the next reload attempt (successful or not). */
  nextReload(): Promise<ReloadEvent>;
  stop(): Promise<StatsSnapshot>;
}

export async function startResponder(options: ResponderOptions): Promise<Responder> {
  const logger = options.logger;
  const host = options.host ?? '127.0.0.1';
  const overrides = { latency: options.latency, passthrough: options.passthrough, seed: options.seed };
  const spec = {
    refs: options.snapshots,
    store: options.store,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    configFile: options.configFile,
    overrides,
  };
  // Everything that can be wrong with the input fails here, before anything listens.
  let loaded = await loadMock(spec);
  for (const p of loaded.problems) logger.warn({ problem: p }, 'snapshot line skipped');
  const ca = options.caDir ? await loadOrInitCa(options.caDir) : undefined;
  const leaves = ca ? new LeafCache(ca) : undefined;

  const ref = { current: loaded.state };
  const stats = new MatchStats();
  const engine = new MockEngine(ref, {
    stats,
    passthrough: {
      upstreamCa: upstreamTrust([...(options.upstreamCa ?? [])]),
      insecureUpstream: options.insecureUpstream ?? false,
      timeoutMs: options.connectTimeoutMs ?? 10_000,
    },
  });
  const env: FrontDoorEnv = {
    engine,
    hooks: options.hooks ?? defaultHooks(ref, stats),
    stats,
    logger,
    leaves,
    maxHeadBytes: options.maxHeadBytes ?? 64 * 1024,
  };
  const idle = options.idleTimeoutMs ?? 120_000;

  const listeners: MockListener[] = [];
  let admin: MockAdmin | undefined;
  let reloads = 0;
  let reloadFailures = 0;
  const events = new EventEmitter();
  let ready = false;
  try {
    const front = await listenMock('mock traffic (--out-port)', host, options.outPort ?? 4140, idle, (socket) => {
      handleFrontDoor(socket, env);
    });
    listeners.push(front);
    const maps: Array<{ port: number; host: string; target: string }> = [];
    for (const m of options.maps ?? []) {
      const target = { scheme: 'http' as const, host: m.host.toLowerCase(), port: m.port };
      const l = await listenMock(`--map ${m.listenPort}`, host, m.listenPort, idle, (socket) => {
        serveTunnel(socket, target, Buffer.alloc(0), env, {
          fixed: true,
          peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
        });
      });
      listeners.push(l);
      maps.push({ port: l.port, host, target: `${m.host}:${m.port}` });
    }
    admin = await startMockAdmin({
      port: options.adminPort ?? 4101,
      stats,
      logger,
      isReady: () => ready,
      info: () => ({
        snapshots: loaded.snapshots,
        endpoints: ref.current.index.size,
        reloads,
        reloadFailures,
      }),
      gauges: () => ({
        endpoints: ref.current.index.size,
        reloads,
        reloadFailures,
        connections: listeners.reduce((n, l) => n + l.connections, 0),
      }),
    });
    ready = true;

    let reloader: Reloader | undefined;
    if (options.watch ?? true) {
      reloader = watchForReload({
        snapshotDirs: loaded.watch.snapshotDirs,
        collections: loaded.watch.collections,
        configFile: options.configFile,
        debounceMs: options.reloadDebounceMs ?? 200,
        logger,
        reload: async () => {
          const next = await loadMock(spec);
          // One assignment: a request is answered wholly from the old state or the new one.
          ref.current = next.state;
          loaded = next;
          reloader?.rewatch(next.watch.snapshotDirs, next.watch.collections);
          logger.info(
            { endpoints: next.state.index.size, snapshots: next.snapshots.length },
            'reloaded the snapshots and config',
          );
        },
        onResult: (r) => {
          if (r.ok) reloads++;
          else reloadFailures++;
          const event: ReloadEvent = r.ok
            ? { ok: true, endpoints: ref.current.index.size }
            : { ok: false, error: r.error.message, endpoints: ref.current.index.size };
          events.emit('reload', event);
        },
      });
    }

    const adminServer = admin;
    let stopping: Promise<StatsSnapshot> | undefined;
    return {
      outbound: { host, port: front.port },
      maps,
      admin: { url: adminServer.url, port: adminServer.port },
      ca,
      get loaded() {
        const { snapshots, problems, origins, config } = loaded;
        return { snapshots, problems, origins, config, state: ref.current };
      },
      stats: () => stats.snapshot(),
      nextReload: () => new Promise<ReloadEvent>((resolve) => events.once('reload', resolve)),
      stop() {
        stopping ??= (async () => {
          ready = false;
          reloader?.close();
          await Promise.all(listeners.map((l) => l.close()));
          await adminServer.close();
          return stats.snapshot();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await admin?.close();
    throw err;
  }
}
