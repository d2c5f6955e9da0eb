/**
 * One captured HTTP/2 stream that carried gRPC, turned into the `grpc` part of an Exchange:
 * service and method from the path, the length-prefixed messages of both directions in arrival
 * order (each capped like a body, decoded schemalessly, and to JSON when a .proto knows the
 * method), and the status from the trailers. Pure: the HTTP/2 tap hands over what it saw.
 */
import { encodeBody, headerValue } from '../../model/body.ts';
import type { GrpcCall, GrpcMessage, HeaderList } from '../../model/exchange.ts';
import { GrpcDeframer, type FramedMessage, type GrpcDir } from './framing.ts';
import { decodeProtoFields } from './protobuf-wire.ts';
import type { ProtoRegistry } from './proto-registry.ts';

/** One DATA payload of the stream, in arrival order; `tMs` since the stream started. */
export interface GrpcChunk {
  dir: GrpcDir;
  tMs: number;
  bytes: Buffer;
}

export interface GrpcCallInput {
  /** :path, e.g. /helloworld.Greeter/SayHello */
  path: string;
  /** [name, value] pairs, no pseudo-headers. */
  requestHeaders: HeaderList;
  responseHeaders?: HeaderList;
  /** The trailers (or, for a trailers-only response, the response headers carry grpc-status). */
  trailers?: HeaderList;
  chunks: GrpcChunk[];
  /** The tap stopped keeping chunks at its cap. */
  chunksTruncated: boolean;
  /** Bytes of each message kept in `data` (the body cap). */
  cap: number;
  protos?: ProtoRegistry;
  /** Largest message inflated when compressed (default 16 MiB). */
  inflateLimit?: number;
}

/** application/grpc, application/grpc+proto, application/grpc+json… (not grpc-web). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/grpc' || type.startsWith('application/grpc+');
}

/** `/pkg.Service/Method` → service and method; anything else keeps the path as the method. */
export function splitGrpcPath(path: string): { service: string; method: string } {
  const match = /^\/([^/]*)\/([^/]*)$/.exec(path);
  if (match) return { service: match[1] as string, method: match[2] as string };
  return { service: '', method: path };
}

export function buildGrpcCall(input: GrpcCallInput): GrpcCall {
  const { service, method } = splitGrpcPath(input.path);
  const requestEncoding = encodingOf(input.requestHeaders);
  const responseEncoding = encodingOf(input.responseHeaders ?? []);
  const deframers = {
    c2s: new GrpcDeframer({ dir: 'c2s', encoding: requestEncoding, keep: input.cap, inflateLimit: input.inflateLimit }),
    s2c: new GrpcDeframer({
      dir: 's2c',
      encoding: responseEncoding,
      keep: input.cap,
      inflateLimit: input.inflateLimit,
    }),
  };
  const framed: FramedMessage[] = [];
  let lastMs = 0;
  for (const chunk of input.chunks) {
    lastMs = Math.max(lastMs, chunk.tMs);
    framed.push(...deframers[chunk.dir].push(chunk.bytes, chunk.tMs));
  }
  // With the chunks cut by the cap, an unfinished last message was cut by us, not by the peer:
  // it is left out (the call says `truncated`) rather than reported as a broken stream.
  let truncated = input.chunksTruncated;
  for (const dir of ['c2s', 's2c'] as const) {
    const d = deframers[dir];
    if (!d.pending) continue;
    if (input.chunksTruncated) truncated = true;
    else framed.push(...d.end(lastMs));
  }

  const call: GrpcCall = {
    service,
    method,
    messages: framed.map((m) => toMessage(m, input)),
    truncated,
  };
  const statusHeaders =
    input.trailers && headerValue(input.trailers, 'grpc-status') !== undefined ? input.trailers : input.responseHeaders;
  const statusText = statusHeaders && headerValue(statusHeaders, 'grpc-status');
  if (statusText !== undefined && /^\s*\d{1,9}\s*$/.test(statusText)) {
    call.status = Number(statusText);
    const message = headerValue(statusHeaders ?? [], 'grpc-message');
    if (message !== undefined && message !== '') call.statusMessage = percentDecode(message);
  }
  const encoding = requestEncoding ?? responseEncoding;
  if (encoding !== undefined) call.encoding = encoding;
  return call;
}

function toMessage(m: FramedMessage, input: GrpcCallInput): GrpcMessage {
  const message: GrpcMessage = {
    dir: m.dir,
    tMs: m.tMs,
    size: m.size,
    compressed: m.compressed,
    data: encodeBody(m.bytes, m.fullSize),
  };
  if (m.error !== undefined) {
    message.error = m.error;
    return message;
  }
  // Only a whole message can be decoded: a cut one would fail at its last field.
  if (!m.whole) return message;
  const fields = decodeProtoFields(m.bytes);
  if (fields) message.fields = fields;
  const decoded = input.protos?.tryDecode(input.path, m.dir, m.bytes);
  if (decoded && 'json' in decoded) message.json = decoded.json;
  else if (decoded) message.error = decoded.error;
  return message;
}

/** grpc-encoding when it says the messages may be compressed (absent or identity: undefined). */
function encodingOf(headers: HeaderList): string | undefined {
  const value = headerValue(headers, 'grpc-encoding')?.trim().toLowerCase();
  return value && value !== 'identity' ? value : undefined;
}

/**
 * grpc-message is percent-encoded UTF-8 (bytes outside 0x20–0x7E, and '%'). A malformed escape
 * stays as written rather than failing the whole record.
 */
export function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  const parts: Buffer[] = [];
  let from = 0;
  for (const match of value.matchAll(/(?:%[0-9a-fA-F]{2})+/g)) {
    parts.push(Buffer.from(value.slice(from, match.index), 'utf8'));
    parts.push(Buffer.from(match[0].replaceAll('%', ''), 'hex'));
    from = match.index + match[0].length;
  }
  parts.push(Buffer.from(value.slice(from), 'utf8'));
  return Buffer.concat(parts).toString('utf8');
}
