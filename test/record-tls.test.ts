/**
 * End to end: outbound TLS interception through the forward proxy. Real clients (curl, Node's
 * https and http2) trust only tapwire's CA and reach real HTTPS origins that serve certificates
 * of their own CA; tapwire verifies the origin, records the decrypted exchanges with their TLS
 * details, refuses origins whose certificate is bad, and passes through hosts that are named up
 * front or whose client refused our certificate.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { Exchange, HttpExchange } from '../src/model/exchange.ts';
import { curl, curlResponseHeaders, httpExchanges, needTool, tcpExchanges } from './helpers/forward.ts';
import type { Origin } from './helpers/peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';
import { connectThrough, makeOriginPki, startH2Origin, startHttpsOrigin, type OriginPki } from './helpers/tls-peers.ts';

const noCurl = needTool('curl');

describe('outbound TLS interception', () => {
  let pki: OriginPki;
  let caDir: string;
  let origin: Origin;
  let expired: Origin;
  let wrongHost: Origin;
  let h2: Origin;

  before(async () => {
    pki = await makeOriginPki();
    caDir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-ca-'));
    const good = await pki.issue('localhost');
    origin = await startHttpsOrigin(good, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.end(`secret ${req.method} ${req.url} ${body}`);
      });
    });
    expired = await startHttpsOrigin(
      await pki.issue('localhost', {
        notBefore: new Date(Date.now() - 10 * 86400_000),
        notAfter: new Date(Date.now() - 86400_000),
      }),
      (_req, res) => res.end('ORIGIN-BODY'),
    );
    wrongHost = await startHttpsOrigin(await pki.issue('other.test'), (_req, res) => res.end('ORIGIN-BODY'));
    h2 = await startH2Origin(good, (stream, headers) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': String(headers[':path']) });
      stream.end(`h2 ${String(headers[':path'])}`);
    });
  });

  after(async () => {
    await Promise.all([origin.close(), expired.close(), wrongHost.close(), h2.close()]);
    pki.cleanup();
    rmSync(caDir, { recursive: true, force: true });
  });

  const record = (extra: Parameters<typeof startTestRecording>[0] = {}) =>
    startTestRecording({ proxyType: 'forward', upstreamCa: [pki.caFile], ...extra }, { caDir });

  async function withRec(fn: (rec: TestRecording) => Promise<void>, extra = {}): Promise<Exchange[]> {
    const rec = await record(extra);
    try {
      await fn(rec);
      return await rec.stopAndRead();
    } finally {
      await rec.cleanup();
    }
  }

  it(
    'decrypts curl through CONNECT: the client trusts only our CA, the origin is verified',
    { skip: noCurl },
    async () => {
      let caFile = '';
      const xs = await withRec(async (rec) => {
        caFile = rec.recording.ca?.certPath ?? '';
        for (const p of ['/one', '/two']) {
          const r = await curl(['-x', rec.outProxy, '--cacert', caFile, '-D', '-', '-d', 'x=1', `${origin.url}${p}`]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, new RegExp(`secret POST ${p} x=1`));
          const { status, headers } = curlResponseHeaders(r.stdout);
          assert.equal(status, 200);
          assert.deepEqual(
            headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v),
            ['a=1', 'b=2'],
          );
        }
      });
      assert.ok(caFile.startsWith(caDir));
      const http = httpExchanges(xs);
      assert.equal(http.length, 2, `two decrypted exchanges, got ${xs.map((x) => x.protocol).join(', ')}`);
      for (const [i, x] of http.entries()) {
        assert.equal(x.request.url, `https://localhost:${origin.port}${i === 0 ? '/one' : '/two'}`);
        assert.equal(x.request.body?.data, 'x=1');
        assert.match(x.response?.body?.data ?? '', /^secret POST/);
        assert.equal(x.tls?.mode, 'intercepted');
        assert.equal(x.tls?.sni, 'localhost');
        assert.deepEqual(x.tls?.alpn, ['http/1.1']); // curl offers h2 too; the origin chose http/1.1
        assert.match(x.tls?.version ?? '', /^TLSv1\.[23]$/);
        assert.equal(x.tags?.['tunnel'], 'connect');
      }
    },
  );

  it('mirrors h2: a Node http2 client gets h2 when the origin speaks it', async () => {
    const xs = await withRec(async (rec) => {
      const ca = rec.recording.ca?.certPem ?? '';
      const raw = await connectThrough(rec.outPort, `localhost:${h2.port}`);
      const session = http2.connect(h2.url, {
        createConnection: () => tls.connect({ socket: raw, servername: 'localhost', ca, ALPNProtocols: ['h2'] }),
      });
      for (const p of ['/a', '/b']) {
        const req = session.request({ ':path': p });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        await new Promise((resolve) => req.on('end', resolve));
        assert.equal(body, `h2 ${p}`);
      }
      session.close();
      await new Promise((resolve) => session.once('close', resolve));
    });
    const http = httpExchanges(xs);
    assert.equal(http.length, 2, `one exchange per stream, got ${JSON.stringify(xs.map((x) => x.protocol))}`);
    for (const x of http) {
      assert.equal(x.request.httpVersion, '2');
      assert.equal(x.tls?.mode, 'intercepted');
      assert.deepEqual(x.tls?.alpn, ['h2']);
      assert.match(x.request.url, new RegExp(`^https://localhost:${h2.port}/[ab]$`));
    }
  });

  for (const [name, get, reason] of [
    ['an expired certificate', () => expired, /expired/],
    ['a certificate for another host', () => wrongHost, /another host/],
  ] as const) {
    it(`answers 502 for an origin with ${name}, never a trusted connection`, { skip: noCurl }, async () => {
      const xs = await withRec(async (rec) => {
        const r = await curl(['-x', rec.outProxy, '--cacert', rec.recording.ca?.certPath ?? '', '-D', '-', get().url]);
        const { status, headers } = curlResponseHeaders(r.stdout);
        assert.equal(status, 502);
        assert.deepEqual(
          headers.find(([n]) => n === 'X-Tapwire-Error'),
          ['X-Tapwire-Error', 'TW_UPSTREAM_TLS'],
        );
        assert.match(r.stdout, reason);
        assert.doesNotMatch(r.stdout, /ORIGIN-BODY/);
      });
      const [x] = tcpExchanges(xs);
      assert.equal(x?.error?.kind, 'tls');
      assert.match(x?.error?.message ?? '', reason);
    });
  }

  it(
    'still refuses a bad origin when the client itself would accept anything (curl -k)',
    { skip: noCurl },
    async () => {
      await withRec(async (rec) => {
        const r = await curl(['-k', '-x', rec.outProxy, '-o', '/dev/null', '-w', '%{http_code}', expired.url]);
        assert.equal(r.stdout, '502');
      });
    },
  );

  it('passes through hosts named with --tls-passthrough, untouched', { skip: noCurl }, async () => {
    const xs = await withRec(
      async (rec) => {
        // Trusting only the origin's CA proves the bytes were not re-signed by tapwire.
        const r = await curl(['-x', rec.outProxy, '--cacert', pki.caFile, `${origin.url}/p`]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /secret GET \/p/);
      },
      { tlsPassthrough: ['*.example.test', 'localhost'] },
    );
    const [x] = tcpExchanges(xs);
    assert.equal(x?.tls?.mode, 'passthrough');
    assert.equal(x?.tls?.sni, 'localhost');
    assert.equal(x?.tags?.['tlsPassthrough'], 'configured');
  });

  it(
    'a client that refuses our certificate (pinning) gets passthrough from its next connection',
    { skip: noCurl },
    async () => {
      const xs = await withRec(async (rec) => {
        const args = ['-x', rec.outProxy, '--cacert', pki.caFile, `${origin.url}/pinned`];
        const first = await curl(args);
        assert.notEqual(first.code, 0, 'curl refuses the interception certificate');
        const second = await curl(args);
        assert.equal(second.code, 0, second.stderr);
        assert.match(second.stdout, /secret GET \/pinned/);
      });
      const tcp = tcpExchanges(xs);
      assert.equal(tcp.length, 2);
      assert.equal(tcp[0]?.error?.kind, 'tls');
      assert.equal(tcp[0]?.tags?.['tlsFallback'], 'passthrough');
      assert.match(tcp[0]?.error?.message ?? '', /refused tapwire's certificate for localhost/);
      assert.equal(tcp[1]?.tls?.mode, 'passthrough');
      assert.equal(tcp[1]?.tags?.['tlsPassthrough'], 'rejected');
    },
  );

  it(
    'survives a truncated ClientHello and a TLS record header followed by garbage, and keeps serving',
    { skip: noCurl },
    async () => {
      const xs = await withRec(async (rec) => {
        // A ClientHello cut after its record header and a few bytes, then the client leaves.
        const cut = await connectThrough(rec.outPort, `localhost:${origin.port}`);
        cut.end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
        await new Promise((resolve) => cut.once('close', resolve).resume());
        // A handshake record header whose body is not a ClientHello at all.
        const bad = await connectThrough(rec.outPort, `localhost:${origin.port}`);
        bad.end(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]), Buffer.alloc(16, 0xee)]));
        await new Promise((resolve) => bad.once('close', resolve).resume());
        const r = await curl(['-x', rec.outProxy, '--cacert', rec.recording.ca?.certPath ?? '', `${origin.url}/after`]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /secret GET \/after/);
      });
      assert.equal(httpExchanges(xs).length, 1);
      assert.equal(tcpExchanges(xs).length, 2, 'the two broken tunnels are recorded as TCP');
    },
  );

  it('Node https through CONNECT with the CA as its only trust, several requests on one connection', async () => {
    const xs = await withRec(async (rec) => {
      const ca = rec.recording.ca?.certPem ?? '';
      const raw = await connectThrough(rec.outPort, `localhost:${origin.port}`);
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      (agent as unknown as { createConnection: () => tls.TLSSocket }).createConnection = () =>
        tls.connect({ socket: raw, servername: 'localhost', ca });
      for (let i = 0; i < 3; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          https
            .get(`${origin.url}/n${i}`, { agent, ca }, (res) => {
              let b = '';
              res.on('data', (d: Buffer) => (b += d));
              res.on('end', () => resolve(b));
            })
            .on('error', reject);
        });
        assert.equal(body, `secret GET /n${i} `);
      }
      agent.destroy();
    });
    const http = httpExchanges(xs);
    assert.deepEqual(
      http.map((x: HttpExchange) => new URL(x.request.url).pathname),
      ['/n0', '/n1', '/n2'],
    );
  });
});
