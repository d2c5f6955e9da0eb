/**
 * End to end: inbound TLS. With --tls-in-cert/--tls-in-key clients keep speaking TLS to the
 * inbound port and see the app's own certificate; the app is reached in plaintext, or over TLS
 * again when it is given as https://HOST:PORT. Plaintext sent to the TLS port gets a 400.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { UsageError } from '../src/errors.ts';
import { curl, curlResponseHeaders, httpExchanges, needTool } from './helpers/forward.ts';
import { startOrigin, type Origin } from './helpers/peers.ts';
import { startTestRecording, type TestRecording } from './helpers/recording.ts';
import {
  makeOriginPki,
  startH2Origin,
  startHttpsOrigin,
  writeTemp,
  type Leaf,
  type OriginPki,
} from './helpers/tls-peers.ts';

const noCurl = needTool('curl');

describe('inbound TLS', () => {
  let pki: OriginPki;
  let leaf: Leaf;
  let certFile: string;
  let keyFile: string;
  let plainApp: Origin;
  let tlsApp: Origin;
  let h2App: Origin;

  before(async () => {
    pki = await makeOriginPki();
    leaf = await pki.issue('localhost');
    certFile = writeTemp(pki.dir, 'app.crt', leaf.certPem);
    keyFile = writeTemp(pki.dir, 'app.key', leaf.keyPem);
    plainApp = await startOrigin((req, res) => res.end(`plain app ${req.url}`));
    tlsApp = await startHttpsOrigin(leaf, (req, res) => res.end(`tls app ${req.url}`));
    h2App = await startH2Origin(leaf, (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(`h2 app ${String(headers[':path'])}`);
    });
  });
  after(async () => {
    await Promise.all([plainApp.close(), tlsApp.close(), h2App.close()]);
    pki.cleanup();
  });

  async function withRec(app: string, tlsIn: boolean, fn: (rec: TestRecording, base: string) => Promise<void>) {
    const rec = await startTestRecording({
      proxyType: 'reverse',
      app,
      upstreamCa: [pki.caFile],
      ...(tlsIn ? { tlsInCert: certFile, tlsInKey: keyFile } : {}),
    });
    try {
      const port = rec.recording.inbound?.port ?? 0;
      await fn(rec, `${tlsIn ? 'https' : 'http'}://localhost:${port}`);
      return await rec.stopAndRead();
    } finally {
      await rec.cleanup();
    }
  }

  it("terminates TLS with the app's certificate and forwards plaintext", { skip: noCurl }, async () => {
    const xs = await withRec(`127.0.0.1:${plainApp.port}`, true, async (_rec, base) => {
      for (const p of ['/a', '/b']) {
        const r = await curl(['--cacert', pki.caFile, `${base}${p}`, `${base}${p}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `plain app ${p}`.repeat(2));
      }
    });
    const http = httpExchanges(xs);
    assert.equal(http.length, 4);
    for (const x of http) {
      assert.equal(x.direction, 'inbound');
      assert.match(x.request.url, /^https:\/\/localhost:\d+\/[ab]$/);
      assert.equal(x.tls?.mode, 'terminated');
      assert.equal(x.tls?.sni, 'localhost');
      assert.deepEqual(x.tls?.alpn, ['http/1.1']);
    }
  });

  it('re-encrypts to an app given as https://, and mirrors its ALPN (h2) to the client', async () => {
    const xs = await withRec(`https://localhost:${h2App.port}`, true, async (_rec, base) => {
      const session = http2.connect(base, { ca: pki.caPem });
      const req = session.request({ ':path': '/via-h2' });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      await new Promise((resolve) => req.on('end', resolve));
      assert.equal(body, 'h2 app /via-h2');
      assert.equal(session.alpnProtocol, 'h2');
      session.close();
    });
    const [x] = httpExchanges(xs);
    assert.equal(x?.request.httpVersion, '2');
    assert.deepEqual(x?.tls?.alpn, ['h2']);
    assert.equal(x?.tls?.mode, 'terminated');
  });

  it('reaches an https:// app from a plaintext inbound port', { skip: noCurl }, async () => {
    const xs = await withRec(`https://localhost:${tlsApp.port}`, false, async (_rec, base) => {
      const r = await curl([`${base}/plain-in`, `${base}/again`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'tls app /plain-intls app /again');
    });
    assert.equal(httpExchanges(xs).length, 2);
  });

  it('answers plaintext HTTP on the TLS port with a 400 that says so', { skip: noCurl }, async () => {
    await withRec(`127.0.0.1:${plainApp.port}`, true, async (_rec, base) => {
      const r = await curl(['-D', '-', base.replace('https:', 'http:') + '/x']);
      const { status, headers } = curlResponseHeaders(r.stdout);
      assert.equal(status, 400);
      assert.deepEqual(headers.find(([n]) => n === 'X-Tapwire-Error')?.[1], 'TW_PLAINTEXT_ON_TLS_PORT');
      // …and the port still serves TLS clients.
      const ok = await curl(['--cacert', pki.caFile, `${base}/after`]);
      assert.equal(ok.stdout, 'plain app /after');
    });
  });

  it('refuses to start with a key that does not match the certificate', async () => {
    const other = await pki.issue('localhost');
    const wrongKey = writeTemp(pki.dir, 'wrong.key', other.keyPem);
    await assert.rejects(
      startTestRecording({
        proxyType: 'reverse',
        app: `127.0.0.1:${plainApp.port}`,
        tlsInCert: certFile,
        tlsInKey: wrongKey,
      }),
      (err: unknown) => err instanceof UsageError && /--tls-in-cert and --tls-in-key/.test(err.message),
    );
  });
});
