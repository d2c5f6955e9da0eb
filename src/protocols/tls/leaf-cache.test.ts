import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { initCa, type LocalCa } from './ca.ts';
import { issueLeafPem, LeafCache, normalizeHost } from './leaf-cache.ts';
import { trustEnv, writeTrustBundle } from './trust.ts';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

let root: string;
let ca: LocalCa;
let bundle: string;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tapwire-leaf-'));
  ca = (await initCa(join(root, 'ca'))).ca;
  bundle = await writeTrustBundle(ca);
});
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function save(pem: string): string {
  const file = join(root, `leaf-${++n}.pem`);
  writeFileSync(file, pem);
  return file;
}

/** An HTTPS server on 127.0.0.1 that answers with the SNI name it saw. */
async function serve(options: tls.TlsOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const server = https.createServer(options, (req, res) => {
    res.end(`hello ${(req.socket as tls.TLSSocket).servername || 'no-sni'}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * A TCP server that wraps each connection in a server TLSSocket with a fixed SecureContext, as
 * the interceptor does for a client that sent no SNI, and answers one HTTP response.
 */
async function serveRaw(secureContext: tls.SecureContext): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((raw) => {
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    socket.on('error', () => socket.destroy());
    socket.once('data', () =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello no-sni\n'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Runs a command with stdin closed at once (openssl s_client otherwise waits for input). */
function runClosed(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', () => resolve(out));
    child.stdin.end();
  });
}

/** Node as a client that trusts only our CA; resolves with the peer's verdict. */
function nodeClient(port: number, servername: string | undefined, checkHost: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...(servername ? { servername } : {}),
      ca: [ca.certPem],
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity(checkHost, cert),
    });
    socket.once('secureConnect', () => {
      const subject = socket.getPeerX509Certificate()?.subject ?? '';
      socket.end();
      resolve(`ok ${subject.replace(/\n/g, ',')}`);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code) resolve(err.code);
      else reject(err);
    });
  });
}

describe('issueLeafPem', () => {
  test('a DNS leaf that openssl verifies, with the extensions a server certificate needs', async () => {
    const { certPem, keyPem } = await issueLeafPem(ca, 'LocalHost.');
    const file = save(certPem);
    const verify = await run('openssl', [
      'verify',
      '-CAfile',
      ca.certPath,
      '-purpose',
      'sslserver',
      '-verify_hostname',
      'localhost',
      file,
    ]);
    assert.match(verify.stdout, /: OK/);
    const { stdout: text } = await run('openssl', ['x509', '-in', file, '-noout', '-text']);
    assert.match(text, /Subject: CN = localhost\n/);
    assert.match(text, /X509v3 Subject Alternative Name: \n\s+DNS:localhost\n/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
    const caSki = (await run('openssl', ['x509', '-in', ca.certPath, '-noout', '-ext', 'subjectKeyIdentifier'])).stdout;
    const ski = caSki.trim().split('\n').pop()?.trim() ?? '';
    assert.match(text, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+${ski}`));
    const x = new X509Certificate(certPem);
    const skew = Date.now() - Date.parse(x.validFrom);
    assert.ok(skew > 59 * 60e3 && skew < 62 * 60e3, `notBefore ${skew} ms in the past`);
    const days = (Date.parse(x.validTo) - Date.now()) / 86400e3;
    assert.ok(days > 6.9 && days <= 7, `valid for ${days} days`);
    assert.ok(x.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)));
  });

  test('IPv4 and IPv6 literals get an iPAddress SAN; a name too long for a CN gets a critical SAN', async () => {
    for (const [host, san] of [
      ['127.0.0.1', 'IP Address:127.0.0.1'],
      ['[::1]', 'IP Address:0:0:0:0:0:0:0:1'],
    ] as const) {
      const file = save((await issueLeafPem(ca, host)).certPem);
      const ip = host.replace(/[[\]]/g, '');
      const verify = await run('openssl', ['verify', '-CAfile', ca.certPath, '-verify_ip', ip, file]);
      assert.match(verify.stdout, /: OK/);
      assert.match((await run('openssl', ['x509', '-in', file, '-noout', '-text'])).stdout, new RegExp(san));
    }
    const long = `${'a'.repeat(60)}.${'b'.repeat(20)}.example`;
    const file = save((await issueLeafPem(ca, long)).certPem);
    const text = (await run('openssl', ['x509', '-in', file, '-noout', '-text'])).stdout;
    assert.match(text, /Subject: O = tapwire/);
    assert.match(text, new RegExp(`Subject Alternative Name: critical\\n\\s+DNS:${long}`));
    assert.match(
      (await run('openssl', ['verify', '-CAfile', ca.certPath, '-verify_hostname', long, file])).stdout,
      /OK/,
    );
  });

  test('host names are normalized; nonsense is refused', () => {
    assert.equal(normalizeHost('API.Example.COM.'), 'api.example.com');
    assert.equal(normalizeHost('[2001:DB8::1]'), '2001:db8::1');
    assert.equal(normalizeHost('bücher.example'), 'xn--bcher-kva.example');
    assert.throws(() => normalizeHost(''), TypeError);
    assert.throws(() => normalizeHost('a b'), TypeError);
  });
});

