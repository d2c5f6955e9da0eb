import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, createCaptureMetrics, escapeLabelValue, EXCHANGE_DURATION_BUCKETS } from './metrics.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text format: throws on anything a Prometheus scraper would reject. */
function parseExposition(text: string): { samples: Sample[]; help: Map<string, string>; types: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(
        m[1]!,
        m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
      );
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      assert.ok(!types.has(m[1]!), `one TYPE line for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest !== '') {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
      assert.ok(lm, `labels: ${rest}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    assert.ok(raw === 'NaN' || !Number.isNaN(value), `value ${raw}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, help, types };
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

test('counters and gauges render with HELP, TYPE and their label sets', () => {
  const r = new Registry();
  const c = r.counter<{ direction: string; flow: string }>({
    name: 'x_bytes_total',
    help: 'Bytes.',
    labelNames: ['direction', 'flow'],
  });
  const g = r.gauge<{ listener: string }>({ name: 'x_open', help: 'Open.', labelNames: ['listener'] });
  const plain = r.counter({ name: 'x_plain_total', help: 'No labels.' });

  const child = c.labels({ direction: 'inbound', flow: 'c2s' });
  child.inc(100);
  child.inc();
  c.labels({ direction: 'outbound', flow: 's2c' }).inc(5);
  g.labels({ listener: 'admin' }).inc();
  g.labels({ listener: 'admin' }).inc(3);
  g.labels({ listener: 'admin' }).dec();
  g.labels({ listener: 'inbound' }).set(-2.5);
  plain.inc(2);

  const { samples, help, types } = parseExposition(r.render());
  assert.equal(find(samples, 'x_bytes_total', { direction: 'inbound', flow: 'c2s' }), 101);
  assert.equal(find(samples, 'x_bytes_total', { direction: 'outbound', flow: 's2c' }), 5);
  assert.equal(find(samples, 'x_open', { listener: 'admin' }), 3);
  assert.equal(find(samples, 'x_open', { listener: 'inbound' }), -2.5);
  assert.equal(find(samples, 'x_plain_total'), 2);
  assert.equal(types.get('x_bytes_total'), 'counter');
  assert.equal(types.get('x_open'), 'gauge');
  assert.equal(help.get('x_bytes_total'), 'Bytes.');
});

test('labels() returns the same cached child for the same label set, in any key order', () => {
  const r = new Registry();
  const c = r.counter<{ a: string; b: string }>({ name: 'c_total', help: 'h', labelNames: ['a', 'b'] });
  const one = c.labels({ a: '1', b: '2' });
  assert.equal(c.labels({ b: '2', a: '1' }), one);
  assert.notEqual(c.labels({ a: '12', b: '' }), one, 'no collision between concatenations');
  assert.notEqual(c.labels({ a: '1', b: '3' }), one);
});

test('label values and HELP text are escaped', () => {
  const r = new Registry();
  const c = r.counter<{ kind: string }>({
    name: 'e_total',
    help: 'Line one\nback\\slash "quoted"',
    labelNames: ['kind'],
  });
  const nasty = 'a "quoted" back\\slash\nnewline';
  c.labels({ kind: nasty }).inc();
  const text = r.render();
  assert.match(text, /^# HELP e_total Line one\\nback\\\\slash "quoted"$/m);
  assert.ok(text.includes(`e_total{kind="a \\"quoted\\" back\\\\slash\\nnewline"} 1`));
  assert.equal(escapeLabelValue('plain'), 'plain');
  const { samples, help } = parseExposition(text);
  assert.equal(find(samples, 'e_total', { kind: nasty }), 1, 'round-trips through a parser');
  assert.equal(help.get('e_total'), 'Line one\nback\\slash "quoted"');
});

test('histogram buckets are cumulative, end with +Inf, and carry _sum and _count', () => {
  const r = new Registry();
  const h = r.histogram<{ direction: string }>({
    name: 'd_seconds',
    help: 'Durations.',
    labelNames: ['direction'],
    buckets: [0.01, 0.1, 1],
  });
  const child = h.labels({ direction: 'inbound' });
  for (const v of [0.005, 0.01, 0.05, 0.5, 0.7, 3, 100]) child.observe(v);

  const { samples, types } = parseExposition(r.render());
  assert.equal(types.get('d_seconds'), 'histogram');
  const bucket = (le: string) => find(samples, 'd_seconds_bucket', { direction: 'inbound', le });
  assert.equal(bucket('0.01'), 2, 'le is inclusive');
  assert.equal(bucket('0.1'), 3);
  assert.equal(bucket('1'), 5);
  assert.equal(bucket('+Inf'), 7);
  assert.equal(find(samples, 'd_seconds_count', { direction: 'inbound' }), 7);
  const sum = find(samples, 'd_seconds_sum', { direction: 'inbound' });
  assert.ok(sum !== undefined && Math.abs(sum - 104.265) < 1e-9);
  const bucketLines = samples.filter((s) => s.name === 'd_seconds_bucket').map((s) => s.value);
  assert.deepEqual(
    [...bucketLines].sort((a, b) => a - b),
    bucketLines,
    'non-decreasing',
  );
});

test('special values and invalid definitions', () => {
  const r = new Registry();
  const g = r.gauge({ name: 'g', help: 'h' });
  g.set(Infinity);
  assert.match(r.render(), /^g \+Inf$/m);
  g.set(NaN);
  assert.match(r.render(), /^g NaN$/m);
  assert.throws(() => r.gauge({ name: 'g', help: 'again' }), /already registered/);
  assert.throws(() => r.counter({ name: 'bad-name', help: 'h' }), /invalid metric name/);
  assert.throws(
    () => r.counter<{ 'bad-label': string }>({ name: 'ok_total', help: 'h', labelNames: ['bad-label'] }),
    /invalid label name/,
  );
  assert.throws(() => r.histogram<{ le: string }>({ name: 'hh', help: 'h', labelNames: ['le'], buckets: [1] }), /"le"/);
  assert.throws(() => r.histogram({ name: 'hh2', help: 'h', buckets: [1, 1] }), /strictly increasing/);
});

test('collect hooks run at render time', () => {
  const r = new Registry();
  let calls = 0;
  const g = r.gauge({
    name: 'sampled',
    help: 'h',
    collect: () => {
      calls++;
      g.set(calls * 10);
    },
  });
  assert.match(r.render(), /^sampled 10$/m);
  assert.match(r.render(), /^sampled 20$/m);
});

test('createCaptureMetrics exposes the capture series, zero from the first scrape', () => {
  const m = createCaptureMetrics();
  let parsed = parseExposition(m.render());
  assert.equal(find(parsed.samples, 'tapwire_bytes_total', { direction: 'outbound', flow: 's2c' }), 0);
  assert.equal(find(parsed.samples, 'tapwire_exchanges_dropped_total', { reason: 'queue_full' }), 0);
  assert.equal(find(parsed.samples, 'tapwire_open_connections', { listener: 'admin' }), 0);
  assert.equal(find(parsed.samples, 'tapwire_queue_depth'), 0);
  assert.equal(find(parsed.samples, 'tapwire_feed_dropped_total'), 0);

  m.exchangesCaptured.labels({ direction: 'inbound', protocol: 'http' }).inc();
  m.exchangesDropped.labels({ reason: 'sink_error' }).inc(3);
  m.bytes.labels({ direction: 'inbound', flow: 'c2s' }).inc(1024);
  m.connectionsOpen.labels({ listener: 'inbound' }).inc();
  m.connectionsTotal.labels({ listener: 'inbound' }).inc();
  m.exchangeDuration.labels({ direction: 'outbound' }).observe(0.003);
  m.errors.labels({ kind: 'tls' }).inc();
  m.queueDepth.set(7);

  parsed = parseExposition(m.render());
  const { samples, types } = parsed;
  assert.equal(find(samples, 'tapwire_exchanges_captured_total', { direction: 'inbound', protocol: 'http' }), 1);
  assert.equal(find(samples, 'tapwire_exchanges_dropped_total', { reason: 'sink_error' }), 3);
  assert.equal(find(samples, 'tapwire_bytes_total', { direction: 'inbound', flow: 'c2s' }), 1024);
  assert.equal(find(samples, 'tapwire_open_connections', { listener: 'inbound' }), 1);
  assert.equal(find(samples, 'tapwire_connections_total', { listener: 'inbound' }), 1);
  assert.equal(find(samples, 'tapwire_errors_total', { kind: 'tls' }), 1);
  assert.equal(find(samples, 'tapwire_queue_depth'), 7);
  assert.equal(find(samples, 'tapwire_exchange_duration_seconds_bucket', { direction: 'outbound', le: '0.0025' }), 0);
  assert.equal(find(samples, 'tapwire_exchange_duration_seconds_bucket', { direction: 'outbound', le: '0.005' }), 1);
  assert.equal(find(samples, 'tapwire_exchange_duration_seconds_bucket', { direction: 'outbound', le: '30' }), 1);
  assert.equal(
    samples.filter((s) => s.name === 'tapwire_exchange_duration_seconds_bucket' && s.labels['direction'] === 'outbound')
      .length,
    EXCHANGE_DURATION_BUCKETS.length + 1,
  );
  assert.equal(types.get('tapwire_exchange_duration_seconds'), 'histogram');
  assert.ok((find(samples, 'process_resident_memory_bytes') ?? 0) > 0);
  assert.ok((find(samples, 'process_cpu_seconds_total') ?? 0) > 0);
  assert.equal(types.get('process_cpu_seconds_total'), 'counter');
});
