/**
 * The mock's gRPC side, one HTTP/2 stream with content-type application/grpc at a time.
 *
 * When to match: unary and client-streaming calls are matched once the client has sent its
 * whole request stream; server streaming too (one message, then END_STREAM). A bidi call can
 * not wait for the end (the client may wait for an answer first), so a call the index calls
 * conversational is matched on its first request message. Without that hint from the index, a
 * client that sends a message and then goes quiet (nothing more by the next turn of the event
 * loop) is taken for a conversation.
 *
 * The request body handed to the index is the request messages, each re-framed uncompressed
 * (the recorded `data` is the decompressed message too, so compression never decides a match).
 * For a conversation that is only the first message, so the index must sign a recorded call
 * for which isConversational() holds by its first c2s message too (signature.ts `reframe`),
 * and may answer grpcConversational(service, method) to spare the quiet-client guess.
 *
 * Replay: the recorded response headers, then each recorded s2c message once the c2s messages
 * recorded before it have arrived (and at its recorded time under `--latency`), then the
 * recorded trailers. A miss is a trailers-only response: grpc-status 12 (UNIMPLEMENTED) when
 * nothing of this method was recorded, 5 (NOT_FOUND) when it was but not with these messages.
 */
import http2 from 'node:http2';
import { decodeBody, headerValue } from '../model/body.ts';
import type { GrpcExchange, HeaderList } from '../model/exchange.ts';
import { GrpcDeframer, splitGrpcPath } from '../protocols/grpc/index.ts';
import type { MockRequest } from './types.ts';
import {
  Changes,
  faultLetsThrough,
  recordedLatency,
  sleepUntil,
  toH2Headers,
  type RequestBase,
  type ServeContext,
} from './serve-h2.ts';

/** Largest request message held (and inflated); past it the call is refused. */
const MAX_MESSAGE = 16 * 1024 * 1024;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_NOT_FOUND = 5;
const GRPC_INTERNAL = 13;
const GRPC_RESOURCE_EXHAUSTED = 8;

/** One length-prefixed message, uncompressed. */
export function grpcFrame(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The client's side of the call as it arrives. */
class ClientSide {
  readonly frames: Buffer[] = [];
  ended = false;
  /** Nothing came in since the last data event and a turn of the event loop. */
  quiet = false;
  error: string | undefined;
  readonly changes = new Changes();
  private readonly deframer: GrpcDeframer;

  constructor(stream: http2.ServerHttp2Stream, encoding: string | undefined) {
    this.deframer = new GrpcDeframer({ dir: 'c2s', encoding, keep: MAX_MESSAGE, inflateLimit: MAX_MESSAGE });
    let turn = 0;
    stream.on('data', (chunk: Buffer) => {
      this.take(this.deframer.push(chunk, 0));
      this.quiet = false;
      const mine = ++turn;
      setImmediate(() => {
        if (mine !== turn) return;
        this.quiet = true;
        this.changes.notify();
      });
      this.changes.notify();
    });
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      this.take(this.deframer.end(0));
      this.changes.notify();
    };
    stream.on('end', end);
    stream.on('close', end);
  }

  get count(): number {
    return this.frames.length;
  }

  private take(messages: ReturnType<GrpcDeframer['push']>): void {
    for (const m of messages) {
      if (m.error !== undefined || !m.whole) this.error ??= m.error ?? 'request message too large';
      else this.frames.push(grpcFrame(m.bytes));
    }
  }
}

