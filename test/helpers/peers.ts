/** Real peers for end-to-end tests: origin servers on port 0 and command-line clients. */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

export interface Origin {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1:0 running `handler`; close() also ends keep-alive sockets. */
export async function startOrigin(handler: http.RequestListener): Promise<Origin> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A raw TCP server; `onSocket` gets each connection. */
export async function startTcpServer(onSocket: (s: net.Socket) => void): Promise<Origin> {
  const server = net.createServer(onSocket);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`) and returns its output. */
export function run(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 20_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** A raw client: connects, writes `data`, collects everything until the server closes (or `untilBytes`). */
export function rawExchange(
  port: number,
  data: string | Buffer,
  opts: { host?: string; endAfterWrite?: boolean; untilIncludes?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, opts.host ?? '127.0.0.1');
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
      if (opts.untilIncludes && got.includes(opts.untilIncludes)) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.write(data);
    if (opts.endAfterWrite) socket.end();
  });
}

/**
 * A server-first TCP peer like SMTP: a banner before the client says anything, `HELO x` answered
 * `250 hello x`, `QUIT` answered `221 bye` and closed, anything else `500 what?`.
 */
export function startSmtpLikeServer(): Promise<Origin> {
  return startTcpServer((s) => {
    s.on('error', () => undefined);
    s.write('220 tapwire.test ESMTP ready\r\n');
    let line = '';
    s.on('data', (d: Buffer) => {
      line += d.toString('latin1');
      for (let at = line.indexOf('\r\n'); at >= 0; at = line.indexOf('\r\n')) {
        const cmd = line.slice(0, at);
        line = line.slice(at + 2);
        if (cmd.startsWith('HELO ')) s.write(`250 hello ${cmd.slice(5)}\r\n`);
        else if (cmd === 'QUIT') s.end('221 bye\r\n');
        else s.write('500 what?\r\n');
      }
    });
  });
}
