/**
 * `tapwire replay SNAPSHOT --target URL`: replays the recorded inbound traffic against a build
 * of the service, as a regression test (each response compared with its recording) and as a
 * load test (recorded timing, open model at a rate, or closed model with virtual users).
 * Argument parsing, wiring and output only: the work is in src/replay.
 */
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import { ExitCode, FileUnreadableError, UsageError } from '../errors.ts';
import type { Responder } from '../mock/responder.ts';
import type { Goal } from '../replay/assert/index.ts';
import { describeModel, parseDuration, parseRate, parseSpeed, type LoadModel } from '../replay/load-model.ts';
import type { ReplayOptions } from '../replay/runner.ts';
import { parseTargets, type Targets } from '../replay/select.ts';
import type { RunSummary } from '../replay/types.ts';
import type { FsStore } from '../store/fs/index.ts';
import type { AppProcess } from './app-process.ts';
import type { CliContext } from './context.ts';
import { parseCount, parsePort } from './options.ts';

/**
 * The generator, the assertions, the mocks and their dependencies load only when replay runs:
 * the other commands (record above all) must not pay for them in start time and memory.
 */
async function load() {
  const [assert, runner, source, progress, reportJson, reportTerminal, store, ca, trust, childEnv, appProcess] =
    await Promise.all([
      import('../replay/assert/index.ts'),
      import('../replay/runner.ts'),
      import('../replay/source.ts'),
      import('../replay/progress.ts'),
      import('../replay/report-json.ts'),
      import('../replay/report-terminal.ts'),
      import('../store/fs/index.ts'),
      import('../protocols/tls/ca.ts'),
      import('../protocols/tls/trust.ts'),
      import('../capture/child-env.ts'),
      import('./app-process.ts'),
    ]);
  return {
    ...assert,
    ...runner,
    ...source,
    ...progress,
    ...reportJson,
    ...reportTerminal,
    ...store,
    ...ca,
    ...trust,
    ...childEnv,
    ...appProcess,
  };
}

interface ReplayFlags {
  target?: string[];
  rate?: string;
  vus?: number;
  speed?: string;
  duration?: string;
  loops?: number;
  maxInFlight?: number;
  connections?: number;
  timeout?: string;
  report?: string[];
  failIf?: string[];
  baseline?: string;
  mocks?: string;
  mocksPort?: number;
  transforms?: string;
  insecure?: boolean;
  ca?: string;
  assert?: boolean;
  waitForTarget?: string;
}

