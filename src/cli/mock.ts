/** `tapwire mock`: serve recorded outbound traffic as mocks of every dependency. */
import type { Command } from 'commander';
import { childProxyEnv } from '../capture/child-env.ts';
import { UsageError } from '../errors.ts';
import { parseLatency } from '../mock/latency.ts';
import type { StatsSnapshot } from '../mock/match-stats.ts';
import type { MapSpec, Responder } from '../mock/responder.ts';
import { defaultCaDir } from '../protocols/tls/ca.ts';
import { trustEnv, writeTrustBundle } from '../protocols/tls/trust.ts';
import { openStore } from '../store/fs/index.ts';
import { startApp, waitForAppOrStop, type AppProcess } from './app-process.ts';
import type { CliContext } from './context.ts';
import { parseCount, parsePort } from './options.ts';

interface MockFlags {
  in?: string[];
  outPort?: number;
  map?: MapSpec[];
  passthrough?: boolean;
  latency?: string;
  config?: string;
  seed?: number;
  adminPort?: number;
  bind?: string;
  ca?: string;
  upstreamCa?: string[];
  insecureUpstream?: boolean;
  watch?: boolean;
}

/** Misses listed in the exit summary; /matches has them all. */
const SUMMARY_MISSES = 5;

function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `8443=api.example.com:443` (also `[::1]:443`). */
export function parseMap(value: string, previous: MapSpec[] | undefined): MapSpec[] {
  const m = /^(\d{1,5})=(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/=]+)):(\d{1,5})$/.exec(value.trim());
  const listenPort = Number(m?.[1]);
  const port = Number(m?.[4]);
  if (!m || listenPort > 65535 || port > 65535 || port === 0) {
    throw new UsageError(`--map must be PORT=HOST:PORT, for example 8443=api.example.com:443; got "${value}"`);
  }
  return [...(previous ?? []), { listenPort, host: (m[2] ?? m[3]) as string, port }];
}

function parseLatencyFlag(value: string): string {
  if (!parseLatency(value))
    throw new UsageError(`--latency must be none, recorded or a factor like 2x; got "${value}"`);
  return value;
}

export function registerMock(program: Command, ctx: CliContext): void {
  program
    .command('mock')
    .summary('serve recorded outbound traffic as mocks of every dependency')
    .description(
      "Answers an app's outbound calls from snapshots, so it runs with its dependencies switched off.\n\n" +
        'front door  --out-port speaks HTTP proxy, CONNECT and SOCKS4/4a/5 (like record); tunnels are never\n' +
        '            dialled: HTTPS is served with leaves of the local CA, the same one record uses\n' +
        '--map       a plain listener that serves as if every request went to HOST:PORT (TLS when the client\n' +
        '            sends a ClientHello, with a leaf for HOST; plain HTTP otherwise)\n\n' +
        'A request is matched on method, host, path, query and body; repeats are answered in recorded order,\n' +
        'then the last one repeats. A miss is a 404 with X-Tapwire-Mock: miss and a JSON explanation with\n' +
        'the closest recorded requests, or goes to the real host with --passthrough. Snapshots and --config\n' +
        'are reloaded when they change. Ctrl-C prints the match summary.',
    )
    .argument('[snapshot...]', 'snapshot ids, names or directories (a directory may hold several snapshots)')
    .option('--in <snapshot>', 'another snapshot to serve; repeatable', repeat)
    .option('--out-port <port>', 'the front door (HTTP proxy, CONNECT, SOCKS) [default 4140]', parsePort('--out-port'))
    .option('--map <port=host:port>', 'serve HOST:PORT on PORT, e.g. 8443=api.example.com:443; repeatable', parseMap)
    .option('--passthrough', 'send requests that match nothing to the real host (verified TLS)')
    .option('--latency <mode>', 'none (default), recorded, or a factor of the recorded time like 2x', parseLatencyFlag)
    .option('--config <file.yaml>', 'mock config: matching rules, latency, faults, seed, passthrough')
    .option('--seed <n>', 'seed of the fault dice (overrides the config)', parseCount('--seed'))
    .option(
      '--admin-port <port>',
      'admin endpoint on 127.0.0.1: /healthz /readyz /metrics /matches [default 4101]',
      parsePort('--admin-port'),
    )
    .option('--bind <host>', 'address the front door and --map listeners bind to [default 127.0.0.1]')
    .option('--ca <dir>', 'directory of the local CA (or TAPWIRE_CA) [default ~/.tapwire/ca]')
    .option('--upstream-ca <file>', 'also trust this CA (PEM) for --passthrough to real hosts; repeatable', repeat)
    .option('--insecure-upstream', 'UNSAFE: accept any certificate from real hosts with --passthrough')
    .option('--no-watch', 'do not reload when the snapshots or the config change')
    .addHelpText(
      'after',
      '\nAfter --, a command is started with HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and the CA trust variables set\n' +
        'to the mock (as record does); the mock stops when it exits, with its exit code.\n\n' +
        'Examples:\n' +
        '  tapwire mock checkout-run -- npm test\n' +
        '      run the tests against the recorded dependencies\n' +
        '  tapwire mock checkout-run --map 8443=api.example.com:443 --latency recorded\n' +
        '      the app calls https://api.example.com:8443 (resolve it to 127.0.0.1)\n' +
        '  curl -x http://127.0.0.1:4140 --cacert "$(tapwire certs path)" https://api.example.test/users/7\n' +
        '  tapwire mock ./.tapwire --config mock.yaml     every snapshot in the store, with faults from mock.yaml\n' +
        '  curl http://127.0.0.1:4101/matches             what matched, what missed and why\n\n' +
        "After `mock`, --config is the mock config; tapwire's own config file goes before it\n" +
        '(tapwire --config tapwire.yaml mock SNAPSHOT) or in TAPWIRE_CONFIG.',
    )
    .action(async (args: string[], flags: MockFlags, cmd: Command) => {
      ctx.setExitCode?.(await runMock(args, flags, cmd, ctx));
    });
}

