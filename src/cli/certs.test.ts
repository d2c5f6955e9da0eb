import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../../test/helpers/cli.ts';

const run = promisify(execFile);

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'tapwire-cli-certs-'));
});
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh home whose default CA directory does not exist yet. */
const freshHome = () => join(root, `home-${++n}`);

describe('tapwire certs', () => {
  test('path before init: exit 1, TW_CA_MISSING, and the command that fixes it', async () => {
    const home = freshHome();
    const r = await runCli(['certs', 'path'], { env: { HOME: home } });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no tapwire CA in .*\.tapwire\/ca\n {2}hint: run "tapwire certs init".*\[TW_CA_MISSING\]/);
    assert.equal(existsSync(join(home, '.tapwire')), false);
  });

  test('init creates the CA in ~/.tapwire/ca, says how to trust it, and keeps it on a second run', async () => {
    const home = freshHome();
    const dir = join(home, '.tapwire', 'ca');
    const first = await runCli(['certs', 'init'], { env: { HOME: home } });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^Created a new tapwire CA in ${dir}\n`));
    assert.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
    for (const hint of [
      `NODE_EXTRA_CA_CERTS=${dir}/ca.pem`,
      `curl --cacert ${dir}/ca.pem`,
      'ssl.create_default_context(cafile=',
      `point them at ${dir}/bundle.pem`,
      '/usr/local/share/ca-certificates/tapwire.crt && sudo update-ca-certificates',
      'keytool -importcert',
      'tapwire certs export --jks',
    ]) {
      assert.ok(first.stdout.includes(hint), `init output mentions ${hint}`);
    }
    assert.ok(existsSync(join(dir, 'bundle.pem')));
    const print = new X509Certificate(readFileSync(join(dir, 'ca.pem'))).fingerprint256;
    assert.ok(first.stdout.includes(print));

    const again = await runCli(['certs', 'init'], { env: { HOME: home } });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^Using the existing tapwire CA/);
    assert.match(again.stdout, /--force replaces it/);
    assert.equal(new X509Certificate(readFileSync(join(dir, 'ca.pem'))).fingerprint256, print);

    const forced = await runCli(['certs', 'init', '--force'], { env: { HOME: home } });
    assert.match(forced.stdout, /^Created a new tapwire CA/);
    assert.notEqual(new X509Certificate(readFileSync(join(dir, 'ca.pem'))).fingerprint256, print);
  });

  test('--ca beats TAPWIRE_CA, which beats HOME; relative --ca is from the working directory', async () => {
    const home = freshHome();
    const envDir = join(root, `env-ca-${n}`);
    const env = { HOME: home, TAPWIRE_CA: envDir };
    assert.equal((await runCli(['certs', 'init'], { env })).code, 0);
    assert.equal((await runCli(['certs', 'path'], { env })).stdout, join(envDir, 'ca.pem') + '\n');
    assert.equal(existsSync(join(home, '.tapwire')), false);

    const r = await runCli(['certs', 'init', '--ca', 'flag-ca'], { env, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    const p = await runCli(['certs', 'path', '--ca', 'flag-ca'], { env, cwd: root });
    assert.equal(p.stdout, join(root, 'flag-ca', 'ca.pem') + '\n');
  });

  test('export: PEM to stdout, DER to a file openssl reads, and a JKS trust store', async () => {
    const dir = join(root, 'export-ca');
    const env = { TAPWIRE_CA: dir };
    await runCli(['certs', 'init'], { env });
    const pem = readFileSync(join(dir, 'ca.pem'), 'utf8');

    const out = await runCli(['certs', 'export'], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, pem);
    assert.doesNotMatch(out.stdout, /PRIVATE KEY/);

    const der = join(root, 'ca.cer');
    const d = await runCli(['certs', 'export', '--format', 'der', '-o', der], { env });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /wrote .*ca\.cer \(DER\)/);
    const { stdout } = await run('openssl', ['x509', '-inform', 'der', '-in', der, '-noout', '-subject']);
    assert.match(stdout, /subject=CN = tapwire CA/);

    const binary = await runCli(['certs', 'export', '--format', 'der'], { env });
    assert.equal(binary.code, 2);
    assert.match(binary.stderr, /give a file with -o FILE \[TW_USAGE\]/);

    const jks = join(root, 'trust.jks');
    const j = await runCli(['certs', 'export', '--jks', jks, '--storepass', 's3cret'], { env });
    assert.equal(j.code, 0, j.stderr);
    assert.equal(j.stdout, '');
    assert.equal(readFileSync(jks).readUInt32BE(0), 0xfeedfeed);
    // keytool (when Java is installed) is the real reader.
    const keytool = await run('keytool', ['-list', '-keystore', jks, '-storepass', 's3cret']).catch(() => undefined);
    if (keytool) assert.match(keytool.stdout, /tapwire-ca, .*trustedCertEntry/);
  });

  test('--help teaches: examples and the Java steps', async () => {
    const help = await runCli(['certs', 'export', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /keytool -importcert -noprompt -cacerts -storepass changeit -alias tapwire-ca/);
    assert.match(help.stdout, /-Djavax\.net\.ssl\.trustStore=/);
    assert.match(help.stdout, /Examples:/);
    const top = await runCli(['certs', '--help']);
    assert.match(top.stdout, /init .*\n.*path/s);
    assert.match(top.stdout, /tapwire certs export --jks truststore\.jks/);
  });
});
