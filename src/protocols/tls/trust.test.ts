import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { FileUnreadableError } from '../../errors.ts';
import { initCa, type LocalCa } from './ca.ts';
import { issueLeafPem } from './leaf-cache.ts';
import {
  encodeJks,
  jksDigest,
  splitPem,
  systemCaBundlePath,
  trustEnv,
  upstreamTrust,
  writeTrustBundle,
} from './trust.ts';

const run = promisify(execFile);

let root: string;
let ca: LocalCa;
/** A second CA standing in for a private upstream's (a corporate or test CA). */
let upstreamCa: LocalCa;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tapwire-trust-'));
  ca = (await initCa(join(root, 'ca'))).ca;
  upstreamCa = (await initCa(join(root, 'upstream-ca'))).ca;
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('upstreamTrust', () => {
  test('the system bundle (or Node roots), one PEM per certificate', () => {
    const system = systemCaBundlePath();
    if (system) assert.ok(existsSync(system));
    const cas = upstreamTrust([]);
    assert.ok(cas.length > 50, `${cas.length} system CAs`);
    for (const pem of cas.slice(0, 5)) assert.ok(new X509Certificate(pem).ca);
  });

  test('adds --upstream-ca files, PEM or DER, and verifies a private upstream with them', async () => {
    const der = join(root, 'upstream.der');
    writeFileSync(der, new X509Certificate(upstreamCa.certPem).raw);
    const base = upstreamTrust([]).length;
    assert.equal(upstreamTrust([upstreamCa.certPath]).length, base + 1);
    assert.equal(upstreamTrust([der]).at(-1), upstreamCa.certPem);

    const leaf = await issueLeafPem(upstreamCa, 'localhost');
    const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (s) => s.end('up\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const connect = (cas: string[]) =>
      new Promise<string>((resolve) => {
        const secureContext = tls.createSecureContext({ ca: cas });
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext });
        s.once('secureConnect', () => (s.destroy(), resolve('ok')));
        s.once('error', (err: NodeJS.ErrnoException) => (s.destroy(), resolve(err.code ?? err.message)));
      });
    try {
      assert.equal(await connect(upstreamTrust([upstreamCa.certPath])), 'ok');
      assert.equal(await connect(upstreamTrust([])), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a missing file or one without a certificate is a catalog error naming the file', () => {
    const empty = join(root, 'empty.pem');
    writeFileSync(empty, 'not a certificate\n');
    for (const [file, reason] of [
      [join(root, 'nope.pem'), /no such file/],
      [empty, /no certificate in it/],
    ] as const) {
      assert.throws(
        () => upstreamTrust([file]),
        (err: unknown) =>
          err instanceof FileUnreadableError &&
          err.code === 'TW_FILE_UNREADABLE' &&
          err.message.includes(file) &&
          reason.test(err.message) &&
          /--upstream-ca/.test(err.hint ?? ''),
      );
    }
  });
});

describe('writeTrustBundle and trustEnv', () => {
  test('bundle.pem is the system CAs followed by ours; openssl verifies our leaves against it', async () => {
    const file = await writeTrustBundle(ca);
    assert.equal(file, join(ca.dir, 'bundle.pem'));
    const pems = splitPem(readFileSync(file, 'utf8'));
    assert.equal(pems.length, upstreamTrust([]).length + 1);
    assert.equal(pems.at(-1), ca.certPem);
    const leaf = join(root, 'leaf.pem');
    writeFileSync(leaf, (await issueLeafPem(ca, 'bundle.test')).certPem);
    assert.match((await run('openssl', ['verify', '-CAfile', file, leaf])).stdout, /: OK/);
    // Rewriting is safe (it is rewritten on every `record`).
    assert.equal(await writeTrustBundle(ca), file);
  });

  test('Node gets the CA added, the replace-the-store variables get the bundle', () => {
    const env = trustEnv(ca, '/b/bundle.pem');
    assert.equal(env['NODE_EXTRA_CA_CERTS'], ca.certPath);
    for (const name of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'AWS_CA_BUNDLE']) {
      assert.equal(env[name], '/b/bundle.pem', name);
    }
  });

  test('a Node child with NODE_EXTRA_CA_CERTS trusts our leaves', async () => {
    const leaf = await issueLeafPem(ca, 'localhost');
    const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (s) => s.end('hi\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const script =
      `const s = require('node:tls').connect({ host: '127.0.0.1', port: ${port}, servername: 'localhost' });` +
      `s.on('data', (d) => process.stdout.write(d)); s.on('error', (e) => { console.error(e.code); process.exit(1); });`;
    try {
      const env = { PATH: process.env['PATH'], ...trustEnv(ca, await writeTrustBundle(ca)) };
      assert.equal((await run(process.execPath, ['-e', script], { env })).stdout, 'hi\n');
      await assert.rejects(run(process.execPath, ['-e', script], { env: { PATH: process.env['PATH'] } }));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('encodeJks', () => {
  test('parses back per the JKS layout, with a digest keyed by the password', () => {
    const jks = encodeJks(ca.certPem, { password: 'changeit', now: 1_700_000_000_000 });
    let at = 0;
    const u32 = () => ((at += 4), jks.readUInt32BE(at - 4));
    const utf = () => {
      const len = jks.readUInt16BE(at);
      at += 2 + len;
      return jks.toString('utf8', at - len, at);
    };
    assert.equal(u32(), 0xfeedfeed);
    assert.equal(u32(), 2); // version
    assert.equal(u32(), 1); // entries
    assert.equal(u32(), 2); // trusted certificate entry
    assert.equal(utf(), 'tapwire-ca');
    assert.equal(jks.readBigUInt64BE(at), 1_700_000_000_000n);
    at += 8;
    assert.equal(utf(), 'X.509');
    const len = u32();
    assert.deepEqual(jks.subarray(at, at + len), new X509Certificate(ca.certPem).raw);
    at += len;
    assert.equal(jks.length, at + 20);
    const body = jks.subarray(0, at);
    assert.deepEqual(jks.subarray(at), jksDigest(body, 'changeit'));
    assert.notDeepEqual(jks.subarray(at), jksDigest(body, 'changeme'));
  });

  test('keytool reads it with the password and refuses it without', async (t) => {
    const keytool = await run('keytool', ['-help']).then(
      () => true,
      () => false,
    );
    if (!keytool) return t.skip('no keytool (Java) on this machine');
    const file = join(root, 'trust.jks');
    writeFileSync(file, encodeJks(ca.certPem, { password: 'secret1' }));
    const { stdout } = await run('keytool', ['-list', '-v', '-keystore', file, '-storepass', 'secret1']);
    assert.match(stdout, /Keystore type: JKS/);
    assert.match(stdout, /Alias name: tapwire-ca\nCreation date: .*\nEntry type: trustedCertEntry/);
    assert.match(stdout, new RegExp(`SHA256: ${ca.fingerprint256}`));
    await assert.rejects(
      run('keytool', ['-list', '-keystore', file, '-storepass', 'wrong-password']),
      // keytool reports on stdout and exits 1.
      (err: { stdout?: string }) => /password was incorrect/.test(err.stdout ?? ''),
    );
  });
});
