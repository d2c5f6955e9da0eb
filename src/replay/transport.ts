/**
 * The transport vocabulary shared by the HTTP/1.1 and HTTP/2 clients: their options, and
 * transport failures classified by the same kinds as the Exchange record's `error`, so that a
 * report and a recording read alike.
 */
import type { ReplayedResponse } from './types.ts';
import type { PreparedRequest } from './prepare.ts';

export interface ClientOptions {
  /** Extra CAs trusted for https targets (PEM). */
  ca?: readonly Buffer[];
  /** Accept any certificate from the target. */
  insecure?: boolean;
  /** Per request, from the moment it is handed to the client to the end of the response. */
  timeoutMs: number;
  /** Response bytes kept for the assertions; the rest is read and counted. */
  bodyCap: number;
  /** HTTP/1.1 connections per origin (1 for a virtual user). */
  connections: number;
}

/** Transport failure kinds, as in the Exchange record, so reports and recordings read alike. */
export type ErrorKind = 'refused' | 'reset' | 'timeout' | 'dns' | 'tls' | 'protocol' | 'aborted' | 'other';

export class TransportError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface Client {
  send(req: PreparedRequest, signal?: AbortSignal): Promise<ReplayedResponse>;
  close(): Promise<void>;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL_|HOSTNAME_MISMATCH)/;

/** Maps Node, undici and http2 errors onto the record's kinds. */
export function classify(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' && e.message ? e.message : String(err);
  const kind: ErrorKind =
    code === 'ECONNREFUSED'
      ? 'refused'
      : code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'ERR_HTTP2_STREAM_ERROR'
        ? 'reset'
        : code === 'ETIMEDOUT' ||
            code === 'UND_ERR_HEADERS_TIMEOUT' ||
            code === 'UND_ERR_BODY_TIMEOUT' ||
            code === 'UND_ERR_CONNECT_TIMEOUT'
          ? 'timeout'
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? 'dns'
            : TLS_CODES.test(code)
              ? 'tls'
              : code.startsWith('HPE_') ||
                  code === 'UND_ERR_INFO' ||
                  code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' ||
                  code.startsWith('ERR_HTTP2_')
                ? 'protocol'
                : code === 'UND_ERR_ABORTED' || e?.name === 'AbortError'
                  ? 'aborted'
                  : 'other';
  if (kind === 'other' && e?.cause) return classify(e.cause);
  return new TransportError(kind, code ? `${code}: ${message}` : message);
}
