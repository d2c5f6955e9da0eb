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

/**
 * One field of a protobuf message decoded without a schema. `value` by wire type: varint, i64
 * and i32 as unsigned decimal strings (64-bit safe); len as a nested message when it parses as
 * one (`as: 'message'`), else UTF-8 text (`as: 'string'`), else base64 (`as: 'bytes'`); a group
 * as its fields.
 */
export interface ProtoField {
  n: number;
  wire: 'varint' | 'i64' | 'len' | 'i32' | 'group';
  as?: 'message' | 'string' | 'bytes' | undefined;
  value: string | ProtoField[];
}
export const protoFieldSchema: z.ZodType<ProtoField> = z.lazy(() =>
  z.object({
    n: z.number().int().positive(),
    wire: z.enum(['varint', 'i64', 'len', 'i32', 'group']),
    as: z.enum(['message', 'string', 'bytes']).optional(),
    value: z.union([z.string(), z.array(protoFieldSchema)]),
  }),
);

/** One length-prefixed gRPC message on a stream. */
export const grpcMessageSchema = z.object({
  /** `c2s`: from the client (request messages); `s2c`: from the server. */
  dir: z.enum(['c2s', 's2c']),
  /** Milliseconds since the exchange started, when the message was complete. */
  tMs: z.number().nonnegative(),
  /** The message's length as framed (compressed length when `compressed`). */
  size: z.number().int().nonnegative(),
  compressed: z.boolean(),
  /** The message bytes (decompressed), capped like bodies. */
  data: bodySchema,
  /** Schemaless decode; absent when the bytes do not parse as protobuf. */
  fields: z.array(protoFieldSchema).optional(),
  /** Full JSON decode when a .proto for the method was given (`--proto`). */
  json: z.unknown().optional(),
  /** Why the message could not be decoded (bad framing, unknown compression…). */
  error: z.string().optional(),
});
export type GrpcMessage = z.infer<typeof grpcMessageSchema>;

export const grpcCallSchema = z.object({
  /** Fully qualified service, e.g. `helloworld.Greeter`. */
  service: z.string(),
  method: z.string(),
  messages: z.array(grpcMessageSchema),
  /** Messages left out because the capture cap was reached. */
  truncated: z.boolean(),
  /** grpc-status from the trailers (or a trailers-only response); absent when the call broke. */
  status: z.number().int().nonnegative().optional(),
  statusMessage: z.string().optional(),
  /** grpc-encoding of the messages, when not identity. */
  encoding: z.string().optional(),
});
export type GrpcCall = z.infer<typeof grpcCallSchema>;

/** One WebSocket message (a data message reassembled from its fragments, or a control frame). */
export const websocketMessageSchema = z.object({
  dir: z.enum(['c2s', 's2c']),
  tMs: z.number().nonnegative(),
  type: z.enum(['text', 'binary', 'ping', 'pong', 'close']),
  /** Payload (inflated when permessage-deflate was used), capped like bodies. */
  data: bodySchema,
  /** Close frames: the status code and reason. */
  code: z.number().int().optional(),
  reason: z.string().optional(),
});
export type WebsocketMessage = z.infer<typeof websocketMessageSchema>;

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
  /** The client connection the exchange came on (shared by the exchanges of one connection). */
  conn: z.string().optional(),
  /** HTTP/2 stream id. */
  streamId: z.number().int().positive().optional(),
  tags: z.record(z.string(), z.string()).optional(),
};

export const httpExchangeSchema = z.object({
  ...common,
  protocol: z.literal('http'),
  request: httpRequestSchema,
  /** Absent when the exchange failed before a response arrived (see `error`). */
  response: httpResponseSchema.optional(),
});

/** A WebSocket session: the HTTP upgrade handshake and the messages that followed it. */
export const websocketExchangeSchema = z.object({
  ...common,
  protocol: z.literal('websocket'),
  request: httpRequestSchema,
  response: httpResponseSchema.optional(),
  messages: z.array(websocketMessageSchema).optional(),
  /** Messages left out because the capture cap was reached. */
  messagesTruncated: z.boolean().optional(),
});

/**
 * A gRPC call: the HTTP/2 request and response heads (bodies are the messages in `grpc`; the
 * response's trailers carry grpc-status).
 */
export const grpcExchangeSchema = z.object({
  ...common,
  protocol: z.literal('grpc'),
  request: httpRequestSchema,
  response: httpResponseSchema.optional(),
  grpc: grpcCallSchema,
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
  grpcExchangeSchema,
  tcpExchangeSchema,
]);

export type HttpExchange = z.infer<typeof httpExchangeSchema>;
export type WebsocketExchange = z.infer<typeof websocketExchangeSchema>;
export type GrpcExchange = z.infer<typeof grpcExchangeSchema>;
export type TcpExchange = z.infer<typeof tcpExchangeSchema>;
export type Exchange = z.infer<typeof exchangeSchema>;
export type Direction = Exchange['direction'];
export type Protocol = Exchange['protocol'];
