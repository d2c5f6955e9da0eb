/**
 * End to end: TLS session resumption through the intercepting forward proxy, on both legs, and
 * intercepted tunnels that carry nothing. tapwire resumes its sessions with upstream servers
 * (the chain is not decoded and verified again) without ever trusting a server it has not
 * verified; clients that resume their session with tapwire get the same decrypted recording as
 * a full handshake; a tunnel a client opens and drops unused is counted, not recorded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { Exchange } from '../src/model/exchange.ts';
import { httpExchanges, tcpExchanges } from './helpers/forward.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';
import { connectThrough, makeOriginPki, type Leaf, type OriginPki } from './helpers/tls-peers.ts';

interface CountingOrigin {
  port: number;
  /** Whether each TLS connection the origin accepted resumed a session. */
  resumed: boolean[];
  close(): Promise<void>;
}

/** An HTTPS origin that notes, per connection, whether the client resumed a session. */
async function startCountingOrigin(leaf: Leaf, port = 0): Promise<CountingOrigin> {
  const resumed: boolean[] = [];
  const server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) =>
    res.end(`hello ${req.url}`),
  );
  server.on('secureConnection', (s: tls.TLSSocket) => resumed.push(s.isSessionReused()));
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    resumed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One HTTP/1.1 GET over a TLS connection through the proxy's CONNECT; the answer and the socket. */
async function getThrough(
  rec: TestRecording,
  port: number,
  urlPath: string,
  session?: Buffer,
): Promise<{ status: string; body: string; reused: boolean; session: Buffer | undefined }> {
  const raw = await connectThrough(rec.outPort, `localhost:${port}`);
  const sock = tls.connect({
    socket: raw,
    servername: 'localhost',
    ca: rec.recording.ca?.certPem ?? '',
    ...(session ? { session } : {}),
  });
  let latest: Buffer | undefined;
  sock.on('session', (s: Buffer) => (latest = s));
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', resolve);
    sock.once('error', reject);
  });
  const reused = sock.isSessionReused();
  sock.write(`GET ${urlPath} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (text += d));
  await new Promise<void>((resolve) => sock.once('close', () => resolve()));
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: head.split('\r\n')[0] ?? '', body, reused, session: latest };
}

function metric(rec: TestRecording, line: string): number {
  const m = rec.recording.metrics
    .render()
    .split('\n')
    .find((l) => l.startsWith(`${line} `));
  return m ? Number(m.split(' ').pop()) : NaN;
}

describe('TLS session resumption through the intercepting proxy', () => {
  let pki: OriginPki;
  let caDir: string;
  let good: Leaf;

  before(async () => {
    pki = await makeOriginPki();
    caDir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-ca-'));
    good = await pki.issue('localhost');
  });

  after(() => {
    pki.cleanup();
    rmSync(caDir, { recursive: true, force: true });
  });

  async function withRec(fn: (rec: TestRecording) => Promise<void>): Promise<Exchange[]> {
    const rec = await startTestRecording({ proxyType: 'forward', upstreamCa: [pki.caFile] }, { caDir });
    try {
      await fn(rec);
      return await rec.stopAndRead();
    } finally {
      await rec.cleanup();
    }
  }

  it('resumes its session with the upstream server on later connections, recorded as before', async () => {
    const origin = await startCountingOrigin(good);
    try {
      const xs = await withRec(async (rec) => {
        for (const p of ['/1', '/2', '/3']) {
          const r = await getThrough(rec, origin.port, p);
          assert.match(r.status, /^HTTP\/1\.1 200/);
          assert.equal(r.body, `hello ${p}`);
        }
        assert.equal(metric(rec, 'tapwire_tls_handshakes_total{side="upstream",resumed="true"}'), 2);
        assert.equal(metric(rec, 'tapwire_tls_handshakes_total{side="upstream",resumed="false"}'), 1);
      });
      assert.deepEqual(origin.resumed, [false, true, true], 'the origin saw one full handshake, then resumptions');
      const http = httpExchanges(xs);
      assert.deepEqual(
        http.map((x) => [x.request.url, x.response?.body?.data, x.tls?.mode]),
        ['/1', '/2', '/3'].map((p) => [`https://localhost:${origin.port}${p}`, `hello ${p}`, 'intercepted']),
      );
    } finally {
      await origin.close();
    }
  });

  it('a stored session never vouches for another server: one that cannot resume it is verified, and refused', async () => {
    const origin = await startCountingOrigin(good);
    const port = origin.port;
    let replaced: CountingOrigin | undefined;
    try {
      const xs = await withRec(async (rec) => {
        const first = await getThrough(rec, port, '/first');
        assert.equal(first.body, 'hello /first');
        // Another server takes the same address, with a certificate for another name and ticket
        // keys of its own: tapwire's stored session cannot be resumed, so it must verify again.
        await origin.close();
        replaced = await startCountingOrigin(await pki.issue('other.test'), port);
        const second = await getThrough(rec, port, '/second');
        assert.match(second.status, /^HTTP\/1\.1 502/);
        assert.match(second.body, /another host/);
        assert.deepEqual(replaced.resumed, [], 'the impostor never completed a handshake with tapwire');
        assert.equal(metric(rec, 'tapwire_tls_handshakes_total{side="upstream",resumed="true"}'), 0);
        // The origin comes back: a full, verified handshake again.
        await replaced.close();
        replaced = await startCountingOrigin(good, port);
        const third = await getThrough(rec, port, '/third');
        assert.equal(third.body, 'hello /third');
      });
      const http = httpExchanges(xs);
      assert.deepEqual(
        http.map((x) => x.request.url),
        [`https://localhost:${port}/first`, `https://localhost:${port}/third`],
      );
      const refused = tcpExchanges(xs).filter((x) => x.error?.kind === 'tls');
      assert.equal(refused.length, 1, 'the refused server is recorded as a TLS error');
    } finally {
      await origin.close().catch(() => undefined);
      await replaced?.close();
    }
  });

  it('a client that resumes its session with tapwire gets the same decrypted recording', async () => {
    const origin = await startCountingOrigin(good);
    try {
      const xs = await withRec(async (rec) => {
        const first = await getThrough(rec, origin.port, '/a');
        assert.equal(first.reused, false);
        assert.ok(first.session, 'tapwire sent the client a session ticket');
        const second = await getThrough(rec, origin.port, '/b', first.session);
        assert.equal(second.reused, true, 'the client resumed its session with tapwire');
        assert.equal(second.body, 'hello /b');
        assert.equal(metric(rec, 'tapwire_tls_handshakes_total{side="client",resumed="true"}'), 1);
      });
      const http = httpExchanges(xs);
      assert.equal(http.length, 2);
      const [a, b] = http;
      assert.equal(b?.request.url, `https://localhost:${origin.port}/b`);
      assert.equal(b?.response?.body?.data, 'hello /b');
      assert.deepEqual({ ...b?.tls }, { ...a?.tls }, 'same TLS details whether the client resumed or not');
    } finally {
      await origin.close();
    }
  });

  it('tunnels that carry no application data are counted, not recorded; ones that do are recorded', async () => {
    const origin = await startCountingOrigin(good);
    try {
      const xs = await withRec(async (rec) => {
        // Spare connections: TLS through the tunnel completes on the client's side, then the client
        // leaves unused, with a close_notify or at once (maybe before its Finished was sent).
        for (let i = 0; i < 3; i++) {
          const raw = await connectThrough(rec.outPort, `localhost:${origin.port}`);
          const sock = tls.connect({ socket: raw, servername: 'localhost', ca: rec.recording.ca?.certPem ?? '' });
          await new Promise<void>((resolve, reject) => {
            sock.once('secureConnect', resolve);
            sock.once('error', reject);
          });
          if (i === 0) sock.end();
          else sock.destroy();
          await new Promise<void>((resolve) => sock.once('close', () => resolve()));
        }
        const used = await getThrough(rec, origin.port, '/used');
        assert.equal(used.body, 'hello /used');
        await waitFor(() => metric(rec, 'tapwire_tls_empty_tunnels_total') === 3);
        // Every one of them is closed, the spares dropped mid-handshake included (they used to
        // stay open for good, with their connection to the origin).
        await waitFor(() => metric(rec, 'tapwire_open_connections{listener="outbound"}') === 0);
      });
      assert.deepEqual(
        xs.map((x) => x.protocol),
        ['http'],
        'only the tunnel that carried a request is recorded',
      );
    } finally {
      await origin.close();
    }
  });
});

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
