/**
 * The terminal summary: one aligned row per endpoint and a total row (requests, errors, status
 * classes, latency percentiles), then errors by kind, skipped exchanges and, when responses
 * were compared, the first failures with their differences.
 */
import type { ReplayReport, ReportTraffic } from './report-json.ts';

const FAILURES_SHOWN = 5;
const DIFFERENCES_SHOWN = 5;

export function formatTerminal(report: ReplayReport): string {
  const lines: string[] = [];
  const s = report.summary.overall;
  lines.push(
    `tapwire replay: ${report.snapshot.name ?? report.snapshot.id} — ${report.model}, ` +
      `${seconds(report.durationMs)}${report.interrupted ? ' (interrupted: partial results)' : ''}`,
  );
  const judged = report.assertions !== undefined;
  const header = ['ENDPOINT', 'REQS', 'ERR', '2xx', '3xx', '4xx', '5xx', 'P50', 'P90', 'P99', 'P99.9', 'MAX', 'MEAN'];
  if (judged) header.push('PASS');
  const rows = [header];
  for (const e of report.endpoints) rows.push(row(e, judged));
  rows.push(row({ ...report.totals, endpoint: 'TOTAL' }, judged));
  lines.push('', ...table(rows, rows.length - 1));
  lines.push(
    '',
    `requests ${s.requests} in ${seconds(report.durationMs)} (${s.rps.toFixed(1)}/s), ` +
      `succeeded ${s.succeeded}, transport errors ${s.errors}` +
      (report.totals.dropped > 0 ? `, dropped ${report.totals.dropped} (--max-in-flight reached)` : ''),
  );
  const errors = Object.entries(report.totals.errors);
  if (errors.length > 0) lines.push(`errors: ${errors.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (report.inFlightAtStop > 0) lines.push(`in flight when stopped (not counted): ${report.inFlightAtStop}`);
  const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
  if (skipped.length > 0) {
    lines.push(`not replayed: ${skipped.map(([k, n]) => `${n} ${SKIP_LABEL[k] ?? k}`).join(', ')}`);
  }
  if (report.truncatedBodies > 0) {
    lines.push(`${report.truncatedBodies} request bodies were cut at the capture cap: sent shorter than recorded`);
  }
  const a = report.assertions;
  if (a) {
    const checked = a.passed + a.failed;
    lines.push(
      `assertions: ${a.passed}/${checked} passed (${checked === 0 ? '–' : ((a.passed * 100) / checked).toFixed(1)}%)`,
    );
    for (const f of a.failures.slice(0, FAILURES_SHOWN)) {
      lines.push(`  FAIL ${f.method} ${f.url}${f.status === undefined ? '' : ` → ${f.status}`}`);
      for (const d of f.differences.slice(0, DIFFERENCES_SHOWN)) {
        lines.push(`    ${d.path}: recorded ${d.recorded} → replayed ${d.replayed}`);
      }
      if (f.differenceCount > DIFFERENCES_SHOWN) lines.push(`    … ${f.differenceCount - DIFFERENCES_SHOWN} more`);
    }
    const more = a.failures.length - FAILURES_SHOWN + a.failuresNotShown;
    if (more > 0) lines.push(`  … ${more} more failures (see the report file)`);
  }
  return lines.join('\n') + '\n';
}

const SKIP_LABEL: Record<string, string> = {
  outbound: 'outbound (served by --mocks, not replayed)',
  protocol: 'gRPC/WebSocket/TCP (not replayed yet)',
  'no-target': 'with no --target for their service',
};

function row(e: ReportTraffic, judged: boolean): string[] {
  const classes = [0, 0, 0, 0];
  for (const [status, n] of Object.entries(e.statuses)) {
    const c = Math.floor(Number(status) / 100) - 2;
    if (c >= 0 && c < 4) classes[c] = (classes[c] ?? 0) + n;
  }
  const errors = Object.values(e.errors).reduce((a, b) => a + b, 0);
  const l = e.latency;
  const cells = [
    e.endpoint,
    String(e.responses + errors),
    String(errors),
    ...classes.map(String),
    ms(l.p50),
    ms(l.p90),
    ms(l.p99),
    ms(l.p999),
    ms(l.max),
    ms(l.mean),
  ];
  if (judged) cells.push(e.assertions ? `${e.assertions.passed}/${e.assertions.passed + e.assertions.failed}` : '–');
  return cells;
}

/** Left-aligned first column, right-aligned numbers; a rule above the row at `ruleBefore`. */
function table(rows: string[][], ruleBefore: number): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const out: string[] = [];
  rows.forEach((r, index) => {
    if (index === ruleBefore) out.push(widths.map((w) => '─'.repeat(w)).join('  '));
    out.push(
      r
        .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
  });
  return out;
}

/** Latency for people: µs precision where it matters, whole ms past a second. */
export function ms(value: number): string {
  if (value === 0) return '–';
  if (value < 1) return `${(value * 1000).toFixed(0)}µs`;
  if (value < 100) return `${value.toFixed(2)}ms`;
  if (value < 10_000) return `${value.toFixed(0)}ms`;
  return `${(value / 1000).toFixed(1)}s`;
}

function seconds(durationMs: number): string {
  return `${(durationMs / 1000).toFixed(1)}s`;
}
