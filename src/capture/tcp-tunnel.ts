/**
 * A raw TCP conversation between a client and an upstream: piped both ways with backpressure
 * (stream.pipe), and recorded as one `tcp` Exchange when both sides are done. Chunks keep their
 * order and timing; each direction keeps at most `tcpCap` bytes. A TLS tunnel passed through
 * untouched is recorded the same way with byte counts and no data (ciphertext is noise).
 */
import type net from 'node:net';
import { encodeBody } from '../model/body.ts';
import type { ExchangeError, TcpChunk, TcpExchange, TlsInfo } from '../model/exchange.ts';
import { newId } from '../model/ids.ts';
import type { ExchangeContext } from './http1-exchange.ts';
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

export function runTcpTunnel(client: net.Socket, upstream: net.Socket, opts: TcpTunnelOptions, deps: SessionDeps): void {
  const startWall = Date.now();
  const startMono = performance.now();
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
    deps.recorder.record((): TcpExchange => {
      const x: TcpExchange = {
        v: 1,
        id: newId(startWall),
        ts: new Date(startWall).toISOString(),
        durationMs: Math.round(durationMs * 1000) / 1000,
        direction,
        service: opts.exchange.service,
        protocol: 'tcp',
        src: `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`,
        dst: formatTarget(opts.target),
        stream: {
          chunks: chunks.map((c) => ({ dir: c.dir, tMs: Math.round(c.tMs * 1000) / 1000, data: encodeBody(c.raw) })),
          bytesC2s: total.c2s,
          bytesS2c: total.s2c,
          truncated,
        },
      };
      if (opts.tls) x.tls = opts.tls;
      if (error) x.error = error;
      if (opts.exchange.tags) x.tags = opts.exchange.tags;
      return x;
    });
  };

  let closed = 0;
  const onClose = () => {
    if (++closed === 2) finish();
  };
  client.on('data', (d: Buffer) => note('c2s', d));
  upstream.on('data', (d: Buffer) => note('s2c', d));
  upstream.on('error', (err) => {
    error ??= classifyError(err, 'response');
    client.destroy();
  });
  client.on('error', (err) => {
    error ??= { ...classifyError(err, 'request'), kind: 'aborted' };
    upstream.destroy();
  });
  client.on('close', onClose);
  upstream.on('close', onClose);
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
