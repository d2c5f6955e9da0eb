/**
 * A tiny Prometheus registry (counters, gauges, histograms with labels) rendered in the text
 * exposition format 0.0.4. No dependency: the hot path only ever touches a bound child, whose
 * `inc()` / `observe()` is a plain number update; all formatting happens at scrape time.
 */

/** Label names to values. `Record<never, string>` (the default) means "no labels". */
export type LabelSet = Record<string, string>;
type NoLabels = Record<never, string>;

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface MetricOptions<L extends LabelSet> {
  name: string;
  help: string;
  /** Every label a child must be given, in the order they are rendered. */
  labelNames?: readonly (keyof L & string)[];
  /** Called just before rendering, to fill values read from elsewhere (process stats, queue sizes). */
  collect?: () => void;
}

export class CounterChild {
  /** Plain field so that hot paths and `collect` hooks pay nothing beyond a number add. */
  value = 0;
  /** Adds `n` (default 1). Counters only go up: a negative `n` is a caller bug, not checked here. */
  inc(n = 1): void {
    this.value += n;
  }
}

export class GaugeChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
  set(n: number): void {
    this.value = n;
  }
}

export class HistogramChild {
  /** Per-bucket counts (not cumulative); the last slot is the +Inf bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // Linear scan: ~15 buckets, and most observations land in the first few.
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

abstract class Metric<L extends LabelSet, C> {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly (keyof L & string)[];
  private readonly collectHook: (() => void) | undefined;
  /** Bound children in creation order, each with its rendered `a="b",…` text. */
  private readonly children: Array<{ child: C; labelText: string }> = [];
  /**
   * Lookup tree: one Map level per label name, keyed by value, ending in the child. Walking it
   * costs one Map.get per label, with no key string to build (a joined key cost ~10× more).
   */
  private readonly index = new Map<string, unknown>();
  private soloChild: C | undefined;

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME.test(options.name)) throw new Error(`invalid metric name "${options.name}"`);
    for (const label of options.labelNames ?? []) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new Error(`invalid label name "${label}" for metric ${options.name}`);
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.collectHook = options.collect;
  }

  protected abstract makeChild(): C;

  /** The one child of a metric without labels. */
  protected get solo(): C {
    return (this.soloChild ??= this.labels({} as L));
  }

  /**
   * The child for one label set, created on first use and cached. Hot paths should call this
   * once (per connection, per listener) and keep the child.
   */
  labels(values: L): C {
    const names = this.labelNames;
    if (names.length === 0) return this.soloChild ?? this.create(values, undefined, '');
    let level = this.index;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const value = values[names[i] as keyof L] as string;
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (next === undefined) level.set(value, (next = new Map()));
      level = next;
    }
    const value = values[names[last] as keyof L] as string;
    return (level.get(value) as C | undefined) ?? this.create(values, level, value);
  }

  private create(values: L, level: Map<string, unknown> | undefined, key: string): C {
    const child = this.makeChild();
    const labelText = this.labelNames.map((n) => `${n}="${escapeLabelValue(String(values[n] ?? ''))}"`).join(',');
    this.children.push({ child, labelText });
    if (level) level.set(key, child);
    else this.soloChild = child;
    return child;
  }

  /** Appends this metric's HELP, TYPE and sample lines. */
  render(out: string[]): void {
    this.collectHook?.();
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const { child, labelText } of this.children) this.renderChild(out, child, labelText);
  }

  protected abstract renderChild(out: string[], child: C, labelText: string): void;
}

function braces(labelText: string): string {
  return labelText === '' ? '' : `{${labelText}}`;
}

export class Counter<L extends LabelSet = NoLabels> extends Metric<L, CounterChild> {
  readonly type = 'counter';
  protected makeChild(): CounterChild {
    return new CounterChild();
  }
  /** For a metric without labels. */
  inc(n = 1): void {
    this.solo.inc(n);
  }
  protected renderChild(out: string[], child: CounterChild, labelText: string): void {
    out.push(`${this.name}${braces(labelText)} ${formatValue(child.value)}`);
  }
}

export class Gauge<L extends LabelSet = NoLabels> extends Metric<L, GaugeChild> {
  readonly type = 'gauge';
  protected makeChild(): GaugeChild {
    return new GaugeChild();
  }
  /** For a metric without labels. */
  set(n: number): void {
    this.solo.set(n);
  }
  inc(n = 1): void {
    this.solo.inc(n);
  }
  dec(n = 1): void {
    this.solo.dec(n);
  }
  protected renderChild(out: string[], child: GaugeChild, labelText: string): void {
    out.push(`${this.name}${braces(labelText)} ${formatValue(child.value)}`);
  }
}

