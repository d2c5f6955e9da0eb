/**
 * `tapwire tail`: follows the live feed of a running `tapwire record` through its admin
 * endpoint (/tail, NDJSON) and prints one line per exchange.
 */
import type { Command } from 'commander';
import { AdminResponseError, AdminUnreachableError, UsageError } from '../errors.ts';
import type { Exchange } from '../model/exchange.ts';
import { summarize } from '../model/summary.ts';
import type { CliContext } from './context.ts';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:4100';
/** The admin endpoint sends a heartbeat every 15 s: three missed ones mean the link is dead. */
const IDLE_TIMEOUT_MS = 45_000;

export interface TailOptions {
  admin: string;
  json: boolean;
  filter?: string | undefined;
  /** Silence after which the stream counts as dead (a port-forward that died half-open). */
  idleTimeoutMs?: number;
}

export function registerTail(program: Command, ctx: CliContext): void {
  program
    .command('tail')
    .summary('show exchanges live while record runs')
    .description(
      'Show exchanges live while `tapwire record` runs.\n\n' +
        'Follows the live feed of the record admin endpoint and prints one line per exchange: local time, ' +
        'direction (in/out), method, URL, status, duration and size. Notices from the recorder (TLS passthrough ' +
        'and the like) start with "!". When tail cannot keep up, it skips events and says how many; they are ' +
        'still recorded.',
    )
    .option(
      '--admin <url>',
      `admin endpoint of the running record: URL, HOST:PORT or PORT (env TAPWIRE_ADMIN; default ${DEFAULT_ADMIN_URL})`,
    )
    .option('--json', 'print the raw events as NDJSON (one JSON object per line) instead of summaries')
    .option('--filter <text>', 'only exchanges whose summary line contains TEXT (case-insensitive)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire tail                                 follow the record on the default admin port 4100\n' +
        '  tapwire tail --admin 4200                    a record started with --admin-port 4200\n' +
        '  tapwire tail --filter /api/orders            only exchanges whose line mentions /api/orders\n' +
        '  tapwire tail --json | jq .exchange.request   the full records, for scripts\n' +
        '  kubectl port-forward pod/my-app 4100         then tapwire tail: a tapwire sidecar in Kubernetes\n\n' +
        'Stop with Ctrl-C. Ends by itself with "recording ended" when the record stops.',
    )
    .action(async (opts: { admin?: string; json?: boolean; filter?: string }) => {
      await runTail(ctx, {
        admin: normalizeAdminUrl(opts.admin ?? ctx.env['TAPWIRE_ADMIN'] ?? DEFAULT_ADMIN_URL),
        json: opts.json === true,
        filter: opts.filter,
      });
    });
}

/** Accepts a URL, `HOST:PORT` or a bare port (meaning 127.0.0.1). */
export function normalizeAdminUrl(value: string): string {
  const text = value.trim();
  const candidate = /^\d+$/.test(text)
    ? `http://127.0.0.1:${text}`
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
      ? text
      : `http://${text}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new UsageError(`--admin must be a URL, HOST:PORT or PORT, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--admin must be an http:// or https:// URL, got "${value}"`);
  }
  return url.href.replace(/\/+$/, '');
}