async function runMock(args: string[], flags: MockFlags, cmd: Command, ctx: CliContext): Promise<number> {
  // Commander drops the `--`: what came after it in the raw arguments (kept by commander,
  // though not in its types) is the command.
  const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
  const dash = raw.indexOf('--');
  const commandLength = dash < 0 ? 0 : raw.length - dash - 1;
  const command = commandLength > 0 ? args.slice(args.length - commandLength) : [];
  const refs = [...args.slice(0, args.length - commandLength), ...(flags.in ?? [])];
  if (refs.length === 0) {
    throw new UsageError('give at least one snapshot to serve: tapwire mock SNAPSHOT… (or --in SNAPSHOT)');
  }
  const parentOpts = cmd.parent?.opts<{ store?: string; config?: string; logLevel?: string }>() ?? {};
  // The program-wide --config also catches a --config written after `mock`: there (DESIGN §5)
  // it is the mock's config; written before `mock` it is tapwire's own config file.
  const mockAt = raw.indexOf('mock');
  const end = dash < 0 ? raw.length : dash;
  const afterMock = raw.slice(mockAt + 1, end).some((a) => a === '--config' || a.startsWith('--config='));
  const mockConfig = flags.config ?? (afterMock ? parentOpts.config : undefined);
  const globalConfig = afterMock ? ctx.env['TAPWIRE_CONFIG'] : (parentOpts.config ?? ctx.env['TAPWIRE_CONFIG']);
  const config = ctx.config({ store: parentOpts.store, logLevel: parentOpts.logLevel, ca: flags.ca }, globalConfig);
  const logger = ctx.logger(config.logLevel);
  const responder = await (
    await import('../mock/responder.ts')
  ).startResponder({
    snapshots: refs,
    store: openStore(config.store, { cwd: ctx.cwd }),
    cwd: ctx.cwd,
    outPort: flags.outPort ?? 4140,
    host: flags.bind ?? '127.0.0.1',
    maps: flags.map ?? [],
    passthrough: flags.passthrough ? true : undefined,
    latency: flags.latency,
    seed: flags.seed,
    configFile: mockConfig,
    caDir: config.ca ?? defaultCaDir(ctx.env),
    upstreamCa: flags.upstreamCa ?? [],
    insecureUpstream: flags.insecureUpstream ?? false,
    adminPort: flags.adminPort ?? 4101,
    logger,
    watch: flags.watch !== false,
  });
  ctx.stderr.write(describe(responder));

  let app: AppProcess | undefined;
  if (command.length > 0) {
    let env = childProxyEnv(ctx.env, responder.outbound.host, responder.outbound.port);
    if (responder.ca) env = { ...env, ...trustEnv(responder.ca, await writeTrustBundle(responder.ca)) };
    app = await startApp(command, env, ctx, () => responder.stop(), 'tapwire mock SNAPSHOT -- npm test');
  }

  const code = await waitForAppOrStop(ctx, app, command[0] ?? 'the app');
  const stats = await responder.stop();
  ctx.stderr.write(formatSummary(stats));
  return code;
}

/** The start banner: where it listens and what it serves, per origin. */
function describe(r: Responder): string {
  const { snapshots, state } = r.loaded;
  const lines = [
    `tapwire: mocking ${state.index.size} recorded endpoints from ${snapshots.length} snapshot(s): ` +
      snapshots.map((s) => `${s.name} (${s.id}, ${s.exchanges} outbound)`).join(', '),
    `  front door  ${r.outbound.host}:${r.outbound.port} (HTTP proxy, CONNECT, SOCKS4/4a/5)`,
  ];
  for (const m of r.maps) lines.push(`  map         ${m.host}:${m.port} → ${m.target}`);
  if (r.ca) lines.push(`  tls         served with the CA in ${r.ca.certPath}`);
  lines.push(`  admin       ${r.admin.url}/matches`);
  const origins = r.loaded.origins;
  if (origins.length > 0) {
    lines.push('  serving:');
    for (const o of origins.slice(0, 20))
      lines.push(`    ${o.origin}  ${o.endpoints} endpoint(s), ${o.exchanges} exchange(s) [${o.protocols.join(', ')}]`);
    if (origins.length > 20) lines.push(`    … and ${origins.length - 20} more hosts`);
  }
  const { config } = r.loaded;
  const extras: string[] = [];
  if (config.latency !== 'none') extras.push(`latency ${config.latency}`);
  if (config.passthrough) extras.push('passthrough on');
  if (config.faults.length > 0) extras.push(`${config.faults.length} fault rule(s)`);
  if (extras.length > 0) lines.push(`  ${extras.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export function formatSummary(s: StatsSnapshot): string {
  const lines = [`tapwire: matched ${s.matched}, missed ${s.missed}, passed through ${s.passedThrough}`];
  const faults = Object.entries(s.faults);
  if (faults.length > 0) lines.push(`  faults injected: ${faults.map(([n, c]) => `${n} ×${c}`).join(', ')}`);
  if (s.malformed > 0) lines.push(`  malformed requests: ${s.malformed}`);
  for (const miss of s.misses.slice(0, SUMMARY_MISSES)) {
    lines.push(`  miss ${miss.request}${miss.count > 1 ? ` (×${miss.count})` : ''}`, `    ${miss.explanation}`);
  }
  if (s.misses.length > SUMMARY_MISSES) lines.push(`  … ${s.misses.length - SUMMARY_MISSES} more distinct misses`);
  return `${lines.join('\n')}\n`;
}