export interface HistogramOptions<L extends LabelSet> extends MetricOptions<L> {
  /** Upper bounds in increasing order; +Inf is implied. */
  buckets: readonly number[];
}

export class Histogram<L extends LabelSet = NoLabels> extends Metric<L, HistogramChild> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly leTexts: string[];

  constructor(options: HistogramOptions<L>) {
    super(options);
    if ((options.labelNames as readonly string[] | undefined)?.includes('le')) {
      throw new Error(`histogram ${options.name} cannot have a label named "le"`);
    }
    const b = options.buckets;
    for (let i = 0; i < b.length; i++) {
      const v = b[i] as number;
      if (!Number.isFinite(v) || (i > 0 && v <= (b[i - 1] as number))) {
        throw new Error(`histogram ${options.name}: buckets must be finite and strictly increasing`);
      }
    }
    this.buckets = [...b];
    this.leTexts = [...b.map(formatValue), '+Inf'];
  }

  protected makeChild(): HistogramChild {
    return new HistogramChild(this.buckets);
  }
  /** For a metric without labels. */
  observe(value: number): void {
    this.solo.observe(value);
  }
  protected renderChild(out: string[], child: HistogramChild, labelText: string): void {
    const prefix = labelText === '' ? '' : `${labelText},`;
    let cumulative = 0;
    for (let i = 0; i < this.leTexts.length; i++) {
      cumulative += child.counts[i] as number;
      out.push(`${this.name}_bucket{${prefix}le="${this.leTexts[i]}"} ${formatValue(cumulative)}`);
    }
    out.push(`${this.name}_sum${braces(labelText)} ${formatValue(child.sum)}`);
    out.push(`${this.name}_count${braces(labelText)} ${formatValue(child.count)}`);
  }
}

type AnyMetric = Counter<LabelSet> | Gauge<LabelSet> | Histogram<LabelSet>;

export class Registry {
  private readonly metrics = new Map<string, AnyMetric>();

