/** One-line human summaries of exchanges, shared by `tail` and `snapshot show`. */
import type { Exchange } from './exchange.ts';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/** `in  GET http://localhost:3000/users 200 12ms 1.2 KiB` and the like. */
export function summarize(x: Exchange): string {
  const dir = x.direction === 'inbound' ? 'in ' : 'out';
  const tls = x.tls ? ` [tls ${x.tls.mode}${x.tls.sni ? ` ${x.tls.sni}` : ''}]` : '';
  const err = x.error ? ` ! ${x.error.kind}: ${x.error.message}` : '';
  const time = formatDuration(x.durationMs);
  if (x.protocol === 'tcp') {
    const s = x.stream;
    return `${dir} TCP ${x.dst ?? '?'} ↑${formatBytes(s.bytesC2s)} ↓${formatBytes(s.bytesS2c)} ${time}${tls}${err}`;
  }
  if (x.protocol === 'grpc') {
    const g = x.grpc;
    const status = g.status === undefined ? '---' : `grpc-status ${g.status}`;
    const sent = g.messages.filter((m) => m.dir === 'c2s').length;
    return `${dir} gRPC ${x.request.url} ${status} ${time} ${sent}↑ ${g.messages.length - sent}↓ msgs${tls}${err}`;
  }
  const status = x.response ? String(x.response.status) : '---';
  const size = x.response?.body ? ` ${formatBytes(x.response.body.size)}` : '';
  const proto = x.protocol === 'websocket' ? ` (websocket${x.messages ? `, ${x.messages.length} messages` : ''})` : '';
  const h2 = x.request.httpVersion === '2' ? ' h2' : '';
  return `${dir} ${x.request.method} ${x.request.url} ${status} ${time}${size}${h2}${proto}${tls}${err}`;
}
