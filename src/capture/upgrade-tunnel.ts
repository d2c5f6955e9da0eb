/**
 * What an HTTP/1 connection becomes after the server agreed to leave HTTP (a 101 to an Upgrade,
 * a 2xx to a CONNECT sent to the app). The Upgrade token of the 101 picks a handler from
 * `handlers`; anything without one is piped as it is and recorded at once, as the handshake.
 *
 * Every handler keeps the same promises: the server bytes that came with the 101 head reach the
 * client first, the client bytes held while waiting for the answer reach the server, bytes flow
 * both ways unchanged with backpressure (stream.pipe), FINs pass through, and an error or close
 * on one side destroys the other. A tap only ever reads copies: capture never breaks the app.
 */
import type net from 'node:net';
import { headerValue } from '../model/body.ts';
import type { ExchangeError } from '../model/exchange.ts';
import { WebsocketCapture } from '../protocols/websocket/index.ts';
import type { ExchangeContext, InFlight } from './http1-exchange.ts';
import type { SessionDeps } from './http1-session.ts';
import { startHttp2Tap } from './http2-tap.ts';
import type { Packer, RawWs, RawWsMessage } from './raw-record.ts';
import { classifyError } from './upstream.ts';

export interface UpgradeTunnel {
  client: net.Socket;
  upstream: net.Socket;
  /** The upgrade request and the response that opened the tunnel (not yet recorded). */
  flight: InFlight;
  exchange: ExchangeContext;
  /** Server bytes read after the 101 head: the client gets them before anything else. */
  serverRest: Buffer;
  /** Client bytes read after the request, held until the server's answer. */
  clientHeld: Buffer | undefined;
}

export type TunnelHandler = (tunnel: UpgradeTunnel, deps: SessionDeps) => void;

/** Handlers by Upgrade token (lower case). Adding a protocol is one line here. */
const handlers: Record<string, TunnelHandler> = {
  websocket: runWebsocketTap,
  h2c: runH2cTap,
};

/** Longest wait, after the close, for compressed messages still inflating before recording. */
const SETTLE_LIMIT_MS = 2000;

export function openUpgradeTunnel(tunnel: UpgradeTunnel, deps: SessionDeps): void {
  const res = tunnel.flight.resHead;
  const token = res?.status === 101 ? (headerValue(res.headers, 'upgrade') ?? '').trim().toLowerCase() : '';
  const handler = Object.hasOwn(handlers, token) ? handlers[token] : undefined;
  (handler ?? runPlainTunnel)(tunnel, deps);
}

/**
 * h2c Upgrade (RFC 7540 §3.2): both sides speak HTTP/2 after the 101, and the upgrade request
 * is stream 1, answered in HTTP/2. The HTTP/2 tap records it (with the request as sent in
 * HTTP/1.1) and every later stream; the 101 handshake itself is not recorded on its own.
 */
function runH2cTap(tunnel: UpgradeTunnel, deps: SessionDeps): void {
  const { flight } = tunnel;
  startHttp2Tap(
    tunnel.client,
    tunnel.upstream,
    {
      target: flight.target,
      exchange: tunnel.exchange,
      serverFirst: tunnel.serverRest,
      clientFirst: tunnel.clientHeld,
      upgrade: {
        method: flight.head.method,
        url: flight.url,
        headers: flight.head.headers,
        httpVersion: flight.head.version,
        body: flight.reqBody,
        startWall: flight.startWall,
        startMono: flight.startMono,
      },
    },
    deps,
  );
}

/** Any other upgrade (or a CONNECT to the app): the handshake is all that is recorded. */
function runPlainTunnel(tunnel: UpgradeTunnel, deps: SessionDeps): void {
  tunnel.flight.finish();
  deps.recorder.record(tunnel.flight);
  pipeBoth(tunnel);
}

function pipeBoth({ client, upstream, serverRest, clientHeld }: UpgradeTunnel): void {
  if (serverRest.length > 0) client.write(serverRest);
  if (clientHeld && clientHeld.length > 0) upstream.write(clientHeld);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  upstream.resume();
}

/**
 * A WebSocket session: piped like any tunnel, while copies of both directions go through the
 * frame parsers. One exchange is recorded when the client connection closes: the handshake,
 * every message, the whole session's duration, and the first thing that went wrong (a reset,
 * or framing the parsers could not follow: the bytes still flowed, the messages stop there).
 */
function runWebsocketTap(tunnel: UpgradeTunnel, deps: SessionDeps): void {
  const { client, upstream, flight } = tunnel;
  const capture = new WebsocketCapture({
    cap: tunnel.exchange.bodyCap,
    extensions: flight.resHead ? headerValue(flight.resHead.headers, 'sec-websocket-extensions') : undefined,
    now: () => performance.now() - flight.startMono,
  });
  flight.ws = { pack: (packer) => packMessages(capture, packer), heldBytes: 0 };
  let error: ExchangeError | undefined;
  const feed = (dir: 'c2s' | 's2c', bytes: Buffer) => {
    capture.feed(dir, bytes);
    if (capture.error && !error) error = { kind: 'protocol', message: `invalid WebSocket stream: ${capture.error}` };
  };

  let clientEnded = false;
  client.on('data', (d: Buffer) => feed('c2s', d));
  upstream.on('data', (d: Buffer) => feed('s2c', d));
  upstream.on('error', (err) => (error ??= classifyError(err, 'response')));
  client.once('end', () => (clientEnded = true));
  client.on('error', (err) => {
    // A client that resets after its own FIN closed without reading the rest: a normal end.
    const code = (err as NodeJS.ErrnoException).code;
    if (!(clientEnded && (code === 'ECONNRESET' || code === 'EPIPE')))
      error ??= { ...classifyError(err, 'request'), kind: 'aborted' };
  });
  let closed = false;
  client.on('close', () => {
    if (closed) return;
    closed = true;
    flight.finish(error);
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      clearTimeout(timer);
      // Inflating may have failed after the close.
      if (capture.error) flight.error ??= { kind: 'protocol', message: `invalid WebSocket stream: ${capture.error}` };
      // Frozen from here on: the recorder counts the same bytes in as out.
      if (flight.ws) flight.ws.heldBytes = capture.keptBytes;
      deps.recorder.record(flight);
    };
    const timer = setTimeout(() => capture.abandon(), SETTLE_LIMIT_MS);
    timer.unref();
    capture.end(record);
  });

  if (tunnel.serverRest.length > 0) feed('s2c', tunnel.serverRest);
  if (tunnel.clientHeld && tunnel.clientHeld.length > 0) feed('c2s', tunnel.clientHeld);
  pipeBoth(tunnel);
}

/** The messages as slices of the batch's bytes; the capture worker encodes them. */
function packMessages(capture: WebsocketCapture, packer: Packer): RawWs {
  const messages = capture.messages.map((m) => {
    const raw: RawWsMessage = {
      dir: m.dir,
      tMs: m.tMs,
      type: m.type,
      data: packer.add(m.payload.bytes()),
      size: m.payload.size,
    };
    if (m.code !== undefined) raw.code = m.code;
    if (m.reason !== undefined) raw.reason = m.reason;
    return raw;
  });
  return { messages, truncated: capture.truncated };
}