  counter<L extends LabelSet = NoLabels>(options: MetricOptions<L>): Counter<L> {
    return this.add(new Counter<L>(options));
  }
  gauge<L extends LabelSet = NoLabels>(options: MetricOptions<L>): Gauge<L> {
    return this.add(new Gauge<L>(options));
  }
  histogram<L extends LabelSet = NoLabels>(options: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram<L>(options));
  }

  private add<M extends { name: string }>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is already registered`);
    this.metrics.set(metric.name, metric as unknown as AnyMetric);
    return metric;
  }

  /** The whole registry in the Prometheus text format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const metric of this.metrics.values()) metric.render(out);
    return out.join('\n') + '\n';
  }
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** HELP text escapes backslash and newline (quotes stay). */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

export function formatValue(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

// ---------------------------------------------------------------------------------------------
// The metrics of a capture run (`tapwire record`), served on the admin endpoint's /metrics.

/** Why an exchange never reached the sink: the known reasons, open to new ones. */
export type DropReason = 'queue_full' | 'sink_error' | 'build_error' | 'closed' | (string & {});
export type Listener = 'inbound' | 'outbound' | 'admin';
export type Flow = 'c2s' | 's2c';
type CaptureDirection = 'inbound' | 'outbound';

/** Upper bounds in seconds: 0.5 ms (loopback) to 30 s (slow upstreams). */
export const EXCHANGE_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;

export interface CaptureMetrics {
  readonly registry: Registry;
  exchangesCaptured: Counter<{ direction: CaptureDirection; protocol: string }>;
  exchangesDropped: Counter<{ reason: DropReason }>;
  bytes: Counter<{ direction: CaptureDirection; flow: Flow }>;
  connectionsOpen: Gauge<{ listener: Listener }>;
  connectionsTotal: Counter<{ listener: Listener }>;
  exchangeDuration: Histogram<{ direction: CaptureDirection }>;
  errors: Counter<{ kind: string }>;
  /** Intercepted TLS handshakes, by side (client: ours as the server; upstream) and resumption. */
  tlsHandshakes: Counter<{ side: 'client' | 'upstream'; resumed: 'true' | 'false' }>;
  /** Intercepted TLS tunnels that closed without one application byte (not recorded). */
  tlsEmptyTunnels: Counter;
  queueDepth: Gauge;
  /** Live-feed events a slow `tail` missed: the exchanges still reached the sink. */
  feedDropped: Counter;
  feedSubscribers: Gauge;
  render(): string;
}

export function createCaptureMetrics(): CaptureMetrics {
  const registry = new Registry();
  const m: CaptureMetrics = {
    registry,
    exchangesCaptured: registry.counter({
      name: 'tapwire_exchanges_captured_total',
      help: 'Exchanges captured and handed to the recorder.',
      labelNames: ['direction', 'protocol'],
    }),
    exchangesDropped: registry.counter({
      name: 'tapwire_exchanges_dropped_total',
      help: 'Exchanges captured but not stored (traffic itself was forwarded).',
      labelNames: ['reason'],
    }),
    bytes: registry.counter({
      name: 'tapwire_bytes_total',
      help: 'Bytes forwarded, by listener direction and flow (c2s: client to server).',
      labelNames: ['direction', 'flow'],
    }),
    connectionsOpen: registry.gauge({
      name: 'tapwire_open_connections',
      help: 'Connections open now, by listener.',
      labelNames: ['listener'],
    }),
    connectionsTotal: registry.counter({
      name: 'tapwire_connections_total',
      help: 'Connections accepted, by listener.',
      labelNames: ['listener'],
    }),
    exchangeDuration: registry.histogram({
      name: 'tapwire_exchange_duration_seconds',
      help: 'Time from the first byte of a request to the last byte of its response.',
      labelNames: ['direction'],
      buckets: EXCHANGE_DURATION_BUCKETS,
    }),
    errors: registry.counter({
      name: 'tapwire_errors_total',
      help: 'Errors met while capturing, by kind.',
      labelNames: ['kind'],
    }),
    tlsHandshakes: registry.counter({
      name: 'tapwire_tls_handshakes_total',
      help: 'Intercepted TLS handshakes completed, by side (client or upstream) and whether a session was resumed.',
      labelNames: ['side', 'resumed'],
    }),
    tlsEmptyTunnels: registry.counter({
      name: 'tapwire_tls_empty_tunnels_total',
      help: 'Intercepted TLS tunnels that carried no application data (spare connections a client dropped): counted, not recorded.',
    }),
    queueDepth: registry.gauge({
      name: 'tapwire_queue_depth',
      help: 'Exchanges waiting for the sink.',
    }),
    feedDropped: registry.counter({
      name: 'tapwire_feed_dropped_total',
      help: 'Live-feed events not delivered to a slow tail subscriber (still stored).',
    }),
    feedSubscribers: registry.gauge({
      name: 'tapwire_feed_subscribers',
      help: 'Clients following the live feed (/tail).',
    }),
    render: () => registry.render(),
  };
  // Children created up front render as 0 from the first scrape, so rate() and alerts work
  // before the first event instead of seeing the series appear out of nothing.
  for (const direction of ['inbound', 'outbound'] as const) {
    m.exchangeDuration.labels({ direction });
    for (const flow of ['c2s', 's2c'] as const) m.bytes.labels({ direction, flow });
  }
  for (const reason of ['queue_full', 'sink_error'] as const) m.exchangesDropped.labels({ reason });
  for (const listener of ['inbound', 'outbound', 'admin'] as const) {
    m.connectionsOpen.labels({ listener });
    m.connectionsTotal.labels({ listener });
  }
  for (const side of ['client', 'upstream'] as const) {
    for (const resumed of ['true', 'false'] as const) m.tlsHandshakes.labels({ side, resumed });
  }
  m.tlsEmptyTunnels.inc(0);
  m.queueDepth.set(0);
  m.feedDropped.inc(0);
  m.feedSubscribers.set(0);
  addProcessMetrics(registry);
  return m;
}

/** The standard process_* series, read at scrape time. */
function addProcessMetrics(registry: Registry): void {
  const rss: Gauge = registry.gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    collect: () => rss.set(process.memoryUsage.rss()),
  });
  // A counter, as every Prometheus client exposes it (a *_total gauge fails promtool's lint).
  const cpu: Counter = registry.counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    collect: () => {
      const { user, system } = process.cpuUsage();
      cpu.labels({}).value = (user + system) / 1e6;
    },
  });
  registry
    .gauge({
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
    })
    .set(Math.round(Date.now() / 1000 - process.uptime()));
}
