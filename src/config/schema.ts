/**
 * The one configuration schema. Every setting has a default here; a YAML file (`--config`),
 * environment variables (`TAPWIRE_*`) and command-line flags override it, in that order.
 * Unknown keys are rejected so that a typo never silently does nothing.
 */
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
/** The app's address; `https://HOST:PORT` when the app itself serves TLS. */
const appAddress = z
  .string()
  .regex(
    /^(https?:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}\/?$/,
    'must be HOST:PORT or https://HOST:PORT, for example localhost:3000',
  );

export const proxyTypes = ['dual', 'reverse', 'forward', 'transparent'] as const;
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const recordConfigSchema = z
  .strictObject({
    /** Where inbound traffic goes: the app's own address. */
    app: appAddress.optional(),
    inPort: port.default(4143),
    outPort: port.default(4140),
    adminPort: port.default(4100),
    /** Address the inbound and outbound listeners bind to (the admin endpoint stays on 127.0.0.1). */
    bindHost: z.string().default('127.0.0.1'),
    proxyType: z.enum(proxyTypes).default('dual'),
    service: z.string().min(1).default('app'),
    /** Snapshot name; defaults to `<service>-<date>`. */
    name: z.string().min(1).optional(),
    /** Bytes of each body kept in the record; forwarding always streams the whole body. */
    bodyCap: z
      .number()
      .int()
      .nonnegative()
      .default(1024 * 1024),
    /** Exchanges waiting for the sink; past this they are dropped and counted. */
    queueSize: z.number().int().positive().default(10_000),
    /** Bytes (heads and kept bodies) the waiting exchanges may hold; past this they are dropped. */
    queueBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Largest request or response head accepted (431 past it). */
    maxHeaderBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024),
    /** Time to open an upstream connection before answering 504. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /** Time a connection may sit idle before it is closed. */
    idleTimeoutMs: z.number().int().positive().default(120_000),
    /** Bytes of a raw TCP conversation kept per direction. */
    tcpCap: z
      .number()
      .int()
      .nonnegative()
      .default(1024 * 1024),
    /** Intercept outbound TLS (CONNECT, SOCKS) with the local CA; false passes it through. */
    tlsOut: z.boolean().default(true),
    /** Hosts whose TLS is never intercepted: exact names or `*.example.com`. */
    tlsPassthrough: z.array(z.string().min(1)).default([]),
    /** PEM files of extra CAs that verify real upstream servers (private CAs). */
    upstreamCa: z.array(z.string().min(1)).default([]),
    /** Accept any upstream certificate. Unsafe: only for tests against self-signed servers. */
    insecureUpstream: z.boolean().default(false),
    /** Terminate TLS on the inbound port with the app's own certificate and key (PEM files). */
    tlsInCert: z.string().min(1).optional(),
    tlsInKey: z.string().min(1).optional(),
    /** A directory of .proto files: gRPC messages are decoded to JSON with them. */
    proto: z.string().min(1).optional(),
  })
  .refine((r) => (r.tlsInCert === undefined) === (r.tlsInKey === undefined), {
    message: 'tlsInCert and tlsInKey go together: give both or neither',
    path: ['tlsInCert'],
  })
  .prefault({});

export const configSchema = z.strictObject({
  /** The embedded store: a local directory. */
  store: z.string().min(1).default('./.tapwire'),
  /** The local CA's directory (default ~/.tapwire/ca). */
  ca: z.string().min(1).optional(),
  logLevel: z.enum(logLevels).default('info'),
  record: recordConfigSchema,
});

export type Config = z.infer<typeof configSchema>;
export type RecordConfig = z.infer<typeof recordConfigSchema>;

/** Environment variables and the config path each one sets. */
export const envBindings: Record<string, { path: [string, ...string[]]; type: 'string' | 'number' }> = {
  TAPWIRE_STORE: { path: ['store'], type: 'string' },
  TAPWIRE_CA: { path: ['ca'], type: 'string' },
  TAPWIRE_LOG_LEVEL: { path: ['logLevel'], type: 'string' },
  TAPWIRE_APP: { path: ['record', 'app'], type: 'string' },
  TAPWIRE_IN_PORT: { path: ['record', 'inPort'], type: 'number' },
  TAPWIRE_OUT_PORT: { path: ['record', 'outPort'], type: 'number' },
  TAPWIRE_ADMIN_PORT: { path: ['record', 'adminPort'], type: 'number' },
  TAPWIRE_BIND_HOST: { path: ['record', 'bindHost'], type: 'string' },
  TAPWIRE_PROXY_TYPE: { path: ['record', 'proxyType'], type: 'string' },
  TAPWIRE_SERVICE: { path: ['record', 'service'], type: 'string' },
  TAPWIRE_BODY_CAP: { path: ['record', 'bodyCap'], type: 'number' },
};