function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerReplay(program: Command, ctx: CliContext): void {
  program
    .command('replay')
    .summary('replay recorded inbound traffic against a build: regression and load test')
    .description(
      'Sends the inbound HTTP requests of a snapshot (HTTP/1.1 and HTTP/2, in recorded order) to a build of the\n' +
        'service, compares every response with the recorded one, and reports latency (HdrHistogram p50…p99.9,\n' +
        'max, per endpoint), throughput over time, statuses and transport errors.\n\n' +
        'targets     --target URL replaces the recorded scheme, host and port (path and query are kept);\n' +
        '            --target SERVICE=URL (repeatable) sends each service recorded by `record --service` to its own\n' +
        'load        recorded timing by default (each request at its recorded offset; --speed 2x halves the gaps);\n' +
        '            --rate N is the open model: N requests/s on a fixed schedule whatever the answers, latency\n' +
        '            measured from the intended send time so that a stall cannot hide (--rate 10:100 ramps over\n' +
        '            --duration); --vus N is the closed model: N users each walking the snapshot in order on\n' +
        '            its own connection, sending when the previous answer is in\n' +
        'length      one pass by default; --loops N passes, or --duration D (30s, 2m) looping until it ends\n' +
        'checks      each response is compared with its recording (status, content-type, body field by field);\n' +
        '            what differs between two recordings of one request, timestamps and random ids are ignored\n' +
        '            and listed. --fail-if sets goals; --baseline compares with an earlier report.\n\n' +
        'Dependencies: --mocks SNAPSHOT serves the recorded outbound calls (tapwire mock, in-process) on\n' +
        '--mocks-port (default 4140, HTTP proxy + CONNECT + SOCKS). The app under test must send its outbound\n' +
        'calls there: start it with HTTP_PROXY/HTTPS_PROXY=http://127.0.0.1:4140 and trust the local CA\n' +
        '(`tapwire certs path`) — or put the command after -- and replay starts it with all of that set, waits\n' +
        'for the target to accept connections, replays, and stops it.\n\n' +
        'Ctrl-C stops the run; the report is still printed and written, marked interrupted.',
    )
    .argument('<snapshot>', 'snapshot id, id prefix, name or directory')
    .argument('[command...]', 'after --: the app to start with the mocks (with --mocks)')
    .option('--target <url|service=url>', 'where to send: http(s)://host:port, or SERVICE=URL; repeatable', repeat)
    .option('--rate <n|from:to>', 'open model: requests per second, or a ramp like 10:100 over --duration')
    .option('--vus <n>', 'closed model: virtual users, each on its own connection', parseCount('--vus'))
    .option('--speed <factor>', 'recorded timing, faster or slower: 2x, 0.5x [default 1x]')
    .option('--duration <d>', 'run for this long, looping over the snapshot: 30s, 2m, 1m30s')
    .option('--loops <n>', 'passes over the snapshot (per virtual user with --vus) [default 1]', parseCount('--loops'))
    .option(
      '--max-in-flight <n>',
      'open model: requests in flight at most; more are dropped and counted [default 1000]',
      parseCount('--max-in-flight'),
    )
    .option(
      '--connections <n>',
      'HTTP/1.1 connections per target with --rate or recorded timing [default 100]',
      parseCount('--connections'),
    )
    .option('--timeout <d>', 'per request, to the end of the response [default 30s]')
    .option(
      '--report <file>',
      'write the report: FILE.json (data, a later --baseline) or FILE.html (one page); repeatable',
      repeat,
    )
    .option('--fail-if <expr>', 'a goal: exit 3 when it holds, e.g. "p99 > 250ms", "success < 99%"; repeatable', repeat)
    .option('--baseline <report.json>', 'compare with an earlier JSON report: exit 3 on a regression')
    .option('--no-assert', 'do not compare responses with the recording (a pure load test)')
    .option('--mocks <snapshot>', "serve this snapshot's outbound calls as mocks while replaying")
    .option(
      '--mocks-port <port>',
      "the mocks' HTTP proxy / SOCKS port [default 4140; 0 picks one]",
      parsePort('--mocks-port'),
    )
    .option('--wait-for-target <d>', 'with -- COMMAND: how long to wait for the app to listen [default 30s]')
    .option('--insecure', 'UNSAFE: accept any certificate from https targets')
    .option(
      '--ca <file|dir>',
      'a CA (PEM file) to trust for https targets; a directory is the local CA (also used by --mocks)',
    )
    .option('--transforms <file.yaml>', 'request rewrites and extracted values (not available yet)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire replay checkout-run --target http://localhost:3000\n' +
        '      the recorded requests, at their recorded pace, against a local build; exit 3 if a goal is missed\n' +
        '  tapwire replay checkout-run --target http://localhost:3000 --rate 200 --duration 1m --report run.html\n' +
        '      200 req/s for a minute (open model), one HTML page with the plots\n' +
        '  tapwire replay checkout-run --target http://localhost:3000 --rate 10:500 --duration 5m --fail-if "p99 > 250ms"\n' +
        '      ramp from 10 to 500 req/s; fail when p99 goes above 250 ms\n' +
        '  tapwire replay checkout-run --target api=http://localhost:3000 --target auth=https://localhost:8443 --ca auth-ca.pem\n' +
        '      two services, one over TLS\n' +
        '  tapwire replay checkout-run --target http://localhost:3000 --vus 20 --loops 5 --report run.json\n' +
        "      20 users walking the traffic 5 times each; run.json can be the next run's --baseline\n" +
        '  tapwire replay checkout-run --target http://localhost:3000 --mocks checkout-run -- node server.js\n' +
        '      the whole loop: the app starts with its dependencies mocked, is replayed against, and stopped\n\n' +
        'Exit codes: 0 ok, 1 error (or interrupted), 2 usage, 3 a --fail-if goal missed or a --baseline regression.',
    )
    .action(async (ref: string, command: string[], flags: ReplayFlags, cmd: Command) => {
      ctx.setExitCode?.(await runReplayCommand(ref, command, flags, cmd, ctx));
    });
}

