/**
 * Peers for end-to-end tests of the outbound (forward) port: an echoing origin, curl with a
 * clean environment, a minimal SOCKS5 client and CONNECT client over raw sockets, system tool
 * lookups with the skip-or-fail rule, and record lookups.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import type { Exchange, HeaderList, HttpExchange, TcpExchange } from '../../src/model/exchange.ts';
import type { RecordConfig } from '../../src/config/schema.ts';
import { run, startOrigin, startTcpServer, type Origin, type RunResult } from './peers.ts';
import { startTestRecording, type TestRecording } from './recording.ts';

/** What the echo origin answers: everything it saw of the request. */
export interface Echo {
  origin: string;
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
  bodyLength: number;
  remotePort: number;
}

/**
 * An origin that answers every request with JSON describing it, with response headers in a
 * fixed, non-alphabetical order (and a repeated Set-Cookie) to check that order is kept.
 */
export function startEchoOrigin(name = 'origin'): Promise<Origin> {
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const echo: Echo = {
        origin: name,
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        body: body.toString('utf8'),
        bodyLength: body.length,
        remotePort: req.socket.remotePort ?? 0,
      };
      res.setHeader('X-Zulu', 'last-letter-first');
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('X-Alpha', 'first-letter-last');
      res.end(JSON.stringify(echo));
    });
  };
  return startOrigin(handler);
}

/** Pairs of a Node rawHeaders list. */
export function pairs(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

/** Header lines of the last response head in curl's `-D -` output, in order. */
export function curlResponseHeaders(dump: string): { status: number; headers: HeaderList } {
  const heads = dump.split('\r\n\r\n').filter((h) => /^HTTP\/[\d.]+ \d{3}/.test(h));
  const last = heads[heads.length - 1] ?? '';
  const lines = last.split('\r\n');
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: HeaderList = lines.slice(1).map((l) => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon), l.slice(colon + 1).trim()];
  });
  return { status, headers };
}

/** An environment without the machine's proxy variables, so only the flags given count. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...extra };
}

/** curl with ~/.curlrc ignored, errors shown, bounded, in a clean environment. */
export function curl(args: string[]): Promise<RunResult> {
  return run('curl', ['-q', '-sS', '--max-time', '10', ...args], { env: cleanEnv(), timeoutMs: 15_000 });
}

/**
 * A system tool the test needs: when it is missing the test is skipped with the reason, unless
 * TAPWIRE_REQUIRE_SYSTEM_TESTS=1, where a missing tool fails the test instead.
 */
export function needTool(file: string, versionArgs: string[] = ['--version']): string | false {
  try {
    execFileSync(file, versionArgs, { stdio: 'ignore' });
    return false;
  } catch {
    const reason = `${file} is not installed`;
    if (process.env.TAPWIRE_REQUIRE_SYSTEM_TESTS === '1')
      throw new Error(`${reason} and TAPWIRE_REQUIRE_SYSTEM_TESTS=1`);
    return reason;
  }
}

/** /usr/bin/python3 when it exists (the pyenv shim may not run everywhere), else python3. */
export function python3(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Reads from a socket until `n` bytes arrived (or it closed); extra bytes are kept for the next read. */
export class SocketReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** Resolves with exactly `n` bytes, or fewer when the socket closed first. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && !this.ended) await new Promise<void>((r) => (this.waiter = r));
    this.waiter = undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Resolves with everything up to and including `marker`, or what is left when the socket closed. */
  async readUntil(marker: string): Promise<string> {
    for (;;) {
      const at = this.buf.indexOf(marker, 0, 'latin1');
      if (at >= 0) {
        const out = this.buf.subarray(0, at + marker.length);
        this.buf = this.buf.subarray(out.length);
        return out.toString('latin1');
      }
      if (this.ended) {
        const out = this.buf;
        this.buf = Buffer.alloc(0);
        return out.toString('latin1');
      }
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }

  /** Resolves with everything the peer sends until it closes. */
  async readToEnd(): Promise<Buffer> {
    while (!this.ended) await new Promise<void>((r) => (this.waiter = r));
    this.waiter = undefined;
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }
}