describe('LeafCache with real TLS peers', () => {
  test('hosts served from ready-made contexts present their own certificate and the chain', async () => {
    const leaves = new LeafCache(ca);
    const server = await serve({ SNICallback: leaves.sniCallback });
    try {
      for (const host of ['one.test', 'two.test', 'three.test', 'four.test', 'five.test', 'six.test']) {
        // Time between hosts lets the cache get key-loaded contexts ready, as in real traffic.
        await new Promise((resolve) => setImmediate(resolve));
        assert.match(await nodeClient(server.port, host, host), new RegExp(`^ok CN=${host}`));
      }
      const chain = await runClosed('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${server.port}`,
        '-servername',
        'six.test',
        '-showcerts',
      ]);
      assert.equal(chain.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2, 'leaf and CA are sent');
      assert.ok(leaves.stats.readyContexts >= 4, `ready contexts used: ${JSON.stringify(leaves.stats)}`);
    } finally {
      await server.close();
    }
  });

  test('Node, curl and Python trust a leaf per SNI name, and reject it for another host', async () => {
    const leaves = new LeafCache(ca);
    const server = await serve({ SNICallback: leaves.sniCallback });
    try {
      assert.match(await nodeClient(server.port, 'localhost', 'localhost'), /^ok CN=localhost/);
      assert.match(await nodeClient(server.port, 'api.test', 'api.test'), /^ok CN=api.test/);
      // The certificate is for the SNI name; a client that expected another host refuses it.
      assert.equal(await nodeClient(server.port, 'api.test', 'other.test'), 'ERR_TLS_CERT_ALTNAME_INVALID');

      const url = `https://localhost:${server.port}/`;
      const resolve = `localhost:${server.port}:127.0.0.1`;
      const curl = await run('curl', ['-sS', '--cacert', ca.certPath, '--resolve', resolve, url]);
      assert.equal(curl.stdout, 'hello localhost\n');
      // Without our CA curl refuses (60: peer certificate cannot be authenticated).
      await assert.rejects(
        run('curl', ['-sS', '--resolve', resolve, url]),
        (err: { code?: number }) => err.code === 60,
      );

      const py = await run(PYTHON, [
        '-c',
        'import ssl, sys, urllib.request as u\n' +
          'ctx = ssl.create_default_context(cafile=sys.argv[1])\n' +
          'print(u.urlopen(sys.argv[2], context=ctx).read().decode(), end="")',
        ca.certPath,
        `https://localhost:${server.port}/`,
      ]);
      assert.equal(py.stdout, 'hello localhost\n');
      // One signing per host, whatever the number of handshakes.
      assert.equal(leaves.stats.issued, 2);
    } finally {
      await server.close();
    }
  });

  test('the trust bundle through SSL_CERT_FILE (Python) and CURL_CA_BUNDLE (curl) replaces the CA flag', async () => {
    const leaves = new LeafCache(ca);
    const server = await serve({ SNICallback: leaves.sniCallback });
    try {
      const env = trustEnv(ca, bundle);
      const url = `https://localhost:${server.port}/`;
      const script =
        'import ssl, sys, urllib.request as u\n' +
        'print(u.urlopen(sys.argv[1], context=ssl.create_default_context()).read().decode(), end="")';
      const py = await run(PYTHON, ['-c', script, url], {
        env: { PATH: process.env['PATH'], SSL_CERT_FILE: env['SSL_CERT_FILE'] },
      });
      assert.equal(py.stdout, 'hello localhost\n');
      await assert.rejects(
        run(PYTHON, ['-c', script, url], { env: { PATH: process.env['PATH'] } }),
        /CERTIFICATE_VERIFY_FAILED/,
      );
      const resolve = `localhost:${server.port}:127.0.0.1`;
      const curl = await run('curl', ['-sS', '--resolve', resolve, url], {
        env: { PATH: process.env['PATH'], CURL_CA_BUNDLE: env['CURL_CA_BUNDLE'] },
      });
      assert.equal(curl.stdout, 'hello localhost\n');
    } finally {
      await server.close();
    }
  });

  test('no SNI (a client that dialled an IP): the caller presents the leaf for the IP it was reached on', async () => {
    const leaves = new LeafCache(ca);
    const server = await serveRaw(await leaves.contextFor('127.0.0.1'));
    try {
      assert.match(await nodeClient(server.port, undefined, '127.0.0.1'), /^ok CN=127.0.0.1/);
      const curl = await run('curl', ['-sS', '--cacert', ca.certPath, `https://127.0.0.1:${server.port}/`]);
      assert.equal(curl.stdout, 'hello no-sni\n');
      assert.equal(await nodeClient(server.port, undefined, '127.0.0.2'), 'ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await server.close();
    }
  });

  test('the context sends the chain: leaf then CA', async () => {
    const leaves = new LeafCache(ca);
    const server = await serve({ SNICallback: leaves.sniCallback });
    try {
      const stdout = await runClosed('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${server.port}`,
        '-servername',
        'chain.test',
        '-showcerts',
        '-CAfile',
        ca.certPath,
      ]);
      assert.match(stdout, /0 s:CN = chain.test\n\s+i:CN = tapwire CA/);
      assert.match(stdout, /1 s:CN = tapwire CA .*\n\s+i:CN = tapwire CA/);
      assert.match(stdout, /Verify return code: 0 \(ok\)/);
    } finally {
      await server.close();
    }
  });
});