interface Plan {
  model: LoadModel;
  durationMs?: number;
  loops?: number;
  timeoutMs: number;
  goals: Goal[];
  baseline?: RunSummary;
  targets: Targets;
}

/** Everything that can be wrong with the flags fails here, before anything runs. */
function plan(flags: ReplayFlags, m: Awaited<ReturnType<typeof load>>): Plan {
  const models = [flags.rate !== undefined, flags.vus !== undefined, flags.speed !== undefined].filter(Boolean);
  if (models.length > 1) {
    throw new UsageError('choose one load model: --rate N (open), --vus N (closed) or --speed Nx (recorded timing)');
  }
  if (flags.transforms !== undefined) {
    throw new UsageError('--transforms is not available yet in this version of tapwire', {
      hint: 'replay without it; rewrite hosts with --target SERVICE=URL',
    });
  }
  const durationMs = flags.duration === undefined ? undefined : parseDuration(flags.duration);
  let model: LoadModel;
  if (flags.rate !== undefined) {
    const rate = parseRate(flags.rate);
    if (rate.from !== rate.to && durationMs === undefined) {
      throw new UsageError(`--rate ${flags.rate} ramps over the run: give its length with --duration, e.g. 2m`);
    }
    model = { kind: 'rate', ...rate };
  } else if (flags.vus !== undefined) {
    if (flags.vus < 1) throw new UsageError('--vus must be at least 1');
    model = { kind: 'vus', vus: flags.vus };
  } else model = { kind: 'recorded', speed: flags.speed === undefined ? 1 : parseSpeed(flags.speed) };
  if (flags.loops !== undefined && flags.loops < 1) throw new UsageError('--loops must be at least 1');
  if (flags.maxInFlight !== undefined && flags.maxInFlight < 1)
    throw new UsageError('--max-in-flight must be at least 1');
  if (flags.connections !== undefined && flags.connections < 1)
    throw new UsageError('--connections must be at least 1');
  const p: Plan = {
    model,
    timeoutMs: flags.timeout === undefined ? 30_000 : parseDuration(flags.timeout, '--timeout'),
    goals: m.parseGoals(flags.failIf ?? []),
    targets: parseTargets(flags.target ?? []),
  };
  if (durationMs !== undefined) p.durationMs = durationMs;
  if (flags.loops !== undefined) p.loops = flags.loops;
  if (flags.baseline !== undefined) p.baseline = m.loadBaseline(flags.baseline);
  return p;
}

