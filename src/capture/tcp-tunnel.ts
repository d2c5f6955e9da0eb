/**
 * A raw TCP conversation between a client and an upstream: piped both ways with backpressure
 * (stream.pipe), and recorded as one `tcp` Exchange when both sides are done. Chunks keep their
 * order and timing; each direction keeps at most `tcpCap` bytes. A TLS tunnel passed through
 * untouched is recorded the same way with byte counts and no data (ciphertext is noise).
 */
import type net from 'node:net';
import { encodeBody } from '../model/body.ts';
import type { ExchangeError, TcpChunk, TcpExchange, TcpStream, TlsInfo } from '../model/exchange.ts';
import { newId } from '../model/ids.ts';
import { roundMs, type ExchangeContext } from './http1-exchange.ts';
import type { SessionDeps } from './http1-session.ts';
import { classifyError, formatTarget, type Target } from './upstream.ts';

export interface TcpTunnelOptions {
  target: Target;
  exchange: ExchangeContext;
  tcpCap: number;
  /** Client bytes read before the tunnel started (sniffed), sent first. */
  clientFirst?: Buffer;
  /** Server bytes read while sniffing (a server-first protocol), already sent to the client. */
  serverFirst?: Buffer;
  /** Keep the bytes (false for TLS passthrough: sizes and timing only). */
  keepData: boolean;
  tls?: TlsInfo;
}

export function runTcpTunnel(
  client: net.Socket,
  upstream: net.Socket,
  opts: TcpTunnelOptions,
  deps: SessionDeps,
): void {
  const startWall = Date.now();
  const startMono = performance.now();
  // Read now: once the socket is closed (when the record is built) Node no longer knows the peer.
  const src = `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`;
  const chunks: Array<{ dir: TcpChunk['dir']; tMs: number; raw: Buffer }> = [];
  const kept = { c2s: 0, s2c: 0 };
  const total = { c2s: 0, s2c: 0 };
  let truncated = false;
  let error: ExchangeError | undefined;
  let recorded = false;
  const direction = opts.exchange.direction;
  const meter = {
    c2s: deps.metrics.bytes.labels({ direction, flow: 'c2s' }),
    s2c: deps.metrics.bytes.labels({ direction, flow: 's2c' }),
  };

  const note = (dir: 'c2s' | 's2c', data: Buffer) => {
    total[dir] += data.length;
    meter[dir].inc(data.length);
    if (!opts.keepData) return;
    const room = opts.tcpCap - kept[dir];
    if (room <= 0) {
      truncated = true;
      return;
    }
    const part = data.length <= room ? data : data.subarray(0, room);
    if (part.length < data.length) truncated = true;
    kept[dir] += part.length;
    // Copy now; encode later, in the recorder's drain.
    chunks.push({ dir, tMs: performance.now() - startMono, raw: Buffer.from(part) });
  };

  const finish = () => {
    if (recorded) return;
    recorded = true;
    const durationMs = performance.now() - startMono;
    deps.recorder.record(() =>
      tcpExchange({
        startWall,
        durationMs,
        exchange: opts.exchange,
        src,
        dst: formatTarget(opts.target),
        stream: {
          chunks: chunks.map((c) => ({ dir: c.dir, tMs: roundMs(c.tMs), data: encodeBody(c.raw) })),
          bytesC2s: total.c2s,
          bytesS2c: total.s2c,
          truncated,
        },
        tls: opts.tls,
        error,
      }),
    );
  };

  let clientEnded = false;
  client.on('data', (d: Buffer) => note('c2s', d));
  upstream.on('data', (d: Buffer) => note('s2c', d));
  upstream.on('error', (err) => {
    error ??= classifyError(err, 'response');
    client.destroy();
  });
  client.once('end', () => (clientEnded = true));
  client.on('error', (err) => {
    // After its FIN, a client that resets has closed without reading what the server still
    // sent (typically the TLS close_notify answering its own): the conversation ended normally.
    const code = (err as NodeJS.ErrnoException).code;
    if (!(clientEnded && (code === 'ECONNRESET' || code === 'EPIPE')))
      error ??= { ...classifyError(err, 'request'), kind: 'aborted' };
    upstream.destroy();
  });
  // The conversation is over when the client is gone: nothing can reach it any more, so the
  // upstream goes too. Recording right here (not on the upstream's later close) means a
  // listener that stops once its client sockets are closed never loses the record.
  client.on('close', () => {
    upstream.destroy();
    finish();
  });
  if (client.closed) {
    // The client left before the tunnel was told apart (see tunnel.ts): record it now, as its
    // close event has been and gone.
    upstream.destroy();
    finish();
  }
  if (opts.serverFirst && opts.serverFirst.length > 0) note('s2c', opts.serverFirst);
  if (opts.clientFirst && opts.clientFirst.length > 0) {
    note('c2s', opts.clientFirst);
    upstream.write(opts.clientFirst);
  }
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  upstream.resume();
}

export interface TcpRecordParts {
  startWall: number;
  durationMs: number;
  exchange: ExchangeContext;
  src: string;
  dst: string;
  stream: TcpStream;
  tls?: TlsInfo | undefined;
  error?: ExchangeError | undefined;
}

/** The `tcp` Exchange of a tunnel (also of one whose upstream never answered). */
export function tcpExchange(p: TcpRecordParts): TcpExchange {
  const x: TcpExchange = {
    v: 1,
    id: newId(p.startWall),
    ts: new Date(p.startWall).toISOString(),
    durationMs: roundMs(p.durationMs),
    direction: p.exchange.direction,
    service: p.exchange.service,
    protocol: 'tcp',
    src: p.src,
    dst: p.dst,
    stream: p.stream,
  };
  if (p.tls) x.tls = p.tls;
  if (p.error) x.error = p.error;
  if (p.exchange.tags) x.tags = p.exchange.tags;
  return x;
}