describe('LeafCache bookkeeping', () => {
  test('concurrent requests for one host share one signing', async () => {
    const leaves = new LeafCache(ca);
    const contexts = await Promise.all(Array.from({ length: 20 }, () => leaves.contextFor('same.test')));
    assert.ok(contexts.every((c) => c === contexts[0]));
    assert.equal(leaves.stats.issued, 1);
    assert.equal(leaves.size, 1);
  });

  test('bounded LRU: the least recently used host is evicted and signed again on demand', async () => {
    const leaves = new LeafCache(ca, { max: 3 });
    const a = await leaves.contextFor('a.test');
    await leaves.contextFor('b.test');
    await leaves.contextFor('c.test');
    assert.equal(await leaves.contextFor('a.test'), a); // a is now the most recent
    await leaves.contextFor('d.test'); // evicts b
    assert.equal(leaves.size, 3);
    assert.deepEqual(
      { ...leaves.stats, readyContexts: 0 },
      { size: 3, issued: 4, evicted: 1, renewed: 0, readyContexts: 0 },
    );
    assert.equal(await leaves.contextFor('a.test'), a);
    await leaves.contextFor('b.test'); // signed again, evicts c
    assert.equal(leaves.stats.issued, 5);
    assert.equal(leaves.stats.evicted, 2);
  });

  test('a leaf close to expiry is signed again; leaves never outlive the CA', async () => {
    let now = Date.now();
    const leaves = new LeafCache(ca, { validityDays: 4, now: () => now });
    const first = await leaves.contextFor('renew.test');
    now += 2.9 * 86400e3;
    assert.equal(await leaves.contextFor('renew.test'), first);
    now += 0.2 * 86400e3; // past three quarters of the validity
    const second = await leaves.contextFor('renew.test');
    assert.notEqual(second, first);
    assert.equal(leaves.stats.renewed, 1);

    const late = await issueLeafPem(ca, 'late.test', { now: () => ca.notAfter.getTime() - 86400e3 });
    assert.equal(new X509Certificate(late.certPem).validTo, new X509Certificate(ca.certPem).validTo);
  });

  test('a bad host is a rejected promise, not a throw', async () => {
    const leaves = new LeafCache(ca);
    await assert.rejects(leaves.contextFor(''), TypeError);
    assert.equal(leaves.size, 0);
  });
});
