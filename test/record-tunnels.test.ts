/**
 * End to end: what a CONNECT or SOCKS5 tunnel carries when it is not HTTP. Raw TCP (a client
 * that speaks first, and a server that speaks first like SMTP) is piped both ways and recorded
 * as a `tcp` exchange with its chunks; TLS is passed through untouched (the client checks the
 * real certificate) and recorded with its SNI and no data.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TcpExchange } from '../src/model/exchange.ts';
import {
  closed,
  connectTunnel,
  conversation,
  curl,
  curlResponseHeaders,
  needTool,
  socks5Connect,
  tcpExchanges,
  type SocketReader,
  startQuietServer,
  withRecording,
} from './helpers/forward.ts';
import { startSmtpLikeServer, startTcpServer, type Origin } from './helpers/peers.ts';
import type { TestRecording } from './helpers/recording.ts';

/** The one `tcp` exchange of a recording, with the checks every tunnel record passes. */
function onlyTcp(
  xs: Awaited<ReturnType<TestRecording['stopAndRead']>>,
  dst: string,
  tunnel: string,
  opts: { clientMayReset?: boolean } = {},
): TcpExchange {
  assert.equal(xs.length, 1, `one exchange, got ${xs.map((x) => x.protocol).join(', ')}`);
  const [x] = tcpExchanges(xs);
  assert.ok(x, 'recorded as tcp');
  assert.equal(x.direction, 'outbound');
  assert.equal(x.dst, dst);
  assert.match(x.src ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(x.tags?.['tunnel'], tunnel);
  if (opts.clientMayReset && x.error) {
    // A TLS client that closes while the server's last records (session tickets, close_notify)
    // are still in flight makes its kernel answer them with a reset: that is how it ended.
    assert.deepEqual([x.error.kind, x.error.message], ['aborted', 'read ECONNRESET']);
  } else {
    assert.equal(x.error, undefined);
  }
  const times = x.stream.chunks.map((c) => c.tMs);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
    'chunks keep their order in time',
  );
  return x;
}

type Opener = (proxyPort: number, targetPort: number) => Promise<{ socket: net.Socket; reader: SocketReader }>;

const openers: Array<{ name: string; tunnel: string; open: Opener }> = [
  {
    name: 'CONNECT',
    tunnel: 'connect',
    open: async (proxyPort, targetPort) => {
      const t = await connectTunnel(proxyPort, `127.0.0.1:${targetPort}`);
      assert.match(t.head, /^HTTP\/1\.1 200 /);
      return t;
    },
  },
  {
    name: 'SOCKS5',
    tunnel: 'socks5',
    open: async (proxyPort, targetPort) => {
      const t = await socks5Connect(proxyPort, '127.0.0.1', targetPort);
      assert.equal(t.rep, 0, 'SOCKS5 succeeded');
      return t;
    },
  },
];

