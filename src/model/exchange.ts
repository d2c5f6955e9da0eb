/**
 * The Exchange record: one request/response pair (or one raw TCP conversation), the unit that
 * capture writes, the store keeps, and mock and replay read. One JSON object per NDJSON line.
 * The zod schema here is the runtime contract; the types are inferred from it.
 */
import { z } from 'zod';

export const EXCHANGE_VERSION = 1;

/** Header lists keep order, case and repeats: [name, value] pairs exactly as seen on the wire. */
export const headerListSchema = z.array(z.tuple([z.string(), z.string()]));
export type HeaderList = z.infer<typeof headerListSchema>;

export const bodySchema = z.object({
  encoding: z.enum(['utf8', 'base64']),
  data: z.string(),
  /** Size of the whole body in bytes, even when `data` holds only the first `cap` bytes. */
  size: z.number().int().nonnegative(),
  truncated: z.boolean(),
  contentType: z.string().optional(),
});
export type Body = z.infer<typeof bodySchema>;

export const httpRequestSchema = z.object({
  method: z.string().min(1),
  /** Absolute URL: scheme, authority, path and query. */
  url: z.string().min(1),
  httpVersion: z.string(),
  headers: headerListSchema,
  body: bodySchema.optional(),
  trailers: headerListSchema.optional(),
});
export type HttpRequest = z.infer<typeof httpRequestSchema>;

export const httpResponseSchema = z.object({
  status: z.number().int().min(100).max(999),
  statusText: z.string(),
  httpVersion: z.string(),
  headers: headerListSchema,
  body: bodySchema.optional(),
  trailers: headerListSchema.optional(),
});
export type HttpResponse = z.infer<typeof httpResponseSchema>;

/** One read from one side of a raw TCP conversation. */
export const tcpChunkSchema = z.object({
  /** `c2s`: client to server; `s2c`: server to client. */
  dir: z.enum(['c2s', 's2c']),
  /** Milliseconds since the exchange started. */
  tMs: z.number().nonnegative(),
  data: bodySchema,
});
export type TcpChunk = z.infer<typeof tcpChunkSchema>;

export const tcpStreamSchema = z.object({
  chunks: z.array(tcpChunkSchema),
  bytesC2s: z.number().int().nonnegative(),
  bytesS2c: z.number().int().nonnegative(),
  /** True when the recorded chunks stop before the conversation did (capture cap reached). */
  truncated: z.boolean(),
});
export type TcpStream = z.infer<typeof tcpStreamSchema>;

export const tlsInfoSchema = z.object({
  sni: z.string().optional(),
  alpn: z.array(z.string()).optional(),
  version: z.string().optional(),
  mode: z.enum(['intercepted', 'passthrough', 'terminated']),
});
export type TlsInfo = z.infer<typeof tlsInfoSchema>;

export const exchangeErrorSchema = z.object({
  /** What failed, as data: a transport failure is not an HTTP error response. */
  kind: z.enum(['refused', 'reset', 'timeout', 'dns', 'tls', 'protocol', 'aborted', 'other']),
  message: z.string(),
  /** Where in the exchange it happened. */
  phase: z.enum(['connect', 'request', 'response']).optional(),
});
export type ExchangeError = z.infer<typeof exchangeErrorSchema>;

export const timingsSchema = z.object({
  /** Time to open the upstream connection (0 when reused). */
  connectMs: z.number().nonnegative().optional(),
  /** From the start of the request to the first byte of the response head. */
  ttfbMs: z.number().nonnegative().optional(),
});

const common = {
  v: z.literal(EXCHANGE_VERSION),
  id: z.string().min(1),
  /** RFC 3339 time of the first byte of the request. */
  ts: z.string(),
  durationMs: z.number().nonnegative(),
  direction: z.enum(['inbound', 'outbound']),
  service: z.string().optional(),
  src: z.string().optional(),
  dst: z.string().optional(),
  tls: tlsInfoSchema.optional(),
  error: exchangeErrorSchema.optional(),
  timings: timingsSchema.optional(),
  tags: z.record(z.string(), z.string()).optional(),
};

export const httpExchangeSchema = z.object({
  ...common,
  protocol: z.literal('http'),
  request: httpRequestSchema,
  /** Absent when the exchange failed before a response arrived (see `error`). */
  response: httpResponseSchema.optional(),
});

/** A WebSocket session: the HTTP upgrade handshake (messages are added by the WebSocket layer). */
export const websocketExchangeSchema = z.object({
  ...common,
  protocol: z.literal('websocket'),
  request: httpRequestSchema,
  response: httpResponseSchema.optional(),
});

/** A raw TCP conversation (a tunnel that carried neither HTTP nor intercepted TLS). */
export const tcpExchangeSchema = z.object({
  ...common,
  protocol: z.literal('tcp'),
  stream: tcpStreamSchema,
});

export const exchangeSchema = z.discriminatedUnion('protocol', [
  httpExchangeSchema,
  websocketExchangeSchema,
  tcpExchangeSchema,
]);

export type HttpExchange = z.infer<typeof httpExchangeSchema>;
export type WebsocketExchange = z.infer<typeof websocketExchangeSchema>;
export type TcpExchange = z.infer<typeof tcpExchangeSchema>;
export type Exchange = z.infer<typeof exchangeSchema>;
export type Direction = Exchange['direction'];
export type Protocol = Exchange['protocol'];
