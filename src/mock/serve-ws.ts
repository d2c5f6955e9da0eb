/**
 * The mock's WebSocket side: an HTTP/1.1 `Upgrade: websocket` request is matched like any
 * request; a hit answers 101 and replays the recorded session in order. Each recorded s2c
 * message (text, binary, ping, pong, close with code and reason) is sent once as many c2s
 * messages have arrived as were recorded before it: the count paces the conversation, the
 * contents need not match. No extension is negotiated: the recorded messages are stored
 * inflated, so they are served uncompressed.
 *
 * A miss is a 404 with `x-tapwire-mock: miss` and the JSON explanation, as for HTTP; a recorded
 * refusal (no 101) is answered as recorded.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { decodeBody, headerValue } from '../model/body.ts';
import type { HeaderList, WebsocketExchange, WebsocketMessage } from '../model/exchange.ts';
import { encodeFrame, FrameParser, OPCODE, type FrameHeader } from '../protocols/websocket/index.ts';
import { compileOwn, compileRecorded } from './compiled-response.ts';
import { Changes, missBody, recordedLatency, sleep, sleepUntil, targetOf, type ServeContext } from './serve-h2.ts';
import type { MockRequest } from './types.ts';

/** The upgrade request's head (the front door's Http1Head fits). */
export interface UpgradeHead {
  method: string;
  /** Request-target as sent: origin-form, or absolute-form through a plain HTTP proxy. */
  target: string;
  headers: HeaderList;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key.trim() + WS_GUID)
    .digest('base64');
}

/**
 * Serves one upgrade request. The socket is positioned right after the request head (bytes
 * the front door read past it must be unshifted back first).
 */
export async function serveWebSocket(socket: Duplex, head: UpgradeHead, ctx: ServeContext): Promise<void> {
  socket.on('error', () => undefined);
  const started = performance.now();
  const req = upgradeRequest(head, ctx);
  const fault = ctx.fault?.(req);
  if (fault) {
    if (fault.delayMs > 0) await sleep(fault.delayMs);
    if (fault.reset) return void socket.destroy();
    if (fault.stall) return;
    if (fault.status !== undefined) {
      return answer(socket, fault.status, { fault: fault.name }, [['X-Tapwire-Fault', fault.name]]);
    }
  }
  const result = ctx.index().match(req);
  ctx.stats?.record(req, result);
  if (result.kind === 'miss') return answer(socket, 404, missBody(result), [['X-Tapwire-Mock', 'miss']]);
  const x = result.exchange;
  if (x.protocol !== 'websocket' || !x.response) {
    return answer(socket, 502, { error: `recorded exchange ${x.id} is not a WebSocket session` });
  }
  const key = headerValue(req.headers, 'sec-websocket-key');
  if (!key) return answer(socket, 400, { error: 'Sec-WebSocket-Key is missing' });
  await sleepUntil(started, recordedLatency(ctx, x.timings?.ttfbMs ?? 0));
  if (x.response.status !== 101) {
    socket.end(compileRecorded(x.response).full);
    return;
  }
  socket.write(switchingProtocols(x, key, fault?.name));
  await replaySession(socket, x, ctx, performance.now());
}

function upgradeRequest(head: UpgradeHead, ctx: ServeContext): MockRequest {
  let target = head.target;
  let authority = headerValue(head.headers, 'host') ?? '';
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/i.exec(target);
  if (absolute) {
    authority = absolute[1] ?? authority;
    target = absolute[2] || '/';
  }
  const q = target.indexOf('?');
  const { host, port } = targetOf(ctx, authority);
  return {
    protocol: 'websocket',
    scheme: ctx.scheme,
    host,
    port,
    method: head.method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers: head.headers,
    body: Buffer.alloc(0),
    httpVersion: '1.1',
  };
}