async function runReplayCommand(
  ref: string,
  command: string[],
  flags: ReplayFlags,
  cmd: Command,
  ctx: CliContext,
): Promise<number> {
  const m = await load();
  const p = plan(flags, m);
  if (command.length > 0 && flags.mocks === undefined) {
    throw new UsageError('a command after -- is started with the mocks: give --mocks SNAPSHOT too');
  }
  const parentOpts = cmd.parent?.opts<{ store?: string; config?: string; logLevel?: string }>() ?? {};
  const caPath = flags.ca === undefined ? undefined : path.resolve(ctx.cwd, flags.ca);
  // A PEM file is a CA to trust for https targets; anything else is the local CA's directory
  // (made by --mocks when absent), whose certificate is trusted too.
  const caIsDir = caPath !== undefined && (await stat(caPath).catch(() => undefined))?.isFile() !== true;
  const config = ctx.config(
    { store: parentOpts.store, logLevel: parentOpts.logLevel, ...(caIsDir ? { ca: caPath } : {}) },
    parentOpts.config ?? ctx.env['TAPWIRE_CONFIG'],
  );
  const logger = ctx.logger(config.logLevel);
  const store = m.openStore(config.store, { cwd: ctx.cwd });
  const handle = await store.open(ref);
  const trusted = caPath === undefined || caIsDir ? [] : [await readPem(caPath)];

  let problems = 0;
  const source = m.snapshotSource(handle, p.targets, { onProblem: () => void problems++ });
  let judge: ReplayOptions['judge'];
  if (flags.assert !== false) {
    // Noise is learned from the whole snapshot before the first request: one streamed pass.
    const learner = new m.NoiseLearner();
    for await (const x of handle.exchanges()) learner.add(x);
    const noise = learner.model();
    judge = (r) =>
      r.response ? m.compareResponse(r.recorded, r.response, noise, { endpoint: r.endpoint }) : undefined;
  }

  let responder: Responder | undefined;
  let app: AppProcess | undefined;
  const stopAll = async () => {
    if (app && app.child.exitCode === null && app.child.signalCode === null) {
      app.child.kill('SIGTERM');
      const kill = setTimeout(() => app?.child.kill('SIGKILL'), 5000);
      await app.exit;
      clearTimeout(kill);
    }
    if (responder) await responder.stop();
  };
  try {
    if (flags.mocks !== undefined) {
      responder = await startMocks(flags, store, config.ca ?? m.defaultCaDir(ctx.env), logger, ctx);
      ctx.stderr.write(
        `tapwire: mocks of ${flags.mocks} on ${responder.outbound.host}:${responder.outbound.port} ` +
          `(HTTP proxy, CONNECT, SOCKS; point the app's HTTP_PROXY/HTTPS_PROXY here), admin ${responder.admin.url}/matches\n`,
      );
      if (command.length > 0) {
        let env = m.childProxyEnv(ctx.env, responder.outbound.host, responder.outbound.port);
        if (responder.ca) env = { ...env, ...m.trustEnv(responder.ca, await m.writeTrustBundle(responder.ca)) };
        app = await m.startApp(
          command,
          env,
          ctx,
          stopAll,
          'tapwire replay SNAPSHOT --target URL --mocks SNAPSHOT -- node server.js',
        );
        const waitMs =
          flags.waitForTarget === undefined ? 30_000 : parseDuration(flags.waitForTarget, '--wait-for-target');
        await waitForTargets(p.targets, waitMs, app);
      }
    }

    if (caPath !== undefined && caIsDir) {
      const local = await readFile(path.join(caPath, m.CA_CERT_FILE)).catch(() => undefined);
      if (local) trusted.push(local);
    }
    ctx.stderr.write(
      `tapwire: replaying ${handle.meta.name ?? handle.meta.id} → ${describeTargets(p.targets)}, ${describeModel(p.model)}` +
        `${p.durationMs !== undefined ? ` for ${flags.duration}` : ''}${p.loops !== undefined ? `, ${p.loops} loop(s)` : ''}\n`,
    );
    const run = m.startReplay({
      source,
      model: p.model,
      limits: { durationMs: p.durationMs, loops: p.loops },
      maxInFlight: flags.maxInFlight ?? 1000,
      connections: flags.connections ?? 100,
      timeoutMs: p.timeoutMs,
      ...(trusted.length > 0 ? { ca: trusted } : {}),
      ...(flags.insecure ? { insecure: true } : {}),
      ...(judge ? { judge } : {}),
    });
    const offStop = ctx.onStop(() => {
      offStop(); // a second Ctrl-C ends the process the usual way
      run.stop();
    });
    const stderrIsTTY = ctx.stderr === process.stderr && process.stderr.isTTY === true;
    const stopProgress = stderrIsTTY ? m.startProgress((s) => ctx.stderr.write(s), run.live) : () => undefined;
    const outcome = await run.done.finally(() => {
      stopProgress();
      offStop();
    });

    const durationMs = Math.round(outcome.elapsedMs);
    const summary = outcome.stats.runSummary(durationMs);
    const goals = m.checkGoals(p.goals, summary);
    const baseline = p.baseline ? m.compareBaseline(summary, p.baseline) : undefined;
    const report = m.buildReport(outcome, {
      version: rootVersion(cmd),
      snapshot: { id: handle.meta.id, name: handle.meta.name },
      targets: targetRecord(p.targets),
      limits: { durationMs: p.durationMs, loops: p.loops, maxInFlight: flags.maxInFlight ?? 1000 },
      ...(goals.length > 0 || baseline
        ? { goals: { results: goals.map((g) => ({ ...g, text: m.describeGoalResult(g) })), baseline } }
        : {}),
    });
    ctx.stdout.write(m.formatTerminal(report));
    for (const g of goals) ctx.stdout.write(`goal ${m.describeGoalResult(g)}\n`);
    if (baseline) {
      ctx.stdout.write(
        baseline.regressions.length === 0
          ? `baseline ${flags.baseline}: no regression\n`
          : `baseline ${flags.baseline}: ${baseline.regressions.length} regression(s)\n` +
              baseline.regressions.map((r) => `  ${r.scope}: ${r.message}\n`).join(''),
      );
    }
    if (problems > 0) ctx.stderr.write(`tapwire: ${problems} unreadable snapshot line(s) skipped\n`);
    for (const file of flags.report ?? []) {
      await m.writeReport(path.resolve(ctx.cwd, file), report);
      ctx.stderr.write(`tapwire: report written to ${file}\n`);
    }
    if (outcome.interrupted) {
      ctx.stderr.write('tapwire: interrupted: the report covers the requests that completed\n');
      return ExitCode.error;
    }
    if (goals.some((g) => g.missed) || (baseline?.regressions.length ?? 0) > 0) return ExitCode.goalsMissed;
    return ExitCode.ok;
  } finally {
    await stopAll();
  }
}

