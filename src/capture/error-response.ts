/**
 * Responses tapwire itself sends to a client: a parse error (400, 431), an upstream failure
 * (502, 504). Plain text a person can read in curl, and an `X-Tapwire-Error` header a program
 * can match on. Always `Connection: close`: after such an error the connection is not reused.
 */

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

export function errorResponse(status: number, code: string, message: string): Buffer {
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
