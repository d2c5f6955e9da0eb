/**
 * A recording session: the snapshot writer, the recorder, the listeners the proxy type asks
 * for, and the admin endpoint, started together and stopped together so that the snapshot is
 * always closed cleanly.
 */
import type { Logger } from 'pino';
import type { RecordConfig } from '../config/schema.ts';
import { UsageError } from '../errors.ts';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { Store } from '../store/types.ts';
import { startAdminServer, type AdminServer } from './admin-server.ts';
import type { ExchangeContext } from './http1-exchange.ts';
import type { SessionDeps } from './http1-session.ts';
import { LiveFeed } from './live-feed.ts';
import { listenInbound, listenOutbound, type ProxyListener } from './listeners.ts';
import { createCaptureMetrics, type CaptureMetrics } from './metrics.ts';
import { Recorder } from './recorder.ts';
import { InThreadSink, type BatchSink } from './batch-sink.ts';
import { WorkerSink } from './worker-sink.ts';
import { FsStore } from '../store/fs/index.ts';
import { parseTarget } from './upstream.ts';

export interface RecordingOptions {
  config: Readonly<RecordConfig>;
  store: Store;
  logger: Logger;
  /** Build and write records on this thread instead of in the capture worker. */
  inThread?: boolean;
  /** Tags written on every exchange (pod, namespace, …). */
  tags?: Record<string, string>;
}

export interface Recording {
  readonly snapshotId: string;
  readonly snapshotDir: string;
  readonly inbound: ProxyListener | undefined;
  readonly outbound: ProxyListener | undefined;
  readonly admin: AdminServer;
  readonly metrics: CaptureMetrics;
  readonly feed: LiveFeed;
  readonly recorder: Recorder;
  /** Stops listening, lets in-flight exchanges finish (up to `graceMs`), closes the snapshot. */
  stop(graceMs?: number): Promise<SnapshotMeta>;
}

export async function startRecording(options: RecordingOptions): Promise<Recording> {
  const { config, logger } = options;
  const type = config.proxyType;
  if (type === 'transparent') {
    throw new UsageError('--proxy-type transparent is not available yet', {
      hint: 'use dual (default), reverse or forward; transparent mode needs iptables rules and ships with the Kubernetes sidecar',
    });
  }
  const wantsInbound = type === 'dual' || type === 'reverse';
  const wantsOutbound = type === 'dual' || type === 'forward';
  const app = config.app === undefined ? undefined : parseTarget(config.app);
  if (type === 'reverse' && !app) {
    throw new UsageError('--proxy-type reverse needs --app HOST:PORT, the address of the app to record', {
      hint: 'for example: tapwire record --proxy-type reverse --app localhost:3000',
    });
  }

  const metrics = createCaptureMetrics();
  const feed = new LiveFeed({ dropCounter: metrics.feedDropped, subscriberGauge: metrics.feedSubscribers });
  const createOptions = {
    name: config.name ?? `${config.service}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`,
    services: [config.service],
    source: 'record',
    ...(options.tags ? { tags: options.tags } : {}),
  };
  // The capture worker opens the local store in its own thread and writes the snapshot there;
  // other stores (and inThread) build and write records on this thread.
  let sink: BatchSink & { id: string; dir: string };
  if (options.store instanceof FsStore && !options.inThread) {
    sink = await WorkerSink.start(options.store.location, createOptions);
  } else {
    const writer = await options.store.create(createOptions);
    sink = Object.assign(new InThreadSink(writer), { id: writer.id, dir: writer.dir });
  }
  const recorder = new Recorder({
    sink,
    metrics,
    feed,
    logger,
    queueSize: config.queueSize,
    queueBytes: config.queueBytes,
  });
  const deps: SessionDeps = {
    recorder,
    metrics,
    logger,
    maxHeaderBytes: config.maxHeaderBytes,
    connectTimeoutMs: config.connectTimeoutMs,
  };
  const exchange = (direction: ExchangeContext['direction']): ExchangeContext => ({
    direction,
    service: config.service,
    bodyCap: config.bodyCap,
    tags: { ...options.tags, proxyType: type },
  });
  const listenOpts = { host: config.bindHost, idleTimeoutMs: config.idleTimeoutMs };

  let inbound: ProxyListener | undefined;
  let outbound: ProxyListener | undefined;
  let admin: AdminServer | undefined;
  let ready = false;
  try {
    if (wantsInbound && app) {
      inbound = await listenInbound({ ...listenOpts, port: config.inPort, app, exchange: exchange('inbound') }, deps);
    }
    if (wantsOutbound) {
      outbound = await listenOutbound(
        { ...listenOpts, port: config.outPort, exchange: exchange('outbound'), tcpCap: config.tcpCap },
        deps,
      );
    }
    admin = await startAdminServer({ port: config.adminPort, metrics, feed, isReady: () => ready, logger });
  } catch (err) {
    await inbound?.close(0);
    await outbound?.close(0);
    await admin?.close();
    await recorder.close();
    throw err;
  }
  ready = true;
  const adminServer = admin;

  let stopping: Promise<SnapshotMeta> | undefined;
  return {
    snapshotId: sink.id,
    snapshotDir: sink.dir,
    inbound,
    outbound,
    admin: adminServer,
    metrics,
    feed,
    recorder,
    stop(graceMs = 2000) {
      stopping ??= (async () => {
        ready = false;
        await Promise.all([inbound?.close(graceMs), outbound?.close(graceMs)]);
        let meta: SnapshotMeta;
        try {
          meta = await recorder.close();
        } catch (err) {
          // The snapshot could not be finished (disk full, worker gone): still release the
          // admin endpoint so that the process can exit, and report the failure.
          feed.close();
          await adminServer.close();
          throw err;
        }
        feed.publish({
          type: 'notice',
          level: 'info',
          message: `recording stopped: ${meta.counts.exchanges} exchanges in snapshot ${meta.name}`,
          time: new Date().toISOString(),
        });
        feed.close();
        await adminServer.close();
        return meta;
      })();
      return stopping;
    },
  };
}