async function startMocks(
  flags: ReplayFlags,
  store: FsStore,
  caDir: string,
  logger: ReturnType<CliContext['logger']>,
  ctx: CliContext,
): Promise<Responder> {
  const { startResponder } = await import('../mock/responder.ts');
  return startResponder({
    snapshots: [flags.mocks as string],
    store,
    cwd: ctx.cwd,
    outPort: flags.mocksPort ?? 4140,
    caDir,
    adminPort: 0,
    logger,
    watch: false,
  });
}

/** Polls each target until it accepts a TCP connection (the app is listening), or gives up. */
async function waitForTargets(targets: Targets, timeoutMs: number, app: AppProcess): Promise<void> {
  const urls = [...(targets.fallback ? [targets.fallback] : []), ...targets.byService.values()];
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void app.exit.then(() => (exited = true));
  for (const url of urls) {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let delay = 25;
    while (!(await canConnect(host, port))) {
      if (exited) throw new UsageError(`the app exited before ${url.origin} accepted connections`);
      if (Date.now() >= deadline) {
        throw new UsageError(`${url.origin} did not accept connections within ${timeoutMs / 1000}s`, {
          hint: 'check that --target points at the port the app listens on, or raise --wait-for-target',
        });
      }
      // Polling a port that is not open yet is the only signal a generic app gives.
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(500, delay * 2);
    }
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function readPem(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new FileUnreadableError(
      file,
      (err as NodeJS.ErrnoException).code ?? String(err),
      'give --ca a PEM file or the local CA directory',
    );
  }
}

function targetRecord(t: Targets): Record<string, string> {
  const out: Record<string, string> = {};
  if (t.fallback) out['*'] = t.fallback.origin;
  for (const [service, url] of t.byService) out[service] = url.origin;
  return out;
}

function describeTargets(t: Targets): string {
  return Object.entries(targetRecord(t))
    .map(([k, v]) => (k === '*' ? v : `${k}=${v}`))
    .join(', ');
}

function rootVersion(cmd: Command): string {
  let c: Command = cmd;
  while (c.parent) c = c.parent;
  return c.version() ?? 'unknown';
}
