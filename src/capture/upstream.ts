/**
 * Opening connections to upstreams (the app, or a dependency) and naming their failures as
 * data: the recorder writes the failure kind into the Exchange, the proxy picks 502 or 504.
 */
import net from 'node:net';
import type { ExchangeError } from '../model/exchange.ts';

export interface Target {
  host: string;
  port: number;
}

export function formatTarget(t: Target): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** Parses `host:port` or `[v6]:port`. */
export function parseTarget(text: string, defaultPort?: number): Target | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([^:[\]\s/]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port === undefined || port > 65535) return undefined;
  return { host: m[1] as string, port };
}

/** The app's address from `HOST:PORT` or `https://HOST:PORT` (the app serves TLS). */
export function parseAppAddress(text: string): { target: Target; tls: boolean } | undefined {
  const m = /^(https?):\/\/(.*?)\/?$/.exec(text);
  const target = parseTarget(m ? (m[2] as string) : text);
  return target ? { target, tls: m?.[1] === 'https' } : undefined;
}

/**
 * Starts a connection; writes made before it connects are queued by the socket, so the caller
 * can forward the first request at once. A connect that takes longer than `timeoutMs` fails
 * with ETIMEDOUT.
 */
export function connectUpstream(target: Target, timeoutMs: number): net.Socket {
  const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
  const timer = setTimeout(() => {
    const err = Object.assign(new Error(`connect to ${formatTarget(target)} timed out after ${timeoutMs} ms`), {
      code: 'ETIMEDOUT',
    });
    socket.destroy(err);
  }, timeoutMs);
  timer.unref();
  socket.once('connect', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return socket;
}

/** Classifies a socket error for the record and for the status sent to the client. */
export function classifyError(err: unknown, phase: ExchangeError['phase']): ExchangeError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = (err as Error | undefined)?.message ?? String(err);
  let kind: ExchangeError['kind'];
  switch (code) {
    case 'ECONNREFUSED':
      kind = 'refused';
      break;
    case 'ECONNRESET':
    case 'EPIPE':
      kind = 'reset';
      break;
    case 'ETIMEDOUT':
      kind = 'timeout';
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      kind = 'dns';
      break;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      kind = 'refused';
      break;
    default:
      // Certificate verification and handshake failures of a TLS upstream.
      kind = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_/.test(code) ? 'tls' : 'other';
  }
  const error: ExchangeError = { kind, message };
  if (phase) error.phase = phase;
  return error;
}

/** Status a proxy answers when the upstream failed before a response. */
export function statusForError(error: ExchangeError): number {
  return error.kind === 'timeout' ? 504 : 502;
}
