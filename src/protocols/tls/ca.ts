/**
 * The local certificate authority that TLS interception signs its per-host leaves with: an
 * ECDSA P-256 root kept in a directory (default ~/.tapwire/ca) as `ca.pem` (the certificate apps
 * are told to trust) and `ca-key.pem` (PKCS#8, readable by the owner only).
 *
 * Created on first use, like mitmproxy, so `tapwire record` works without a setup step; kept
 * afterwards, because every app and trust store that was told to trust it would have to be told
 * again.
 */
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which throws at import unless the
// Reflect metadata API exists; this import must come before the library's.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  X509Certificate as NodeX509,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import { CaInvalidError, CaMissingError, FileUnwritableError } from '../../errors.ts';

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';

/** How a CA key signs (ours is ECDSA P-256; an RSA or P-384 CA put in the directory works too). */
export type SigningAlgorithm =
  | { name: 'ECDSA'; namedCurve: 'P-256' | 'P-384'; hash: 'SHA-256' | 'SHA-384' }
  | { name: 'RSASSA-PKCS1-v1_5'; hash: 'SHA-256' };

export interface LocalCa {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  /** The CA certificate, parsed (issuer name and key identifier of every leaf come from it). */
  cert: x509.X509Certificate;
  /** The CA private key for WebCrypto (and @peculiar/x509), usable for signing only. */
  privateKey: webcrypto.CryptoKey;
  /** The same key for node:crypto's synchronous sign(), which the per-host leaf path uses. */
  signingKey: KeyObject;
  /** How the key signs (`hash` included). */
  signingAlgorithm: SigningAlgorithm;
  /** Subject key identifier (hex): every leaf's authorityKeyIdentifier. */
  keyId: string;
  subject: string;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated upper-case hex, as browsers and `openssl x509 -fingerprint` show it. */
  fingerprint256: string;
}

const EC_P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const CA_YEARS = 10;
/** The CA is valid from a day ago: a container or VM whose clock lags must still accept it. */
const CA_BACKDATE_MS = 24 * 60 * 60 * 1000;

/** Where the CA lives: TAPWIRE_CA, else ~/.tapwire/ca (a `--ca DIR` flag overrides both, in the CLI). */
export function defaultCaDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['TAPWIRE_CA'];
  if (fromEnv) return path.resolve(fromEnv);
  // HOME first so that a test (or `sudo -E`) can move it; homedir() reads the password database.
  return path.join(env['HOME'] || homedir(), '.tapwire', 'ca');
}

function pathsOf(dir: string): { dir: string; certPath: string; keyPath: string } {
  const abs = path.resolve(dir);
  return { dir: abs, certPath: path.join(abs, CA_CERT_FILE), keyPath: path.join(abs, CA_KEY_FILE) };
}

/** Loads the CA in `dir`; CaMissingError when there is none, CaInvalidError when it cannot be used. */
export async function loadCa(dir: string): Promise<LocalCa> {
  const paths = pathsOf(dir);
  const [cert, key] = await Promise.all([readCaFile(paths.certPath, paths.dir), readCaFile(paths.keyPath, paths.dir)]);
  if (cert === undefined && key === undefined) throw new CaMissingError(paths.dir);
  // Half a CA (a crash mid-creation, a file deleted by hand) is not "no CA": creating one over
  // it would fail or, worse, orphan a key apps already trust.
  if (cert === undefined)
    throw new CaInvalidError(paths.dir, `${paths.keyPath} is there but ${paths.certPath} is missing`);
  if (key === undefined)
    throw new CaInvalidError(paths.dir, `${paths.certPath} is there but ${paths.keyPath} is missing`);
  return parseCa(paths, cert, key);
}

/**
 * Creates the CA in `dir` unless one is there already (then it is loaded and kept); `force`
 * replaces it. `created` says which happened.
 */
export async function initCa(dir: string, opts: { force?: boolean } = {}): Promise<{ ca: LocalCa; created: boolean }> {
  const paths = pathsOf(dir);
  if (!opts.force) {
    try {
      return { ca: await loadCa(paths.dir), created: false };
    } catch (err) {
      if (!(err instanceof CaMissingError)) throw err;
    }
  }
  const { certPem, keyPem } = await generateCa();
  const won = await install(paths, certPem, keyPem, opts.force === true);
  // Another process created the CA between our check and our write: use theirs.
  if (!won) return { ca: await loadCaSoon(paths.dir), created: false };
  return { ca: await parseCa(paths, certPem, keyPem), created: true };
}

/** What `tapwire record` uses: the CA in `dir`, created on first use. */
export async function loadOrInitCa(dir: string): Promise<LocalCa> {
  return (await initCa(dir)).ca;
}

