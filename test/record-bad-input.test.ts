/**
 * End to end: failures and garbage on the outbound port. Upstreams that refuse, time out or
 * break mid-response are answered (502/504, a SOCKS error code, or a cut connection) and
 * recorded with the error as data; bytes that are not a proxy protocol are answered with 400
 * or a close, and the port keeps serving real clients.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeBody } from '../src/model/body.ts';
import {
  closed,
  connectTo,
  connectTunnel,
  curl,
  deadPort,
  httpExchanges,
  needTool,
  onlyHttp,
  python3,
  SocketReader,
  socks5Connect,
  startEchoOrigin,
  tcpExchanges,
  type Echo,
  withRecording,
} from './helpers/forward.ts';
import { rawExchange, startTcpServer, type Origin } from './helpers/peers.ts';

const noCurl = needTool('curl');
const noPython = needTool(python3(), ['-c', 'import socket']);

/** The header value of a raw HTTP response head. */
function header(response: string, name: string): string | undefined {
  const head = response.slice(0, response.indexOf('\r\n\r\n'));
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (line.slice(0, colon).toLowerCase() === name.toLowerCase()) return line.slice(colon + 1).trim();
  }
  return undefined;
}

describe('record: outbound failures and garbage', { skip: noCurl }, () => {
  let origin: Origin;

  before(async () => {
    origin = await startEchoOrigin();
  });

  after(async () => {
    await origin.close();
  });

  it('refused upstream, absolute-form: 502 with X-Tapwire-Error, recorded with error.kind refused', async () => {
    await withRecording(async (rec) => {
      const port = await deadPort();
      const res = await curl(['-D', '-', '-x', rec.outProxy, `http://127.0.0.1:${port}/nobody/home`]);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
      assert.equal(header(res.stdout, 'X-Tapwire-Error'), 'TW_UPSTREAM_REFUSED');
      assert.match(res.stdout, new RegExp(`tapwire: 127\\.0\\.0\\.1:${port}: `));

      const xs = await rec.stopAndRead();
      assert.equal(xs.length, 1);
      const x = onlyHttp(xs, '/nobody/home');
      assert.equal(x.direction, 'outbound');
      assert.equal(x.request.method, 'GET');
      assert.equal(x.request.url, `http://127.0.0.1:${port}/nobody/home`);
      assert.equal(x.dst, `127.0.0.1:${port}`);
      assert.equal(x.response, undefined, 'tapwire’s own 502 is not the upstream’s response');
      assert.equal(x.error?.kind, 'refused');
      assert.equal(x.error?.phase, 'connect');
    });
  });

  it('refused upstream, CONNECT: 502 to the CONNECT, recorded as a tcp exchange with the error', async () => {
    await withRecording(async (rec) => {
      const port = await deadPort();
      const res = await curl(['-p', '-x', rec.outProxy, '-w', '%{http_connect}', `http://127.0.0.1:${port}/x`]);
      assert.notEqual(res.code, 0, 'curl reports the failed tunnel');
      assert.equal(res.stdout, '502');
      const raw = await connectTunnel(rec.outPort, `127.0.0.1:${port}`);
      assert.match(raw.head, /^HTTP\/1\.1 502 /);
      assert.equal(header(raw.head, 'X-Tapwire-Error'), 'TW_UPSTREAM_REFUSED');
      await closed(raw.socket);

      const xs = tcpExchanges(await rec.stopAndRead());
      assert.equal(xs.length, 2);
      for (const x of xs) {
        assert.equal(x.dst, `127.0.0.1:${port}`);
        assert.match(x.src ?? '', /^127\.0\.0\.1:\d+$/);
        assert.equal(x.tags?.['tunnel'], 'connect');
        assert.equal(x.error?.kind, 'refused');
        assert.deepEqual(x.stream, { chunks: [], bytesC2s: 0, bytesS2c: 0, truncated: false });
      }
    });
  });

  it('refused upstream, SOCKS5: reply code 5 (connection refused), curl fails, recorded', async () => {
    await withRecording(async (rec) => {
      const port = await deadPort();
      const raw = await socks5Connect(rec.outPort, '127.0.0.1', port);
      assert.equal(raw.rep, 0x05);
      await closed(raw.socket);
      const res = await curl(['--proxy', `socks5://127.0.0.1:${rec.outPort}`, `http://127.0.0.1:${port}/x`]);
      assert.equal(res.code, 97, `CURLE_PROXY: ${res.stderr}`);
      // curl 7.88 prints the reply code, later versions its meaning.
      assert.match(res.stderr, /\(5\)|refused/i);

      const xs = tcpExchanges(await rec.stopAndRead());
      assert.equal(xs.length, 2);
      for (const x of xs) {
        assert.equal(x.dst, `127.0.0.1:${port}`);
        assert.match(x.src ?? '', /^127\.0\.0\.1:\d+$/);
        assert.equal(x.tags?.['tunnel'], 'socks5');
        assert.equal(x.error?.kind, 'refused');
      }
    });
  });

  describe('an upstream that breaks in the middle of a response', () => {
    let breaker: Origin;
    /** The upstream side of the last connection, for the test to reset. */
    let lastUpstream: net.Socket | undefined;
    const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n';
    const HALF = 'x'.repeat(50);

    before(async () => {
      // Answers with a head and half the body it announced, then closes (FIN) on /fin, or
      // waits for the test to reset the connection (RST) on /rst.
      breaker = await startTcpServer((s) => {
        s.on('error', () => undefined);
        let got = '';
        s.on('data', (d) => {
          got += d.toString('latin1');
          if (!got.includes('\r\n\r\n')) return;
          s.write(HEAD + HALF);
          if (got.startsWith('GET /fin')) s.destroy();
          else lastUpstream = s;
        });
      });
    });

    after(async () => {
      await breaker.close();
    });

    it('closed after half the body: curl sees a short transfer, the record keeps the half and the error', async () => {
      await withRecording(async (rec) => {
        for (const [flags, tunnel] of [
          [['-x', rec.outProxy], undefined],
          [['--proxy', `socks5://127.0.0.1:${rec.outPort}`], 'socks5'],
        ] as const) {
          const res = await curl([
            '-D',
            '-',
            ...flags,
            `http://127.0.0.1:${breaker.port}/fin?via=${tunnel ?? 'proxy'}`,
          ]);
          assert.equal(res.code, 18, `curl: partial file (${res.stderr})`);
          assert.match(res.stdout, /^HTTP\/1\.1 200 OK\r\n/);
          assert.ok(res.stdout.endsWith(`\r\n\r\n${HALF}`), 'the client got the half that was sent');
        }

        const xs = await rec.stopAndRead();
        assert.equal(xs.length, 2);
        for (const tunnel of [undefined, 'socks5']) {
          const x = onlyHttp(xs, `/fin?via=${tunnel ?? 'proxy'}`);
          assert.equal(x.tags?.['tunnel'], tunnel);
          assert.equal(x.response?.status, 200);
          assert.equal(decodeBody(x.response?.body).toString(), HALF);
          assert.equal(x.response?.body?.size, 50);
          assert.equal(x.error?.kind, 'reset');
          assert.equal(x.error?.phase, 'response');
        }
      });
    });

    it('reset (RST) after half the body: the client connection is cut, the record has the error', async () => {
      await withRecording(async (rec) => {
        const socket = await connectTo(rec.outPort);
        const reader = new SocketReader(socket);
        socket.write(`GET http://127.0.0.1:${breaker.port}/rst HTTP/1.1\r\nHost: 127.0.0.1:${breaker.port}\r\n\r\n`);
        const head = await reader.readUntil('\r\n\r\n');
        assert.equal(head, HEAD);
        assert.equal((await reader.read(HALF.length)).toString(), HALF);
        assert.ok(lastUpstream, 'the upstream got the request');
        lastUpstream.resetAndDestroy();
        assert.equal(
          (await reader.readToEnd()).length,
          0,
          'nothing more: the connection is cut short of Content-Length',
        );

        const xs = await rec.stopAndRead();
        const x = onlyHttp(xs, '/rst');
        assert.equal(x.response?.status, 200);
        assert.equal(x.response?.body?.size, 50);
        assert.equal(x.error?.kind, 'reset');
        assert.equal(x.error?.phase, 'response');
      });
    });
  });

  describe('an upstream that does not accept in time', { skip: noPython }, () => {
    // A listening socket that never accepts, with a backlog of 0 that one connection fills:
    // the kernel then drops further SYNs, so a connect hangs until tapwire's connect timeout.
    let child: ReturnType<typeof spawn>;
    let port: number;
    let filler: net.Socket;

    before(async () => {
      const script = [
        'import socket, sys',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(0)',
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
      ].join('\n');
      child = spawn(python3(), ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(Number(out.trim()));
        });
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`python exited with ${code}`)));
      });
      filler = await connectTo(port);
    });

    after(async () => {
      filler.destroy();
      child.stdin?.end();
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    });

    it('absolute-form: 504 with TW_UPSTREAM_TIMEOUT, recorded with error.kind timeout', async () => {
      await withRecording(
        async (rec) => {
          const res = await curl(['-D', '-', '-x', rec.outProxy, `http://127.0.0.1:${port}/slow`]);
          assert.equal(res.code, 0, res.stderr);
          assert.match(res.stdout, /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
          assert.equal(header(res.stdout, 'X-Tapwire-Error'), 'TW_UPSTREAM_TIMEOUT');
          const raw = await socks5Connect(rec.outPort, '127.0.0.1', port);
          assert.equal(raw.rep, 0x06, 'SOCKS5 TTL expired, the code used for timeouts');
          await closed(raw.socket);

          const xs = await rec.stopAndRead();
          const x = onlyHttp(xs, '/slow');
          assert.equal(x.error?.kind, 'timeout');
          assert.equal(x.error?.phase, 'connect');
          assert.equal(x.response, undefined);
          const [t] = tcpExchanges(xs);
          assert.equal(t?.error?.kind, 'timeout');
          assert.equal(t?.tags?.['tunnel'], 'socks5');
        },
        { connectTimeoutMs: 300 },
      );
    });
  });

  /** A small deterministic generator, so a failure can be replayed. */
  function bytes(first: number, n: number, seed: number): Buffer {
    const out = Buffer.alloc(n);
    out[0] = first;
    let state = seed;
    for (let i = 1; i < n; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      out[i] = state >>> 24;
    }
    return out;
  }

  const garbage: Array<{ name: string; data: Buffer; expect: (answer: Buffer) => void }> = [
    ...[1, 2, 3, 4].map((seed) => ({
      name: `random bytes after 0x05 (seed ${seed})`,
      data: bytes(0x05, 64, seed),
      // A method selection, a SOCKS5 error reply, or nothing: never HTTP.
      expect: (a: Buffer) => assert.ok(a.length === 0 || a[0] === 0x05 || a[0] === 0x01, a.toString('hex')),
    })),
    ...[1, 2, 3, 4].map((seed) => ({
      name: `random bytes after 0x04 (seed ${seed})`,
      data: bytes(0x04, 64, seed),
      // A SOCKS4 reply (VN 0, CD 91 rejected) or nothing.
      expect: (a: Buffer) => assert.ok(a.length === 0 || (a[0] === 0x00 && a[1] === 0x5b), a.toString('hex')),
    })),
    {
      name: 'a SOCKS5 greeting announcing 255 methods, cut short',
      data: Buffer.from([0x05, 0xff, 0x00, 0x01]),
      expect: (a: Buffer) => assert.equal(a.length, 0),
    },
    {
      name: 'a SOCKS4 request cut short',
      data: Buffer.from([0x04, 0x01, 0x00]),
      expect: (a: Buffer) => assert.equal(a.length, 0),
    },
    {
      name: 'SOCKS5 asking for BIND',
      data: Buffer.from([0x05, 0x01, 0x00, 0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80]),
      expect: (a: Buffer) => assert.equal(a.toString('hex'), '0500' + '05070001000000000000'),
    },
    {
      name: 'a line of text',
      data: Buffer.from('hello there, this is not a proxy request\r\n\r\n'),
      expect: (a: Buffer) => assert.match(a.toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n/),
    },
    {
      name: 'random bytes after text',
      data: Buffer.concat([Buffer.from('GE'), bytes(0x54, 200, 7)]),
      expect: (a: Buffer) =>
        assert.ok(a.length === 0 || /^HTTP\/1\.1 400 /.test(a.toString('latin1')), a.toString('latin1')),
    },
    {
      name: 'nothing at all',
      data: Buffer.alloc(0),
      expect: (a: Buffer) => assert.equal(a.length, 0),
    },
  ];

  it('garbage on the proxy port is closed or answered 400, and the port still serves curl', async () => {
    await withRecording(async (rec) => {
      for (const g of garbage) {
        // The client sends its bytes and half-closes: the proxy must answer or close, not wait.
        const answer = await rawBytesExchange(rec.outPort, g.data);
        try {
          g.expect(answer);
        } catch (err) {
          throw new Error(`${g.name}: ${(err as Error).message}`);
        }
      }
      const res = await curl(['-x', rec.outProxy, `${origin.url}/after-garbage`]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal((JSON.parse(res.stdout) as Echo).url, '/after-garbage');

      const xs = await rec.stopAndRead();
      // Garbage never became an exchange; the real request did.
      assert.deepEqual(
        httpExchanges(xs).map((x) => x.request.url),
        [`${origin.url}/after-garbage`],
      );
      assert.equal(xs.length, 1);
    });
  });

  it('an origin-form request on the forward port: 400 that explains absolute-form', async () => {
    await withRecording(async (rec) => {
      const answer = await rawExchange(rec.outPort, 'GET / HTTP/1.1\r\nHost: example.test\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.equal(header(answer, 'X-Tapwire-Error'), 'TW_NOT_A_PROXY_REQUEST');
      assert.match(answer, /absolute-form/);
      // curl aimed straight at the proxy port, as if it were the server, gets the same.
      const res = await curl(['-D', '-', `http://127.0.0.1:${rec.outPort}/direct`]);
      assert.match(res.stdout, /^HTTP\/1\.1 400 /);
      assert.match(res.stdout, /send absolute-form requests/);
      assert.deepEqual(await rec.stopAndRead(), []);
    });
  });

  it('a CONNECT with a bad authority: 400 TW_BAD_CONNECT', async () => {
    await withRecording(async (rec) => {
      for (const authority of ['no-port-here', 'host:99999', 'a/b:80', '[::1:80']) {
        const answer = await rawExchange(rec.outPort, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
        assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, authority);
        assert.equal(header(answer, 'X-Tapwire-Error'), 'TW_BAD_CONNECT', authority);
        assert.match(answer, /CONNECT needs HOST:PORT/);
      }
      assert.deepEqual(await rec.stopAndRead(), []);
    });
  });
});

/** Writes `data`, half-closes, and collects every byte until the server closes. */
function rawBytesExchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    socket.on('close', () => resolve(Buffer.concat(got)));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A proxy that resets instead of closing still ended the conversation.
      if (err.code === 'ECONNRESET') return;
      reject(err);
    });
    socket.end(data);
  });
}
