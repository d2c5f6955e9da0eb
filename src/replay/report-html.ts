/**
 * The report as one self-contained HTML page: inline CSS and inline SVG plots (latency by
 * percentile per endpoint, throughput over time), the endpoint table, errors and failures.
 * No script, no stylesheet, no font or image from anywhere: it opens offline, from a CI
 * artifact or an email, exactly as written.
 */
import type { ReplayReport, ReportTraffic } from './report-json.ts';
import { ms } from './report-terminal.ts';

const COLORS = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#d97706',
  '#7c3aed',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#4b5563',
  '#ea580c',
];
/** Endpoints drawn on the percentile plot (the busiest); the table lists them all. */
const PLOTTED = 10;

export function renderHtml(report: ReplayReport): string {
  const title = `tapwire replay — ${report.snapshot.name ?? report.snapshot.id}`;
  const s = report.summary.overall;
  const a = report.assertions;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#111827}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#4b5563}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:18px}.bad{color:#b91c1c}.warn{color:#b45309}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal}
tr.total td{font-weight:600;border-top:2px solid #9ca3af}
svg{width:100%;height:auto;background:#fff;border:1px solid #e5e7eb;border-radius:8px}
svg text{font:11px system-ui,sans-serif;fill:#374151}
.diff{font:12px ui-monospace,monospace;background:#f9fafb;padding:6px 10px;margin:4px 0 12px;border-radius:6px}
</style></head><body>
<h1>${esc(title)}</h1>
<div class="meta">${esc(report.model)} · started ${esc(report.startedAt)} · ${(report.durationMs / 1000).toFixed(1)} s
${report.interrupted ? ' · <span class="bad">interrupted: partial results</span>' : ''}<br>
targets: ${Object.entries(report.targets)
    .map(([k, v]) => esc(k === '*' ? v : `${k} = ${v}`))
    .join(', ')}</div>
<div class="cards">
${card('requests', String(s.requests))}
${card('rate', `${s.rps.toFixed(1)}/s`)}
${card('p50', ms(s.latencyMs.p50))}
${card('p99', ms(s.latencyMs.p99))}
${card('p99.9', ms(s.latencyMs.p999))}
${card('max', ms(s.latencyMs.max))}
${card('transport errors', String(s.errors), s.errors > 0 ? 'bad' : '')}
${report.totals.dropped > 0 ? card('dropped', String(report.totals.dropped), 'warn') : ''}
${a ? card('assertions', `${a.passed}/${a.passed + a.failed}`, a.failed > 0 ? 'bad' : '') : ''}
</div>
<h2>Latency by percentile</h2>
${percentilePlot(report)}
<h2>Throughput over time</h2>
${throughputPlot(report)}
<h2>Endpoints</h2>
${endpointTable(report)}
${errorsSection(report)}
${failuresSection(report)}
<p class="meta">Latency is measured from each request's intended send time (coordinated omission corrected);
percentiles from HdrHistogram at µs precision. Written by tapwire ${esc(report.tool.version)}.</p>
</body></html>
`;
}

function card(label: string, value: string, cls = ''): string {
  return `<div class="card">${esc(label)}<b class="${cls}">${esc(value)}</b></div>`;
}

/** x: "nines" scale, so p90, p99 and p99.9 are evenly spaced; the last point is the max. */
function ninesX(p: number): number {
  return p >= 100 ? 4.5 : Math.min(4.5, -Math.log10(1 - p / 100));
}

function percentilePlot(report: ReplayReport): string {
  const series = [...report.endpoints]
    .filter((e) => e.curve.length > 0)
    .sort((x, y) => y.responses - x.responses)
    .slice(0, PLOTTED);
  if (series.length === 0) return '<p class="meta">No responses.</p>';
  const W = 1000;
  const H = 360;
  const L = 70;
  const R = 230;
  const T = 16;
  const B = 40;
  const maxY = niceMax(Math.max(...series.map((e) => e.latency.max), report.totals.latency.max));
  const x = (p: number) => L + (ninesX(p) / 4.5) * (W - L - R);
  const y = (v: number) => T + (1 - v / maxY) * (H - T - B);
  const parts: string[] = [];
  for (const [p, label] of [
    [0, 'p0'],
    [50, 'p50'],
    [90, 'p90'],
    [99, 'p99'],
    [99.9, 'p99.9'],
    [99.99, 'p99.99'],
    [100, 'max'],
  ] as const) {
    parts.push(
      `<line x1="${x(p)}" x2="${x(p)}" y1="${T}" y2="${H - B}" stroke="#e5e7eb"/>`,
      `<text x="${x(p)}" y="${H - B + 16}" text-anchor="middle">${label}</text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#f3f4f6"/>`,
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${esc(ms(v) === '–' ? '0' : ms(v))}</text>`,
    );
  }
  series.forEach((e, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const points = e.curve.map(([p, v]) => `${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"><title>${esc(e.endpoint)}</title></polyline>`,
      `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${color}"/>`,
      `<text x="${W - R + 30}" y="${T + i * 20 + 10}">${esc(clip(e.endpoint, 32))}</text>`,
    );
  });
  return svg(W, H, parts);
}

function throughputPlot(report: ReplayReport): string {
  const { buckets, bucketSeconds } = report.throughput;
  if (buckets.length === 0) return '<p class="meta">No requests.</p>';
  const W = 1000;
  const H = 260;
  const L = 70;
  const R = 130;
  const T = 16;
  const B = 40;
  const rate = (n: number) => n / bucketSeconds;
  const maxY = niceMax(Math.max(1, ...buckets.map((b) => rate(b.completed + b.errors + b.dropped))));
  const span = Math.max(bucketSeconds, buckets.length * bucketSeconds);
  const x = (t: number) => L + (t / span) * (W - L - R);
  const y = (v: number) => T + (1 - v / maxY) * (H - T - B);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    const t = (span * i) / 4;
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#f3f4f6"/>`,
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}/s</text>`,
      `<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${fmt(t)}s</text>`,
    );
  }
  const line = (pick: (b: (typeof buckets)[number]) => number, color: string, label: string, row: number) => {
    const points = buckets
      .map((b) => `${x(b.t + bucketSeconds / 2).toFixed(1)},${y(rate(pick(b))).toFixed(1)}`)
      .join(' ');
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`,
      `<rect x="${W - R + 12}" y="${T + row * 20}" width="12" height="12" fill="${color}"/>`,
      `<text x="${W - R + 30}" y="${T + row * 20 + 10}">${label}</text>`,
    );
  };
  line((b) => b.completed, '#2563eb', 'responses/s', 0);
  if (buckets.some((b) => b.errors > 0)) line((b) => b.errors, '#dc2626', 'errors/s', 1);
  if (buckets.some((b) => b.dropped > 0)) line((b) => b.dropped, '#d97706', 'dropped/s', 2);
  return svg(W, H, parts);
}

