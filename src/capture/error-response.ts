/**
 * Responses tapwire itself sends to a client: a parse error (400, 431), an upstream failure
 * (502, 504). Plain text a person can read in curl, and an `X-Tapwire-Error` header a program
 * can match on. Always `Connection: close`: after such an error the connection is not reused.
 */
import type { ExchangeError } from '../model/exchange.ts';
import type { Http1ErrorCode } from '../protocols/http1/head.ts';

/** Every code tapwire puts in X-Tapwire-Error (docs/errors.md documents each one). */
export const proxyErrorCodes = [
  'TW_UPSTREAM_REFUSED',
  'TW_UPSTREAM_RESET',
  'TW_UPSTREAM_TIMEOUT',
  'TW_UPSTREAM_DNS',
  'TW_UPSTREAM_PROTOCOL',
  'TW_UPSTREAM_OTHER',
  'TW_UPSTREAM_TLS',
  'TW_HTTP_BAD_REQUEST_LINE',
  'TW_HTTP_BAD_VERSION',
  'TW_HTTP_BAD_HEADER',
  'TW_HTTP_HEAD_TOO_LARGE',
  'TW_HTTP_BAD_CONTENT_LENGTH',
  'TW_HTTP_BAD_TRANSFER_ENCODING',
  'TW_HTTP_BAD_CHUNK',
  'TW_HTTP_TRUNCATED',
  'TW_HTTP_BAD_STATUS_LINE',
  'TW_BAD_CONNECT',
  'TW_NOT_A_PROXY_REQUEST',
  'TW_SCHEME_UNSUPPORTED',
  'TW_PLAINTEXT_ON_TLS_PORT',
  'TW_MOCK_PROTOCOL_UNSUPPORTED',
  'TW_MOCK_INTERNAL',
] as const;
export type ProxyErrorCode = (typeof proxyErrorCodes)[number];

/** The code for an upstream failure of a given kind. */
export function upstreamErrorCode(kind: ExchangeError['kind']): ProxyErrorCode {
  switch (kind) {
    case 'refused':
      return 'TW_UPSTREAM_REFUSED';
    case 'reset':
    case 'aborted':
      return 'TW_UPSTREAM_RESET';
    case 'timeout':
      return 'TW_UPSTREAM_TIMEOUT';
    case 'dns':
      return 'TW_UPSTREAM_DNS';
    case 'protocol':
      return 'TW_UPSTREAM_PROTOCOL';
    case 'tls':
      return 'TW_UPSTREAM_TLS';
    default:
      return 'TW_UPSTREAM_OTHER';
  }
}

/** The code for a request the HTTP/1 parser rejected. */
export function parseErrorCode(code: Http1ErrorCode): ProxyErrorCode {
  return `TW_HTTP_${code.toUpperCase().replace(/-/g, '_')}` as ProxyErrorCode;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

export function errorResponse(status: number, code: ProxyErrorCode, message: string): Buffer {
  const body = `tapwire: ${message}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Tapwire-Error: ${code}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