export async function serveGrpcStream(
  stream: http2.ServerHttp2Stream,
  base: RequestBase,
  ctx: ServeContext,
): Promise<void> {
  const started = performance.now();
  const { service, method } = splitGrpcPath(base.path);
  const client = new ClientSide(stream, headerValue(base.headers, 'grpc-encoding'));
  const hint = ctx.index().grpcConversational?.(service, method);
  await client.changes.until(
    () =>
      client.ended ||
      client.error !== undefined ||
      (client.count > 0 && (hint === true || (hint === undefined && client.quiet))),
  );
  if (client.error !== undefined) {
    return trailersOnly(stream, GRPC_RESOURCE_EXHAUSTED, `tapwire mock: bad request message: ${client.error}`);
  }
  // Matched before the end: a conversation, matched on its first message.
  const frames = client.ended ? client.frames : client.frames.slice(0, 1);
  const req: MockRequest = { ...base, protocol: 'grpc', body: Buffer.concat(frames) };
  const fault = ctx.fault?.(req);
  if (fault && !(await faultLetsThrough(stream, fault))) return;
  const result = ctx.index().match(req);
  ctx.stats?.record(req, result);
  if (result.kind === 'miss') {
    const known = result.candidates.some((c) => c.request.includes(base.path));
    return trailersOnly(stream, known ? GRPC_NOT_FOUND : GRPC_UNIMPLEMENTED, result.explanation, [
      ['x-tapwire-mock', 'miss'],
    ]);
  }
  const x = result.exchange;
  if (x.protocol !== 'grpc') {
    return trailersOnly(stream, GRPC_INTERNAL, `tapwire mock: recorded exchange ${x.id} is ${x.protocol}, not gRPC`);
  }
  await replay(stream, x, client, ctx, started, fault ? [['x-tapwire-fault', fault.name]] : []);
}

async function replay(
  stream: http2.ServerHttp2Stream,
  x: GrpcExchange,
  client: ClientSide,
  ctx: ServeContext,
  started: number,
  extra: HeaderList,
): Promise<void> {
  const response = x.response;
  if (!response) return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  const heardUpTo = async (n: number) => {
    await client.changes.until(() => client.count >= n || client.ended);
  };
  // grpc-encoding goes: every message is sent uncompressed.
  const headers = toH2Headers([...response.headers.filter(([n]) => n.toLowerCase() !== 'grpc-encoding'), ...extra]);
  const s2c = x.grpc.messages.filter((m) => m.dir === 's2c');
  if (s2c.length === 0 && headerValue(response.headers, 'grpc-status') !== undefined) {
    // Recorded trailers-only (an error before any message): the same again.
    await heardUpTo(x.grpc.messages.length);
    await sleepUntil(started, recordedLatency(ctx, x.durationMs));
    if (!stream.destroyed) stream.respond({ ...headers, ':status': response.status }, { endStream: true });
    return;
  }
  if (stream.destroyed) return;
  stream.respond({ ...headers, ':status': response.status }, { waitForTrailers: true });
  let c2sBefore = 0;
  for (const m of x.grpc.messages) {
    if (m.dir === 'c2s') {
      c2sBefore++;
      continue;
    }
    await heardUpTo(c2sBefore);
    await sleepUntil(started, recordedLatency(ctx, m.tMs));
    if (stream.destroyed) return;
    stream.write(grpcFrame(decodeBody(m.data)));
  }
  await heardUpTo(c2sBefore);
  await sleepUntil(started, recordedLatency(ctx, x.durationMs));
  if (stream.destroyed) return;
  const trailers = recordedTrailers(x);
  // No status recorded: the call broke, and breaks again.
  if (!trailers) return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  stream.once('wantTrailers', () => stream.sendTrailers(toH2Headers(trailers)));
  stream.end();
}

function recordedTrailers(x: GrpcExchange): HeaderList | undefined {
  const recorded = x.response?.trailers ?? [];
  if (headerValue(recorded, 'grpc-status') !== undefined) return recorded;
  if (x.grpc.status === undefined) return undefined;
  const out: HeaderList = [['grpc-status', String(x.grpc.status)]];
  if (x.grpc.statusMessage) out.push(['grpc-message', percentEncode(x.grpc.statusMessage)]);
  return [...recorded, ...out];
}

function trailersOnly(stream: http2.ServerHttp2Stream, status: number, message: string, extra: HeaderList = []): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      ...toH2Headers(extra),
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(status),
      'grpc-message': percentEncode(message),
    },
    { endStream: true },
  );
}

/** grpc-message: UTF-8 with bytes outside 0x20–0x7E, and '%', percent-encoded. */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