async function generateCa(): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [`tapwire CA (${hostname()})`] }, { O: ['tapwire'] }],
    notBefore: new Date(now - CA_BACKDATE_MS),
    notAfter,
    keys,
    signingAlgorithm: { ...EC_P256, hash: 'SHA-256' } as webcrypto.EcdsaParams,
    extensions: [
      // pathLen 0: this root signs leaves only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n', keyPem: toPem(Buffer.from(pkcs8), 'PRIVATE KEY') };
}

/**
 * Writes the pair into place. Without `force` the key is hard-linked into place, which fails if
 * a key is already there: of two processes creating the CA at once exactly one wins, and the
 * other returns false. The certificate goes last, so a complete cert means a complete pair.
 */
async function install(
  paths: ReturnType<typeof pathsOf>,
  certPem: string,
  keyPem: string,
  force: boolean,
): Promise<boolean> {
  try {
    const made = await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    // Only a directory we made is ours to restrict; --ca could name a shared one.
    if (made !== undefined) await chmod(paths.dir, 0o700);
  } catch (err) {
    throw new FileUnwritableError(paths.dir, errnoText(err), 'choose another directory with --ca DIR or TAPWIRE_CA');
  }
  const tag = `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmpKey = paths.keyPath + tag;
  const tmpCert = paths.certPath + tag;
  try {
    await writeFile(tmpKey, keyPem, { mode: 0o600, flag: 'wx' });
    await chmod(tmpKey, 0o600); // in case a umask or ACL widened it
    await writeFile(tmpCert, certPem, { mode: 0o644, flag: 'wx' });
    if (force) {
      await rename(tmpKey, paths.keyPath);
    } else {
      try {
        await link(tmpKey, paths.keyPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      }
    }
    await rename(tmpCert, paths.certPath);
    return true;
  } catch (err) {
    throw new FileUnwritableError(paths.dir, errnoText(err), 'choose another directory with --ca DIR or TAPWIRE_CA');
  } finally {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
  }
}

/** After losing the creation race the winner may still be writing its certificate: wait a little. */
async function loadCaSoon(dir: string): Promise<LocalCa> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await loadCa(dir);
    } catch (err) {
      // The winner links the key before it renames the certificate into place.
      const incomplete =
        err instanceof CaMissingError || (err instanceof CaInvalidError && err.reason.endsWith('is missing'));
      if (!incomplete || attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** The file's text, or undefined when it does not exist. */
async function readCaFile(file: string, dir: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaInvalidError(dir, `cannot read ${file}: ${errnoText(err)}`, { cause: err });
  }
}

async function parseCa(paths: ReturnType<typeof pathsOf>, certPem: string, keyPem: string): Promise<LocalCa> {
  let cert: x509.X509Certificate;
  let nodeCert: NodeX509;
  try {
    nodeCert = new NodeX509(certPem);
    cert = new x509.X509Certificate(nodeCert.raw);
  } catch (err) {
    throw new CaInvalidError(paths.dir, `${paths.certPath} is not a PEM certificate`, { cause: err });
  }
  if (!nodeCert.ca) throw new CaInvalidError(paths.dir, `${paths.certPath} is not a CA certificate (CA:FALSE)`);

  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch (err) {
    throw new CaInvalidError(paths.dir, `${paths.keyPath} is not a PEM private key`, { cause: err });
  }
  // A key from another CA would sign leaves that no client built to trust ca.pem accepts.
  const keySpki = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  const certSpki = nodeCert.publicKey.export({ type: 'spki', format: 'der' });
  if (!keySpki.equals(certSpki)) {
    throw new CaInvalidError(paths.dir, `${paths.keyPath} does not belong to the certificate ${paths.certPath}`);
  }
  const signingAlgorithm = algorithmOf(keyObject.asymmetricKeyType, keyObject.asymmetricKeyDetails?.namedCurve);
  if (!signingAlgorithm) {
    throw new CaInvalidError(
      paths.dir,
      `${paths.keyPath} is a ${keyObject.asymmetricKeyType ?? 'unknown'} key; tapwire signs with ECDSA P-256/P-384 or RSA`,
    );
  }
  const privateKey = await webcrypto.subtle.importKey(
    'pkcs8',
    keyObject.export({ type: 'pkcs8', format: 'der' }),
    signingAlgorithm,
    false,
    ['sign'],
  );
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
  return {
    ...paths,
    certPem,
    cert,
    privateKey,
    signingKey: keyObject,
    signingAlgorithm,
    keyId,
    subject: cert.subject,
    notAfter: cert.notAfter,
    fingerprint256: nodeCert.fingerprint256,
  };
}

function algorithmOf(type: string | undefined, curve: string | undefined): SigningAlgorithm | undefined {
  if (type === 'ec' && curve === 'prime256v1') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  if (type === 'ec' && curve === 'secp384r1') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  if (type === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return undefined;
}

/** 16 random bytes, first bit clear (serials are positive) and second set (no leading zero byte). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : String(err);
}
