/**
 * A recording session: the snapshot writer, the recorder, the listeners the proxy type asks
 * for, and the admin endpoint, started together and stopped together so that the snapshot is
 * always closed cleanly.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { RecordConfig } from '../config/schema.ts';
import { FileUnreadableError, UsageError } from '../errors.ts';
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
import { parseAppAddress } from './upstream.ts';
import { loadOrInitCa, type LocalCa } from '../protocols/tls/ca.ts';
import { LeafCache } from '../protocols/tls/leaf-cache.ts';
import type { ProtoRegistry } from '../protocols/grpc/index.ts';
import { upstreamTrust } from '../protocols/tls/trust.ts';
import type { TlsInterception } from './tls-intercept.ts';
import { appConnector, type InboundTlsOptions } from './inbound-tls.ts';
import { TlsPolicy } from './tls-policy.ts';

export interface RecordingOptions {
  config: Readonly<RecordConfig>;
  store: Store;
  logger: Logger;
  /** Build and write records on this thread instead of in the capture worker. */
  inThread?: boolean;
  /** Tags written on every exchange (pod, namespace, …). */
  tags?: Record<string, string>;
  /** The local CA's directory, for outbound TLS interception (created on first use). */
  caDir?: string;
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
  /** The CA outbound TLS is intercepted with (undefined with --no-tls-out or no outbound listener). */
  readonly ca: LocalCa | undefined;
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
  const appAddress = config.app === undefined ? undefined : parseAppAddress(config.app);
  const app = appAddress?.target;
  if (type === 'reverse' && !app) {
    throw new UsageError('--proxy-type reverse needs --app HOST:PORT, the address of the app to record', {
      hint: 'for example: tapwire record --proxy-type reverse --app localhost:3000',
    });
  }

  const inboundTls = wantsInbound ? loadInboundTls(config) : undefined;
  // protobufjs (~10 MB) is loaded only when .proto files are given.
  const protos: ProtoRegistry | undefined = config.proto
    ? await (await import('../protocols/grpc/proto-registry.ts')).ProtoRegistry.load(config.proto)
    : undefined;
  const metrics = createCaptureMetrics();
  const feed = new LiveFeed({ dropCounter: metrics.feedDropped, subscriberGauge: metrics.feedSubscribers });
  // The CA and upstream trust are read before anything listens: a broken CA or a missing
  // --upstream-ca file fails the start, not the first HTTPS call.
  let ca: LocalCa | undefined;
  let interception: TlsInterception | undefined;
  if (wantsOutbound && config.tlsOut) {
    if (!options.caDir) throw new UsageError('outbound TLS interception needs the CA directory (--ca DIR)');
    ca = await loadOrInitCa(options.caDir);
    interception = {
      leaves: new LeafCache(ca),
      policy: new TlsPolicy(config.tlsPassthrough),
      upstreamContext: tls.createSecureContext({ ca: upstreamTrust(config.upstreamCa) }),
      insecureUpstream: config.insecureUpstream,
      notice: (message) => feed.publish({ type: 'notice', level: 'warn', message, time: new Date().toISOString() }),
    };
  }
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
    ...(protos ? { protos } : {}),
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
      const appTls = appAddress?.tls ?? false;
      const tlsIn =
        inboundTls?.serverContext &&
        ({ ...inboundTls, app, appTls, exchange: exchange('inbound'), tcpCap: config.tcpCap } as InboundTlsOptions);
      // A TLS app behind a plaintext inbound port: each request is re-encrypted towards the app.
      const appConnect =
        !tlsIn && inboundTls && appTls
          ? appConnector({ ...inboundTls, app, appTls }, config.connectTimeoutMs, ['http/1.1'])
          : undefined;
      inbound = await listenInbound(
        {
          ...listenOpts,
          port: config.inPort,
          app,
          exchange: exchange('inbound'),
          ...(tlsIn ? { tlsIn } : {}),
          ...(appConnect ? { appConnect } : {}),
        },
        deps,
      );
    }
    if (wantsOutbound) {
      outbound = await listenOutbound(
        {
          ...listenOpts,
          port: config.outPort,
          exchange: exchange('outbound'),
          tcpCap: config.tcpCap,
          ...(interception ? { tls: interception } : {}),
        },
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
    ca,
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

/**
 * What the inbound side needs for TLS: the app's certificate for clients (`--tls-in-cert`), and
 * the CAs that verify the app when it serves TLS itself (system CAs, --upstream-ca, and the
 * app's own certificate, which is often self-signed).
 */
function loadInboundTls(
  config: Readonly<RecordConfig>,
): { serverContext: tls.SecureContext | undefined; appContext: tls.SecureContext; insecureApp: boolean } | undefined {
  const appTls = config.app !== undefined && /^https:/.test(config.app);
  if (!config.tlsInCert || !config.tlsInKey) {
    if (!appTls) return undefined;
  }
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new FileUnreadableError(file, (err as Error).message, `check the path given to ${flag}`);
    }
  };
  const cert = config.tlsInCert ? read(config.tlsInCert, '--tls-in-cert') : undefined;
  const key = config.tlsInKey ? read(config.tlsInKey, '--tls-in-key') : undefined;
  let serverContext: tls.SecureContext | undefined;
  if (cert && key) {
    try {
      serverContext = tls.createSecureContext({ cert, key });
    } catch (err) {
      throw new UsageError(
        `--tls-in-cert and --tls-in-key do not make a usable certificate: ${(err as Error).message}`,
        {
          hint: 'give the PEM certificate (chain) and its matching PEM private key',
        },
      );
    }
  }
  return {
    // Without --tls-in-cert the inbound port stays plaintext and only the app side is TLS.
    serverContext,
    appContext: tls.createSecureContext({ ca: [...upstreamTrust(config.upstreamCa), ...(cert ? [cert] : [])] }),
    insecureApp: config.insecureUpstream,
  };
}