/** The 101: the recorded headers that still hold (cookies, subprotocol), ours for the handshake. */
function switchingProtocols(x: WebsocketExchange, key: string, fault: string | undefined): Buffer {
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  const ours =
    /^(connection|upgrade|sec-websocket-accept|sec-websocket-extensions|content-length|transfer-encoding|keep-alive)$/i;
  for (const [name, value] of x.response?.headers ?? []) {
    if (!ours.test(name)) lines.push(`${name}: ${value.replace(/[\r\n\0]/g, ' ')}`);
  }
  lines.push('Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(key)}`);
  if (fault) lines.push(`X-Tapwire-Fault: ${fault}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

/** What the client has sent so far, counted in messages (control frames count one each). */
class ClientFrames {
  count = 0;
  closed = false;
  /** The client sent a close frame. */
  sentClose = false;
  error: string | undefined;
  readonly changes = new Changes();
  private readonly parser: FrameParser;
  private opcode = 0;
  private fin = false;

  constructor(socket: Duplex) {
    this.parser = new FrameParser(
      { fromClient: true, allowRsv1: false },
      {
        onFrame: (h: FrameHeader) => {
          this.opcode = h.opcode;
          this.fin = h.fin;
          return false; // only counted: the payloads need not match
        },
        onPayload: () => undefined,
        onFrameEnd: () => {
          if (this.opcode >= 0x8 || this.fin) this.count++;
          if (this.opcode === OPCODE.close) this.sentClose = true;
          this.changes.notify();
        },
      },
    );
    socket.on('data', (chunk: Buffer) => {
      this.parser.execute(chunk);
      if (this.parser.error) {
        this.error = this.parser.error;
        this.changes.notify();
      }
    });
    const gone = () => {
      this.closed = true;
      this.changes.notify();
    };
    socket.on('end', gone);
    socket.on('close', gone);
    // The front door may hand the socket over paused (it stopped reading to sniff).
    socket.resume();
  }
}

async function replaySession(socket: Duplex, x: WebsocketExchange, ctx: ServeContext, opened: number): Promise<void> {
  const client = new ClientFrames(socket);
  const done = () => client.closed || client.error !== undefined;
  let c2sBefore = 0;
  let sentClose = false;
  const messages = x.messages ?? [];
  // The session clock starts at the 101: recorded times are since the exchange began.
  const t0 = x.timings?.ttfbMs ?? 0;
  for (const m of messages) {
    if (m.dir === 'c2s') {
      c2sBefore++;
      continue;
    }
    await client.changes.until(() => client.count >= c2sBefore || done());
    if (done()) break;
    await sleepUntil(opened, recordedLatency(ctx, Math.max(0, m.tMs - t0)));
    if (socket.destroyed) return;
    socket.write(frameOf(m));
    if (m.type === 'close') {
      sentClose = true;
      break;
    }
  }
  if (client.error !== undefined) {
    // RFC 6455 §7.4.1: 1002, protocol error.
    socket.end(closeFrame(1002, client.error.slice(0, 100)));
    return;
  }
  if (!sentClose) {
    // Past the recording: wait for the client's close and answer it, as any server would.
    await client.changes.until(() => client.sentClose || done());
    if (client.sentClose && !client.closed) socket.write(closeFrame(1000, ''));
  } else {
    await client.changes.until(() => client.sentClose || done());
  }
  // The server closes the TCP connection first (RFC 6455 §7.1.1).
  socket.end();
}

function frameOf(m: WebsocketMessage): Buffer {
  if (m.type === 'close')
    return m.code === undefined ? encodeFrame({ opcode: OPCODE.close }) : closeFrame(m.code, m.reason ?? '');
  return encodeFrame({ opcode: OPCODE[m.type], payload: decodeBody(m.data) });
}

function closeFrame(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return encodeFrame({ opcode: OPCODE.close, payload });
}

/** A response of tapwire's own, then the connection ends (no upgrade happened). */
function answer(socket: Duplex, status: number, json: object, extra: HeaderList = []): void {
  const headers: HeaderList = [['Content-Type', 'application/json'], ...extra];
  socket.end(compileOwn(status, headers, JSON.stringify(json)).full);
}
