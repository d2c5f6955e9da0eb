/**
 * `tapwire snapshot ls | show | export | import`: argument parsing and output for the snapshot
 * store. The work is in src/store; export and import live in snapshot-transfer.ts.
 */
import { Option, type Command } from 'commander';
import type { Exchange } from '../model/exchange.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import { formatDuration, summarize } from '../model/summary.ts';
import { openStore, type FsStore } from '../store/fs/index.ts';
import type { ReadProblem } from '../store/types.ts';
import type { CliContext } from './context.ts';
import { globalFlags, parseCount } from './options.ts';
import { runExport, runImport } from './snapshot-transfer.ts';

const DEFAULT_SHOW_LIMIT = 50;

export function registerSnapshot(program: Command, ctx: CliContext): void {
  const snapshot = program
    .command('snapshot')
    .summary('list, show, export (HAR, NDJSON) and import snapshots')
    .description(
      'List, show, export and import snapshots.\n\n' +
        'A snapshot is what one `tapwire record` run captured: a directory in the store (default ./.tapwire, ' +
        'or --store DIR, or TAPWIRE_STORE) holding snapshot.json and compressed NDJSON segments. Wherever a ' +
        'command takes SNAPSHOT, give its id (or the first 6+ characters of it), its name, or the path of its directory.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire snapshot ls                                   what the store holds\n' +
        '  tapwire snapshot show checkout-test                   counts and the first exchanges\n' +
        "  tapwire snapshot export checkout-test -o run.har      open it in a browser's network panel\n" +
        '  tapwire snapshot import session.har --name from-chrome',
    );

  snapshot
    .command('ls')
    .summary('list the snapshots in the store')
    .description('List the snapshots in the store, newest first.')
    .option('--json', 'print the snapshot.json of each snapshot as a JSON array')
    .addHelpText(
      'after',
      '\nColumns: ID, NAME, CREATED (UTC), STATUS (complete, or recording: still being written or cut off), ' +
        'EXCHANGES (total, inbound/outbound), SERVICES.\n\n' +
        'Examples:\n' +
        '  tapwire snapshot ls\n' +
        '  tapwire snapshot ls --store /data/tapwire\n' +
        "  tapwire snapshot ls --json | jq '.[0].id'",
    )
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const store = storeFor(cmd, ctx);
      const metas = await store.list();
      if (opts.json) ctx.stdout.write(JSON.stringify(metas, null, 2) + '\n');
      else ctx.stdout.write(formatList(metas, store.location));
    });

  snapshot
    .command('show')
    .summary('metadata, counts and the exchanges of one snapshot')
    .description(
      'Show a snapshot: its metadata, counts per protocol, direction and host, then one line per exchange.\n\n' +
        'Lines that cannot be read (a recording cut off mid-write, a damaged line) are reported as warnings ' +
        'on stderr; everything else is still shown.',
    )
    .argument('<snapshot>', 'snapshot id, id prefix, name or directory')
    .option('--json', 'print the metadata, counts and exchanges as one JSON document')
    .option('--limit <n>', `exchanges to list (0 for all; default ${DEFAULT_SHOW_LIMIT})`, parseCount('--limit'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire snapshot show 01HXV6GF                      by id prefix\n' +
        '  tapwire snapshot show checkout-test --limit 0       every exchange\n' +
        '  tapwire snapshot show ./.tapwire/snapshots/01HXV6GF9G4H5QKMKXAC2QZ6VW\n' +
        "  tapwire snapshot show checkout-test --json | jq '.exchanges[0].request'",
    )
    .action(async (ref: string, opts: { json?: boolean; limit?: number }, cmd: Command) => {
      await runShow(
        storeFor(cmd, ctx),
        ref,
        { json: opts.json === true, limit: opts.limit ?? DEFAULT_SHOW_LIMIT },
        ctx,
      );
    });

  snapshot
    .command('export')
    .summary('write a snapshot as HAR 1.2 or NDJSON')
    .description(
      'Write a snapshot as HAR 1.2 or NDJSON, to a file or to stdout.\n\n' +
        'HAR opens in browser developer tools and HAR viewers; tapwire-specific data (direction, service, TLS, ' +
        'errors, trailers) is kept in `_tapwire` fields so that an import gives back the same exchanges. HAR ' +
        'holds HTTP only: raw TCP exchanges are left out and counted. NDJSON keeps every exchange as recorded, ' +
        'one JSON object per line.',
    )
    .argument('<snapshot>', 'snapshot id, id prefix, name or directory')
    .addOption(
      new Option('--format <format>', 'har or ndjson (default: from the -o extension)').choices(['har', 'ndjson']),
    )
    .option('-o, --output <file>', 'file to write (default: stdout)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire snapshot export checkout-test -o checkout.har\n' +
        '  tapwire snapshot export checkout-test --format ndjson | jq .request.url\n' +
        '  tapwire snapshot export 01HXV6GF --format har > run.har',
    )
    .action(async (ref: string, opts: { format?: 'har' | 'ndjson'; output?: string }, cmd: Command) => {
      await runExport(storeFor(cmd, ctx), ref, { ...opts, creatorVersion: rootVersion(cmd) }, ctx);
    });

  snapshot
    .command('import')
    .summary('create a snapshot from a HAR or NDJSON file')
    .description(
      'Create a snapshot from a HAR file (saved by Chrome, Firefox or `snapshot export`) or an NDJSON file ' +
        'of exchanges, and print its id.\n\n' +
        'The format is detected from the content (a JSON object with "log" is HAR, anything else NDJSON) ' +
        'unless --format says. Entries that are not network exchanges (data: URLs) and lines that are not ' +
        'valid exchanges are skipped and listed. Browser HAR entries become outbound exchanges whose service ' +
        'is the host of the URL.',
    )
    .argument('<file>', 'file to read, or - for stdin')
    .option('--name <name>', 'snapshot name (default: the file name without its extension)')
    .addOption(new Option('--format <format>', 'har or ndjson (default: detected)').choices(['har', 'ndjson']))
    .addOption(
      new Option('--direction <direction>', 'direction of browser HAR entries')
        .choices(['inbound', 'outbound'])
        .default('outbound'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire snapshot import www.example.com.har\n' +
        '  tapwire snapshot import session.har --name login-flow --direction inbound\n' +
        '  tapwire snapshot export old --format ndjson | tapwire snapshot import - --name copy',
    )
    .action(
      async (
        file: string,
        opts: { name?: string; format?: 'har' | 'ndjson'; direction: 'inbound' | 'outbound' },
        cmd: Command,
      ) => {
        await runImport(storeFor(cmd, ctx), file, opts, ctx);
      },
    );
}

function storeFor(cmd: Command, ctx: CliContext): FsStore {
  const { flags, configFile } = globalFlags(cmd);
  return openStore(ctx.config(flags, configFile).store, { cwd: ctx.cwd });
}

function rootVersion(cmd: Command): string {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.version() ?? '0.0.0';
}

export function formatList(metas: SnapshotMeta[], location: string): string {
  if (metas.length === 0) {
    return (
      `No snapshots in ${location}.\n` +
      '  record one:       tapwire record --app localhost:3000 -- npm start\n' +
      '  import a HAR:     tapwire snapshot import FILE.har\n' +
      '  another store:    --store DIR (or TAPWIRE_STORE)\n'
    );
  }
  const rows = metas.map((m) => [
    m.id,
    m.name,
    m.created.slice(0, 19).replace('T', ' '),
    m.status,
    `${m.counts.exchanges} (${m.counts.inbound}/${m.counts.outbound})`,
    ellipsis(m.services.join(', ') || '-', 48),
  ]);
  let out = table([['ID', 'NAME', 'CREATED (UTC)', 'STATUS', 'EXCHANGES (IN/OUT)', 'SERVICES'], ...rows]);
  if (metas.some((m) => m.status === 'recording')) {
    out += '\nrecording: still being written, or cut off before it closed (what was flushed is readable).\n';
  }
  return out;
}

export interface ShowOptions {
  json: boolean;
  /** Exchanges to list; 0 lists all. */
  limit: number;
}

/** Problems kept for the report; past this only the count grows. */
const MAX_PROBLEMS = 20;

export async function runShow(store: FsStore, ref: string, options: ShowOptions, ctx: CliContext): Promise<void> {
  const handle = await store.open(ref);
  const problems: ReadProblem[] = [];
  let problemCount = 0;
  const byProtocol = new Map<string, number>();
  const byDirection = new Map<string, number>();
  const byHost = new Map<string, number>();
  const shown: Exchange[] = [];
  let total = 0;
  const onProblem = (p: ReadProblem) => {
    problemCount++;
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  for await (const x of handle.exchanges({ onProblem })) {
    total++;
    bump(byProtocol, x.protocol);
    bump(byDirection, x.direction);
    bump(byHost, hostOf(x));
    if (options.limit === 0 || shown.length < options.limit) shown.push(x);
  }
  const more = total - shown.length;
  for (const p of problems) ctx.stderr.write(`tapwire: warning: ${p.segment} line ${p.line}: ${p.message}\n`);
  if (problemCount > problems.length) {
    ctx.stderr.write(`tapwire: warning: ${problemCount - problems.length} more unreadable lines not listed\n`);
  }

  if (options.json) {
    const doc = {
      meta: handle.meta,
      dir: handle.dir,
      read: {
        exchanges: total,
        byProtocol: Object.fromEntries(byProtocol),
        byDirection: Object.fromEntries(byDirection),
        byHost: Object.fromEntries(byHost),
        problems: problemCount,
      },
      exchanges: shown,
      more,
    };
    ctx.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    return;
  }

  const m = handle.meta;
  const lines = [
    `Snapshot   ${m.name} (${m.id})`,
    `Directory  ${handle.dir}`,
    `Status     ${m.status === 'recording' ? 'recording (not closed: still being written, or cut off)' : m.status}`,
    `Created    ${m.created}`,
    ...(m.source ? [`Source     ${m.source}`] : []),
    `Services   ${m.services.join(', ') || '-'}`,
  ];
  if (m.timeRange) {
    const span = Date.parse(m.timeRange.last) - Date.parse(m.timeRange.first);
    lines.push(
      `Time       ${m.timeRange.first} to ${m.timeRange.last}${Number.isNaN(span) ? '' : ` (${formatDuration(span)})`}`,
    );
  }
  lines.push(
    `Exchanges  ${m.counts.exchanges} (${m.counts.inbound} in, ${m.counts.outbound} out)` +
      (m.counts.dropped > 0 ? `, ${m.counts.dropped} dropped while recording` : ''),
  );
  if (total !== m.counts.exchanges || problemCount > 0) {
    lines.push(
      `Read       ${total} exchanges${problemCount > 0 ? `, ${problemCount} unreadable lines (see warnings)` : ''}`,
    );
  }
  if (total > 0) {
    lines.push('', `Protocols  ${formatCounts(byProtocol)}`, `Directions ${formatCounts(byDirection)}`, 'Hosts');
    const hosts = [...byHost].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const hostRows = hosts.slice(0, 10).map(([h, n]) => ['  ' + h, String(n)]);
    lines.push(table(hostRows).trimEnd());
    if (hosts.length > 10) lines.push(`  … and ${hosts.length - 10} more hosts`);
    lines.push('', shown.length < total ? `Exchanges (first ${shown.length} of ${total})` : `Exchanges (${total})`);
    for (const x of shown) lines.push('  ' + summarize(x));
    if (more > 0) lines.push(`  … ${more} more (--limit N lists more, --limit 0 lists all)`);
  }
  ctx.stdout.write(lines.join('\n') + '\n');
}

function hostOf(x: Exchange): string {
  if (x.protocol === 'tcp') return x.dst ?? '?';
  try {
    return new URL(x.request.url).host;
  } catch {
    return x.dst ?? '?';
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function formatCounts(map: Map<string, number>): string {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

function ellipsis(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n')
    .concat('\n');
}