function endpointTable(report: ReplayReport): string {
  const judged = report.assertions !== undefined;
  const head = ['endpoint', 'requests', 'errors', 'statuses', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'];
  if (judged) head.push('passed');
  const row = (e: ReportTraffic, cls = '') => {
    const errors = Object.values(e.errors).reduce((x, y) => x + y, 0);
    const statuses = Object.entries(e.statuses)
      .map(([k, n]) => `${k}×${n}`)
      .join(' ');
    const l = e.latency;
    const cells = [e.endpoint, String(e.responses + errors), String(errors), statuses];
    cells.push(ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max), ms(l.mean));
    if (judged) cells.push(e.assertions ? `${e.assertions.passed}/${e.assertions.passed + e.assertions.failed}` : '–');
    return `<tr class="${cls}">${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  };
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>
${report.endpoints.map((e) => row(e)).join('\n')}
${row({ ...report.totals, endpoint: 'Total' }, 'total')}
</tbody></table>`;
}

function errorsSection(report: ReplayReport): string {
  const errors = Object.entries(report.totals.errors);
  const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
  if (errors.length === 0 && skipped.length === 0 && report.totals.dropped === 0) return '';
  const items: string[] = [];
  for (const [kind, n] of errors) items.push(`<li>transport error <b>${esc(kind)}</b>: ${n}</li>`);
  if (report.totals.dropped > 0) items.push(`<li>dropped (max in flight reached): ${report.totals.dropped}</li>`);
  for (const [reason, n] of skipped) items.push(`<li>not replayed (${esc(reason)}): ${n}</li>`);
  return `<h2>Errors and skipped</h2><ul>${items.join('')}</ul>`;
}

function failuresSection(report: ReplayReport): string {
  const a = report.assertions;
  if (!a || (a.failures.length === 0 && a.ignored.length === 0)) return '';
  const out: string[] = [];
  if (a.failures.length > 0) {
    out.push(`<h2>Failures (${a.failed})</h2>`);
    for (const f of a.failures) {
      out.push(`<div><b>${esc(f.method)} ${esc(f.url)}</b>${f.status === undefined ? '' : ` → ${f.status}`}</div>`);
      out.push(
        `<div class="diff">${f.differences
          .map((d) => `${esc(d.path)}: ${esc(d.recorded)} → ${esc(d.replayed)}`)
          .join(
            '<br>',
          )}${f.differenceCount > f.differences.length ? `<br>… ${f.differenceCount - f.differences.length} more` : ''}</div>`,
      );
    }
    if (a.failuresNotShown > 0) out.push(`<p class="meta">… ${a.failuresNotShown} more failures not kept.</p>`);
  }
  if (a.ignored.length > 0) {
    out.push(
      '<h2>Ignored differences</h2><table><thead><tr><th>path</th><th>reason</th><th>times</th></tr></thead><tbody>',
    );
    for (const i of a.ignored) out.push(`<tr><td>${esc(i.path)}</td><td>${esc(i.reason)}</td><td>${i.count}</td></tr>`);
    out.push('</tbody></table>');
  }
  return out.join('\n');
}

function svg(w: number, h: number, parts: string[]): string {
  return `<svg viewBox="0 0 ${w} ${h}" role="img">${parts.join('')}</svg>`;
}

/** A round axis maximum above `v` (1, 2 or 5 × 10ⁿ). */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '');
}

function clip(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