/** Follows the feed until it ends (resolves), the user stops it (resolves), or it fails (throws). */
export async function runTail(ctx: CliContext, options: TailOptions): Promise<void> {
  const tailUrl = new URL('tail', options.admin + '/');
  if (options.filter) tailUrl.searchParams.set('filter', options.filter);
  const filter = options.filter?.toLowerCase() || undefined;
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;

  const controller = new AbortController();
  let stopped = false;
  let idle = false;
  const stopListening = ctx.onStop(() => {
    stopped = true;
    controller.abort();
  });
  let watchdog: NodeJS.Timeout | undefined;
  const feedWatchdog = () => {
    // refresh() re-arms the same timer: no allocation per chunk on a busy feed.
    if (watchdog) watchdog.refresh();
    else
      watchdog = setTimeout(() => {
        idle = true;
        controller.abort();
      }, idleTimeoutMs);
  };

  try {
    let res: Response;
    try {
      res = await fetch(tailUrl, { signal: controller.signal, headers: { accept: 'application/x-ndjson' } });
    } catch (err) {
      if (stopped) return;
      throw new AdminUnreachableError(options.admin, (err as Error).cause ?? err);
    }
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok || !res.body || !type.startsWith('application/x-ndjson')) {
      await res.body?.cancel().catch(() => undefined);
      throw new AdminResponseError(
        `${tailUrl.href} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''} ` +
          `with ${type || 'no content type'} instead of a live feed (application/x-ndjson)`,
        { hint: 'is --admin pointing at the --admin-port of `tapwire record`?' },
      );
    }
    ctx.stderr.write(`tailing ${options.admin} (Ctrl-C to stop)\n`);
    feedWatchdog();

    const printer = new EventPrinter(options.json, filter);
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for await (const chunk of res.body) {
        feedWatchdog();
        pending += decoder.decode(chunk as Uint8Array, { stream: true });
        const end = pending.lastIndexOf('\n');
        if (end < 0) continue;
        // One write per chunk, not per line: a busy feed arrives many lines at a time.
        const out = printer.lines(pending.slice(0, end));
        pending = pending.slice(end + 1);
        if (out) ctx.stdout.write(out);
      }
    } catch (err) {
      if (stopped) return;
      if (idle) {
        throw new AdminResponseError(
          `no data from ${options.admin} for ${Math.round(idleTimeoutMs / 1000)}s (not even a heartbeat)`,
          {
            hint: 'the connection is probably dead (a port-forward or proxy that dropped it); run tapwire tail again',
          },
        );
      }
      throw new AdminResponseError(`the live feed from ${options.admin} broke: ${(err as Error).message}`, {
        hint: 'the record may have crashed; check its output, then run tapwire tail again',
        cause: err,
      });
    }
    const rest = printer.lines(pending + decoder.decode());
    if (rest) ctx.stdout.write(rest);
    if (!stopped) ctx.stderr.write('recording ended\n');
  } finally {
    clearTimeout(watchdog);
    stopListening();
  }
}

/** Turns NDJSON lines from the feed into what the user sees. */
class EventPrinter {
  private warnedUnreadable = false;

  constructor(
    private readonly json: boolean,
    private readonly filter: string | undefined,
  ) {}

  lines(text: string): string {
    let out = '';
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      out += this.line(line);
    }
    return out;
  }

  private line(raw: string): string {
    let event: FeedLine;
    try {
      event = JSON.parse(raw) as FeedLine;
    } catch {
      if (this.warnedUnreadable) return '';
      this.warnedUnreadable = true;
      return '(skipped a line of the feed that is not JSON)\n';
    }
    if (event.type === 'heartbeat') return '';
    const summary = event.type === 'exchange' ? exchangeLine(event) : undefined;
    if (this.filter !== undefined && summary !== undefined && !summary.toLowerCase().includes(this.filter)) return '';
    if (this.json) return raw + '\n';
    const missed =
      typeof event.missed === 'number' && event.missed > 0
        ? `(missed ${event.missed} exchanges: tail was too slow)\n`
        : '';
    if (event.type === 'exchange') return `${missed}${clock(event.exchange?.ts ?? event.summary?.ts)} ${summary}\n`;
    if (event.type === 'notice') return `${missed}${clock(event.time)} ! ${event.message ?? ''}\n`;
    return missed; // an event type this version does not know: say nothing about it
  }
}

/** The loose shape of a feed line: it comes from another process, maybe another version. */
interface FeedLine {
  type?: string;
  missed?: number;
  exchange?: Exchange;
  summary?: { ts?: string; line?: string };
  message?: string;
  time?: string;
}

function exchangeLine(event: FeedLine): string {
  if (event.summary?.line !== undefined) return event.summary.line;
  try {
    return summarize(event.exchange as Exchange);
  } catch {
    return '(an exchange this version of tail cannot read)';
  }
}

/** Local wall-clock time `HH:MM:SS.mmm` (now when the time is missing or unreadable). */
export function clock(iso: string | undefined): string {
  let d = iso === undefined ? new Date() : new Date(iso);
  if (Number.isNaN(d.getTime())) d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