export function connectTo(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Opens a CONNECT tunnel through the proxy; resolves with the socket and the proxy's answer head. */
export async function connectTunnel(
  proxyPort: number,
  authority: string,
): Promise<{ socket: net.Socket; reader: SocketReader; head: string }> {
  const socket = await connectTo(proxyPort);
  const reader = new SocketReader(socket);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  const head = await reader.readUntil('\r\n\r\n');
  return { socket, reader, head };
}

/**
 * A SOCKS5 CONNECT without authentication (RFC 1928) to an IPv4 address or a domain;
 * resolves with the reply code (0 = succeeded) and the socket, ready for tunnel data.
 */
export async function socks5Connect(
  proxyPort: number,
  host: string,
  port: number,
): Promise<{ socket: net.Socket; reader: SocketReader; rep: number }> {
  const socket = await connectTo(proxyPort);
  const reader = new SocketReader(socket);
  socket.write(Buffer.from([0x05, 0x01, 0x00]));
  const method = await reader.read(2);
  if (method[0] !== 0x05 || method[1] !== 0x00) throw new Error(`SOCKS5 method selection ${method.toString('hex')}`);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  const ipv4 = net.isIPv4(host) ? Buffer.from(host.split('.').map(Number)) : undefined;
  const address = ipv4
    ? Buffer.concat([Buffer.from([0x01]), ipv4])
    : Buffer.concat([Buffer.from([0x03, host.length]), Buffer.from(host, 'latin1')]);
  socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), address, portBytes]));
  const head = await reader.read(4);
  if (head.length < 4) throw new Error(`SOCKS5 reply cut short: ${head.toString('hex')}`);
  const atyp = head[3];
  const rest = atyp === 0x01 ? 4 + 2 : atyp === 0x04 ? 16 + 2 : ((await reader.read(1))[0] ?? 0) + 2;
  await reader.read(rest);
  return { socket, reader, rep: head[1] ?? -1 };
}

/** Waits for a socket to close. */
export function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed && socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

export function httpExchanges(xs: Exchange[]): HttpExchange[] {
  return xs.filter((x): x is HttpExchange => x.protocol === 'http');
}

export function tcpExchanges(xs: Exchange[]): TcpExchange[] {
  return xs.filter((x): x is TcpExchange => x.protocol === 'tcp');
}

/** The only HTTP exchange whose URL ends with `suffix`; fails when there is not exactly one. */
export function onlyHttp(xs: Exchange[], suffix: string): HttpExchange {
  const found = httpExchanges(xs).filter((x) => x.request.url.endsWith(suffix));
  if (found.length !== 1) {
    throw new Error(
      `expected one exchange for …${suffix}, found ${found.length} among ${xs.map((x) => (x.protocol === 'tcp' ? `tcp ${x.dst}` : `${x.protocol} ${x.request.url}`)).join(', ')}`,
    );
  }
  return found[0] as HttpExchange;
}

/** Headers without those meant for the proxy (which a forward proxy drops before the origin). */
export function withoutProxyHeaders(headers: HeaderList): HeaderList {
  return headers.filter(([n]) => !/^proxy-(connection|authorization)$/i.test(n));
}

/** A TCP conversation as runs of same-direction bytes (TCP may split or merge reads). */
export function conversation(x: TcpExchange): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const c of x.stream.chunks) {
    const data = c.data.encoding === 'utf8' ? c.data.data : Buffer.from(c.data.data, 'base64').toString('latin1');
    const last = out[out.length - 1];
    if (last && last[0] === c.dir) last[1] += data;
    else out.push([c.dir, data]);
  }
  return out;
}

/** Runs `fn` against a fresh forward-proxy recording and always cleans it up. */
export async function withRecording(
  fn: (rec: TestRecording) => Promise<void>,
  overrides: Partial<RecordConfig> = {},
): Promise<void> {
  const rec = await startTestRecording({ proxyType: 'forward', ...overrides });
  try {
    await fn(rec);
  } finally {
    await rec.cleanup();
  }
}

/** A TCP server that never speaks; `gone` resolves when its first connection closes. */
export async function startQuietServer(): Promise<Origin & { gone: Promise<void> }> {
  let closedOnce!: () => void;
  const gone = new Promise<void>((resolve) => (closedOnce = resolve));
  const server = await startTcpServer((s) => {
    s.on('error', () => undefined);
    s.on('close', () => closedOnce());
  });
  return { ...server, gone };
}
