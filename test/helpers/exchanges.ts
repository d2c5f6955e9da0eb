/** Valid Exchange records for tests: sensible defaults, override what the test is about. */
import type { HttpExchange, TcpExchange } from '../../src/model/exchange.ts';
import { newId } from '../../src/model/ids.ts';

const BASE_MS = Date.parse('2024-05-14T09:21:33.000Z');

/** An outbound GET with a small JSON response; `i` spreads ids, times and paths. */
export function httpExchange(i = 0, overrides: Partial<HttpExchange> = {}): HttpExchange {
  const ms = BASE_MS + i * 1000;
  return {
    v: 1,
    id: newId(ms),
    ts: new Date(ms).toISOString(),
    durationMs: 12.5,
    direction: 'outbound',
    service: 'api.example.com',
    protocol: 'http',
    src: '127.0.0.1:50312',
    dst: 'api.example.com:443',
    request: {
      method: 'GET',
      url: `https://api.example.com/users/${i}?fields=name&fields=email`,
      httpVersion: '1.1',
      headers: [
        ['Host', 'api.example.com'],
        ['Accept', 'application/json'],
        ['Cookie', 'session=abc123; theme=dark'],
      ],
    },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: '1.1',
      headers: [
        ['Content-Type', 'application/json'],
        ['Set-Cookie', 'session=abc123; Path=/; HttpOnly; Secure'],
        ['Set-Cookie', 'seen=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT'],
      ],
      body: {
        encoding: 'utf8',
        data: JSON.stringify({ id: i, name: `user ${i}` }),
        size: JSON.stringify({ id: i, name: `user ${i}` }).length,
        truncated: false,
        contentType: 'application/json',
      },
    },
    timings: { connectMs: 3, ttfbMs: 10 },
    ...overrides,
  };
}

export function tcpExchange(i = 0, overrides: Partial<TcpExchange> = {}): TcpExchange {
  const ms = BASE_MS + i * 1000;
  return {
    v: 1,
    id: newId(ms),
    ts: new Date(ms).toISOString(),
    durationMs: 40,
    direction: 'outbound',
    service: 'db',
    protocol: 'tcp',
    dst: 'db.internal:5432',
    stream: {
      chunks: [
        { dir: 'c2s', tMs: 0, data: { encoding: 'base64', data: 'AAAACATSFi8=', size: 8, truncated: false } },
        { dir: 's2c', tMs: 1.5, data: { encoding: 'utf8', data: 'N', size: 1, truncated: false } },
      ],
      bytesC2s: 8,
      bytesS2c: 1,
      truncated: false,
    },
    ...overrides,
  };
}
