import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CaInvalidError, CaMissingError } from '../../errors.ts';
import { defaultCaDir, initCa, loadCa, loadOrInitCa } from './ca.ts';

const run = promisify(execFile);

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'tapwire-ca-'));
});
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `ca-${++n}`);

describe('defaultCaDir', () => {
  test('TAPWIRE_CA wins over HOME, which wins over the password database', () => {
    assert.equal(defaultCaDir({ TAPWIRE_CA: '/x/ca', HOME: '/home/u' }), '/x/ca');
    assert.equal(defaultCaDir({ HOME: '/home/u' }), '/home/u/.tapwire/ca');
  });
});

describe('initCa', () => {
  test('creates an ECDSA P-256 root that openssl reads as a CA, key 0600 in a 0700 directory', async () => {
    const dir = fresh();
    const { ca, created } = await initCa(dir);
    assert.equal(created, true);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(ca.keyPath).mode & 0o777, 0o600);
    assert.equal(ca.certPath, join(dir, 'ca.pem'));
    assert.equal(readFileSync(ca.certPath, 'utf8'), ca.certPem);

    const { stdout: text } = await run('openssl', ['x509', '-in', ca.certPath, '-noout', '-text']);
    assert.match(text, /Subject: CN = tapwire CA \(.+\), O = tapwire/);
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(text, /X509v3 Subject Key Identifier:/);
    // A self-signed root verifies against itself; the key file is a PKCS#8 EC key.
    assert.match((await run('openssl', ['verify', '-CAfile', ca.certPath, ca.certPath])).stdout, /: OK/);
    const { stdout: key } = await run('openssl', ['pkey', '-in', ca.keyPath, '-noout', '-text']);
    assert.match(key, /NIST CURVE: P-256/);
    assert.match(readFileSync(ca.keyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);

    const years = (ca.notAfter.getTime() - Date.now()) / (365.25 * 24 * 3600 * 1000);
    assert.ok(years > 9.9 && years <= 10.01, `valid for ${years} years`);
    assert.equal(ca.fingerprint256, new X509Certificate(ca.certPem).fingerprint256);
    assert.match(new X509Certificate(ca.certPem).serialNumber, /^[0-9A-F]{32}$/);
  });

  test('keeps an existing CA, replaces it only with force', async () => {
    const dir = fresh();
    const first = await initCa(dir);
    const again = await initCa(dir);
    assert.equal(again.created, false);
    assert.equal(again.ca.fingerprint256, first.ca.fingerprint256);
    const forced = await initCa(dir, { force: true });
    assert.equal(forced.created, true);
    assert.notEqual(forced.ca.fingerprint256, first.ca.fingerprint256);
    assert.equal((await loadCa(dir)).fingerprint256, forced.ca.fingerprint256);
  });

  test('processes creating the CA at once end up with one CA', async () => {
    const dir = fresh();
    const results = await Promise.all([initCa(dir), initCa(dir), initCa(dir), loadOrInitCa(dir)]);
    const prints = new Set(results.map((r) => ('ca' in r ? r.ca : r).fingerprint256));
    assert.equal(prints.size, 1);
    assert.equal((await loadCa(dir)).fingerprint256, [...prints][0]);
    assert.ok(results.filter((r) => 'created' in r && r.created).length <= 1);
  });
});

describe('loadCa', () => {
  test('no CA: CaMissingError that says to run certs init', async () => {
    const dir = fresh();
    await assert.rejects(loadCa(dir), (err: unknown) => {
      assert.ok(err instanceof CaMissingError);
      assert.equal(err.code, 'TW_CA_MISSING');
      assert.match(err.describe(), /no tapwire CA in .*\n {2}hint: run "tapwire certs init"/);
      return true;
    });
  });

  test('loadOrInitCa creates on first use, then loads the same CA', async () => {
    const dir = fresh();
    const a = await loadOrInitCa(dir);
    const b = await loadOrInitCa(dir);
    assert.equal(a.fingerprint256, b.fingerprint256);
  });

  test('half a CA, a corrupt file, or a key of another CA: CaInvalidError naming the problem', async () => {
    const other = (await initCa(fresh())).ca;
    const cases: [string, (dir: string) => void, RegExp][] = [
      ['key without cert', (d) => unlinkSync(join(d, 'ca.pem')), /ca-key\.pem is there but .*ca\.pem is missing/],
      ['cert without key', (d) => unlinkSync(join(d, 'ca-key.pem')), /ca\.pem is there but .*ca-key\.pem is missing/],
      ['not a cert', (d) => writeFileSync(join(d, 'ca.pem'), 'hello'), /ca\.pem is not a PEM certificate/],
      ['not a key', (d) => writeFileSync(join(d, 'ca-key.pem'), 'hello'), /ca-key\.pem is not a PEM private key/],
      [
        'key of another CA',
        (d) => writeFileSync(join(d, 'ca-key.pem'), readFileSync(other.keyPath)),
        /does not belong to the certificate/,
      ],
    ];
    for (const [name, damage, message] of cases) {
      const dir = fresh();
      await initCa(dir);
      damage(dir);
      await assert.rejects(
        loadCa(dir),
        (err: unknown) => err instanceof CaInvalidError && err.code === 'TW_CA_INVALID' && message.test(err.message),
        name,
      );
      // init does not paper over a damaged CA either: it reports it.
      await assert.rejects(initCa(dir), CaInvalidError, name);
    }
  });
});