describe('record: raw TCP through the outbound port', () => {
  let echo: Origin;
  let smtp: Origin;

  before(async () => {
    // Echoes every read back.
    echo = await startTcpServer((s) => {
      s.on('data', (d) => s.write(d));
      s.on('error', () => undefined);
    });
    // Speaks first, like SMTP: a banner before the client says anything.
    smtp = await startSmtpLikeServer();
  });

  after(async () => {
    await echo.close();
    await smtp.close();
  });

  it('CONNECT: a server that closes before anyone speaks; the short conversation is recorded', async () => {
    const hangup = await startTcpServer((s) => s.end());
    try {
      await withRecording(async (rec) => {
        const { socket, reader } = await connectTunnel(rec.outPort, `127.0.0.1:${hangup.port}`);
        assert.equal((await reader.readToEnd()).length, 0, 'the client sees the close');
        await closed(socket);
        const x = onlyTcp(await rec.stopAndRead(), `127.0.0.1:${hangup.port}`, 'connect');
        assert.deepEqual(x.stream, { chunks: [], bytesC2s: 0, bytesS2c: 0, truncated: false });
      });
    } finally {
      await hangup.close();
    }
  });

  it('SOCKS5: a client that leaves before anyone speaks; the short conversation is recorded', async () => {
    const quiet = await startQuietServer();
    try {
      await withRecording(async (rec) => {
        const { socket, rep } = await socks5Connect(rec.outPort, '127.0.0.1', quiet.port);
        assert.equal(rep, 0);
        socket.end();
        await closed(socket);
        await quiet.gone; // the proxy closed its side to the server too
        const x = onlyTcp(await rec.stopAndRead(), `127.0.0.1:${quiet.port}`, 'socks5');
        assert.deepEqual(x.stream, { chunks: [], bytesC2s: 0, bytesS2c: 0, truncated: false });
      });
    } finally {
      await quiet.close();
    }
  });

  it('CONNECT: a client that resets before anyone speaks; the empty conversation is recorded', async () => {
    const quiet = await startQuietServer();
    try {
      await withRecording(async (rec) => {
        const { socket, head } = await connectTunnel(rec.outPort, `127.0.0.1:${quiet.port}`);
        assert.match(head, /^HTTP\/1\.1 200 /);
        socket.resetAndDestroy();
        await quiet.gone;
        const xs = await rec.stopAndRead();
        assert.equal(xs.length, 1);
        const [x] = tcpExchanges(xs);
        assert.equal(x?.dst, `127.0.0.1:${quiet.port}`);
        assert.equal(x?.tags?.['tunnel'], 'connect');
        // The reset came before the tunnel knew what it carried: the record has no error for it.
        assert.deepEqual(x?.stream, { chunks: [], bytesC2s: 0, bytesS2c: 0, truncated: false });
      });
    } finally {
      await quiet.close();
    }
  });

  for (const o of openers) {
    it(`${o.name}: a client-first conversation (echo, text and binary) is piped and recorded in order`, async () => {
      await withRecording(async (rec) => {
        const { socket, reader } = await o.open(rec.outPort, echo.port);
        const messages = [
          Buffer.from('hello tunnel\n'),
          Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]),
          Buffer.from('bye\n'),
        ];
        for (const m of messages) {
          socket.write(m);
          assert.deepEqual(await reader.read(m.length), m, 'echoed back unchanged');
        }
        socket.end();
        await closed(socket);

        const x = onlyTcp(await rec.stopAndRead(), `127.0.0.1:${echo.port}`, o.tunnel);
        const expected: Array<[string, string]> = messages.flatMap((m) => [
          ['c2s', m.toString('latin1')],
          ['s2c', m.toString('latin1')],
        ]);
        assert.deepEqual(conversation(x), expected);
        const total = messages.reduce((n, m) => n + m.length, 0);
        assert.equal(x.stream.bytesC2s, total);
        assert.equal(x.stream.bytesS2c, total);
        assert.equal(x.stream.truncated, false);
        assert.ok(
          x.stream.chunks.some((c) => c.data.encoding === 'base64'),
          'binary bytes are kept as base64',
        );
        assert.equal(x.tls, undefined);
      });
    });

    it(`${o.name}: a server-first conversation (SMTP-like banner) is piped and recorded in order`, async () => {
      await withRecording(async (rec) => {
        const { socket, reader } = await o.open(rec.outPort, smtp.port);
        assert.equal(await reader.readUntil('\r\n'), '220 tapwire.test ESMTP ready\r\n');
        socket.write('HELO client.test\r\n');
        assert.equal(await reader.readUntil('\r\n'), '250 hello client.test\r\n');
        socket.write('QUIT\r\n');
        assert.equal((await reader.readToEnd()).toString('latin1'), '221 bye\r\n');

        const x = onlyTcp(await rec.stopAndRead(), `127.0.0.1:${smtp.port}`, o.tunnel);
        assert.deepEqual(conversation(x), [
          ['s2c', '220 tapwire.test ESMTP ready\r\n'],
          ['c2s', 'HELO client.test\r\n'],
          ['s2c', '250 hello client.test\r\n'],
          ['c2s', 'QUIT\r\n'],
          ['s2c', '221 bye\r\n'],
        ]);
        assert.equal(x.stream.bytesC2s, 'HELO client.test\r\nQUIT\r\n'.length);
        assert.equal(x.stream.bytesS2c, '220 tapwire.test ESMTP ready\r\n250 hello client.test\r\n221 bye\r\n'.length);
      });
    });
  }
});

const noOpenssl = needTool('openssl', ['version']);
const noCurl = needTool('curl');

describe('record: TLS passthrough through the outbound port', { skip: noOpenssl || noCurl }, () => {
  let dir: string;
  let server: https.Server;
  let port: number;
  let caFile: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-tls-'));
    const keyFile = path.join(dir, 'key.pem');
    caFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-days',
        '1',
        '-keyout',
        keyFile,
        '-out',
        caFile,
      ],
      { stdio: 'ignore' },
    );
    server = https.createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(`secure hello ${req.url}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const cases = [
    {
      name: 'curl -p -x (CONNECT)',
      proxyArgs: (p: number) => ['-p', '-x', `http://127.0.0.1:${p}`],
      tunnel: 'connect',
    },
    {
      name: 'curl --proxy socks5h://',
      proxyArgs: (p: number) => ['--proxy', `socks5h://127.0.0.1:${p}`],
      tunnel: 'socks5',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the TLS session passes untouched and is recorded with its SNI, without data`, async () => {
      await withRecording(async (rec) => {
        // No -k: curl verifies the origin's own certificate, so the bytes were not touched.
        const res = await curl([
          '-D',
          '-',
          ...c.proxyArgs(rec.outPort),
          '--cacert',
          caFile,
          `https://localhost:${port}/tls/path`,
        ]);
        assert.equal(res.code, 0, res.stderr);
        const end = res.stdout.lastIndexOf('\r\n\r\n');
        assert.equal(curlResponseHeaders(res.stdout.slice(0, end + 4)).status, 200);
        assert.equal(res.stdout.slice(end + 4), 'secure hello /tls/path');

        const x = onlyTcp(await rec.stopAndRead(), `localhost:${port}`, c.tunnel, { clientMayReset: true });
        assert.equal(x.tls?.mode, 'passthrough');
        assert.equal(x.tls?.sni, 'localhost');
        assert.ok(x.tls?.alpn?.includes('http/1.1'), `ALPN offered by curl: ${JSON.stringify(x.tls?.alpn)}`);
        assert.match(x.tls?.version ?? '', /^TLSv1\.[23]$/);
        assert.deepEqual(x.stream.chunks, [], 'ciphertext is not kept');
        assert.ok(x.stream.bytesC2s > 0);
        assert.ok(x.stream.bytesS2c > 'secure hello /tls/path'.length);
        assert.equal(x.stream.truncated, false);
      });
    });
  }
});
