/** `tapwire record`: put the capture proxy around an app and write its traffic to a snapshot. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { childProxyEnv } from '../capture/child-env.ts';
import { startRecording, type Recording } from '../capture/recording.ts';
import { proxyTypes } from '../config/schema.ts';
import { defaultCaDir } from '../protocols/tls/ca.ts';
import { trustEnv, writeTrustBundle } from '../protocols/tls/trust.ts';
import { openStore } from '../store/fs/index.ts';
import { startApp, waitForAppOrStop, type AppProcess } from './app-process.ts';
import type { CliContext } from './context.ts';
import { globalFlags, parseCount, parsePort } from './options.ts';

interface RecordFlags {
  app?: string;
  inPort?: number;
  outPort?: number;
  adminPort?: number;
  proxyType?: string;
  service?: string;
  name?: string;
  bind?: string;
  bodyCap?: number;
  tlsOut?: boolean;
  ca?: string;
  upstreamCa?: string[];
  insecureUpstream?: boolean;
  tlsPassthrough?: string[];
  tlsInCert?: string;
  tlsInKey?: string;
  proto?: string;
}

/** Repeated or comma-separated values of a list flag. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

export function registerRecord(program: Command, ctx: CliContext): void {
  program
    .command('record')
    .summary('record what an app receives and what it sends')
    .description(
      'Runs a recording proxy around your app and writes every exchange to a snapshot.\n\n' +
        'inbound   a reverse proxy on --in-port forwards to the app at --app; point your clients at it\n' +
        'outbound  a forward proxy on --out-port (HTTP proxy, CONNECT and SOCKS4/4a/5 on one port);\n' +
        '          with `-- COMMAND` the app is started with HTTP_PROXY, HTTPS_PROXY and ALL_PROXY set to it\n\n' +
        'Proxy types: dual (default: both), reverse (inbound only), forward (outbound only).\n' +
        'Traffic is forwarded even when recording fails (fail open). Ctrl-C closes the snapshot cleanly.',
    )
    .option('--app <host:port>', 'address of the app that inbound traffic goes to (e.g. localhost:3000)')
    .option('--in-port <port>', 'inbound (reverse proxy) port [default 4143]', parsePort('--in-port'))
    .option('--out-port <port>', 'outbound (forward HTTP/SOCKS proxy) port [default 4140]', parsePort('--out-port'))
    .addOption(new Option('--proxy-type <type>', 'which listeners to run [default dual]').choices([...proxyTypes]))
    .option('--service <name>', 'service name written on each exchange [default app]')
    .option('--name <snapshot>', 'snapshot name [default <service>-<date>]')
    .option(
      '--admin-port <port>',
      'admin endpoint on 127.0.0.1: /healthz /readyz /metrics /tail [default 4100]',
      parsePort('--admin-port'),
    )
    .option('--bind <host>', 'address the inbound and outbound listeners bind to [default 127.0.0.1]')
    .option(
      '--body-cap <bytes>',
      'bytes of each body kept in the record; bodies are always forwarded whole [default 1048576]',
      parseCount('--body-cap'),
    )
    .option('--no-tls-out', 'pass outbound TLS through untouched (only the server name is recorded)')
    .option('--ca <dir>', 'directory of the local CA used to intercept TLS (or TAPWIRE_CA) [default ~/.tapwire/ca]')
    .option('--upstream-ca <file>', 'also trust this CA (PEM) when verifying real servers; repeatable', collect)
    .option('--insecure-upstream', 'UNSAFE: accept any certificate from real servers (self-signed test servers only)')
    .option(
      '--tls-passthrough <hosts>',
      'never intercept these hosts (comma-separated, *.example.com); repeatable',
      collect,
    )
    .option('--tls-in-cert <file>', "terminate TLS on the inbound port with the app's certificate (PEM)")
    .option('--tls-in-key <file>', 'the private key (PEM) that goes with --tls-in-cert')
    .option('--proto <dir>', 'directory of .proto files: gRPC messages are also decoded to JSON')
    .argument('[command...]', 'after --: the app to start with the proxy environment; recording stops when it exits')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire record --app localhost:3000 -- npm start\n' +
        '      start the app, record calls to it on :4143 and its calls out through :4140\n' +
        '  tapwire record --proxy-type reverse --app localhost:8080 --in-port 9000\n' +
        '      record only what reaches the app (clients call :9000)\n' +
        '  tapwire record --proxy-type forward -- python3 client.py\n' +
        '      record only what a script sends out\n' +
        '  curl -x http://127.0.0.1:4140 http://example.test/   # any client through the outbound port\n' +
        '  curl --proxy socks5h://127.0.0.1:4140 http://example.test/\n' +
        '  curl -x http://127.0.0.1:4140 --cacert "$(tapwire certs path)" https://api.example.test/\n' +
        '      HTTPS is decrypted with the local CA (made on first use; see `tapwire certs`)\n' +
        '  tapwire record --app https://localhost:8443 --tls-in-cert app.crt --tls-in-key app.key\n' +
        "      clients keep speaking TLS to :4143 with the app's own certificate\n\n" +
        'TLS: outbound HTTPS, HTTP/2 and gRPC are intercepted with a leaf certificate per host signed by\n' +
        'the local CA; `-- COMMAND` gets NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE and\n' +
        'CURL_CA_BUNDLE so that it trusts it. Real servers are verified (system CAs plus --upstream-ca);\n' +
        'a failure is answered 502 (X-Tapwire-Error: TW_UPSTREAM_TLS), never trusted silently. A client\n' +
        'that refuses our certificate (pinning) makes its host pass through untouched from then on.\n\n' +
        'Watch it live with `tapwire tail`; list snapshots with `tapwire snapshot ls`.',
    )
    .action(async (command: string[], flags: RecordFlags, cmd: Command) => {
      ctx.setExitCode?.(await runRecord(command, flags, cmd, ctx));
    });
}

async function runRecord(command: string[], flags: RecordFlags, cmd: Command, ctx: CliContext): Promise<number> {
  const global = globalFlags(cmd);
  const config = ctx.config(
    {
      ...global.flags,
      record: {
        app: flags.app,
        inPort: flags.inPort,
        outPort: flags.outPort,
        adminPort: flags.adminPort,
        proxyType: flags.proxyType,
        service: flags.service,
        name: flags.name,
        bindHost: flags.bind,
        bodyCap: flags.bodyCap,
        // commander sets tlsOut to true by default; only the explicit --no-tls-out counts as a flag.
        tlsOut: flags.tlsOut === false ? false : undefined,
        upstreamCa: flags.upstreamCa,
        insecureUpstream: flags.insecureUpstream,
        tlsPassthrough: flags.tlsPassthrough,
        tlsInCert: flags.tlsInCert,
        tlsInKey: flags.tlsInKey,
        proto: flags.proto,
      },
      ca: flags.ca,
    },
    global.configFile,
  );
  const logger = ctx.logger(config.logLevel);
  const rec = config.record;
  if (rec.proxyType === 'dual' && !rec.app) {
    ctx.stderr.write(
      'tapwire: no --app given: recording outbound traffic only (add --app HOST:PORT to record inbound too)\n',
    );
  }
  const recording = await startRecording({
    config: rec,
    store: openStore(config.store),
    logger,
    caDir: config.ca ?? defaultCaDir(ctx.env),
  });
  describe(recording, rec.app, ctx);

  let app: AppProcess | undefined;
  if (command.length > 0) {
    if (!recording.outbound) {
      ctx.stderr.write(
        "tapwire: note: no outbound listener with --proxy-type reverse: the app's own calls are not recorded\n",
      );
    }
    let env = recording.outbound ? childProxyEnv(ctx.env, recording.outbound.host, recording.outbound.port) : ctx.env;
    // The app trusts the interception CA with no change: each runtime reads its own variable.
    if (recording.ca) env = { ...env, ...trustEnv(recording.ca, await writeTrustBundle(recording.ca)) };
    app = await startApp(command, env, ctx, () => recording.stop(0), 'tapwire record -- npm start');
  }

  const code = await waitForAppOrStop(ctx, app, command[0] ?? 'the app');
  const meta = await recording.stop();
  ctx.stderr.write(
    `tapwire: recorded ${meta.counts.exchanges} exchanges (${meta.counts.inbound} in, ${meta.counts.outbound} out` +
      `${meta.counts.dropped ? `, ${meta.counts.dropped} dropped` : ''}) in snapshot ${meta.name} (${meta.id})\n` +
      `  next: tapwire snapshot show ${meta.id}\n`,
  );
  return code;
}

function describe(recording: Recording, app: string | undefined, ctx: CliContext): void {
  const lines = [`tapwire: recording to snapshot ${recording.snapshotId}`];
  if (recording.inbound) lines.push(`  inbound   ${recording.inbound.host}:${recording.inbound.port} → ${app}`);
  if (recording.outbound)
    lines.push(`  outbound  ${recording.outbound.host}:${recording.outbound.port} (HTTP proxy, CONNECT, SOCKS4/4a/5)`);
  if (recording.ca) lines.push(`  tls       intercepted with the CA in ${recording.ca.certPath}`);
  lines.push(`  admin     ${recording.admin.url}  (watch with: tapwire tail --admin ${recording.admin.url})`);
  ctx.stderr.write(`${lines.join('\n')}\n`);
}
