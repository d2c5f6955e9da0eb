/**
 * Trust, both ways round: which CAs tapwire trusts when it verifies the real upstream servers,
 * and what an app needs (files and environment variables) to trust tapwire's local CA.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { FileUnreadableError, FileUnwritableError } from '../../errors.ts';
import { toPem, type LocalCa } from './ca.ts';

/** Where Linux distributions and macOS keep the system CA bundle (Debian/Alpine, Fedora/RHEL, macOS/BSD). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export const TRUST_BUNDLE_FILE = 'bundle.pem';

/** The first system CA bundle that exists, or undefined (then Node's built-in roots stand in). */
export function systemCaBundlePath(): string | undefined {
  return SYSTEM_BUNDLES.find((file) => existsSync(file));
}

/**
 * The CAs to verify REAL upstream servers with (`tls.connect({ ca })`): the system bundle, else
 * Node's built-in roots, plus each `--upstream-ca` file (PEM, or a single DER certificate).
 * Passing `ca` replaces Node's default store, hence the system CAs are included explicitly;
 * callers should build one SecureContext from the list and reuse it, since parsing ~150
 * certificates per connection is slow.
 */
export function upstreamTrust(extraCaFiles: string[]): string[] {
  return [...systemCas(), ...extraCaFiles.flatMap((file) => readExtraCa(file))];
}

/**
 * Writes `<ca dir>/bundle.pem`, the system CAs followed by ours, and returns its path. The
 * variables that point at it (SSL_CERT_FILE and friends) REPLACE an app's trust store, so our CA
 * alone would cut the app off from every host tapwire does not intercept (--tls-passthrough).
 */
export async function writeTrustBundle(ca: LocalCa): Promise<string> {
  const file = path.join(ca.dir, TRUST_BUNDLE_FILE);
  const body =
    systemCas().join('') + `# tapwire CA: ${ca.subject} (SHA-256 ${ca.fingerprint256})\n` + ca.certPem.trimEnd() + '\n';
  // Write and rename: an app starting while another `tapwire record` rewrites the bundle must
  // never read half of it.
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, body, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new FileUnwritableError(file, (err as Error).message, 'check that the CA directory (--ca DIR) is writable');
  }
  return file;
}

/**
 * The environment that makes common runtimes and tools trust the local CA, for `record --
 * COMMAND` (merged over the app's own environment).
 */
export function trustEnv(ca: LocalCa, bundlePath: string): Record<string, string> {
  return {
    // Node: ADDS these certificates to its built-in roots (read once, at process start).
    NODE_EXTRA_CA_CERTS: ca.certPath,
    // OpenSSL's default file: Python's ssl and urllib, Ruby, PHP, .NET on Linux, and Go on Linux
    // (crypto/x509 reads SSL_CERT_FILE). It replaces the store, hence the whole bundle.
    SSL_CERT_FILE: bundlePath,
    // Python requests (which ships certifi and ignores the system store) and pip through it.
    REQUESTS_CA_BUNDLE: bundlePath,
    // curl's command-line tool, and libcurl bindings that honour it (PHP, R).
    CURL_CA_BUNDLE: bundlePath,
    // Clients with bundles of their own: git over https, the AWS CLI and SDKs (botocore),
    // pip, and gRPC C-core (grpcio, grpc Ruby), which otherwise use only roots compiled in.
    GIT_SSL_CAINFO: bundlePath,
    AWS_CA_BUNDLE: bundlePath,
    PIP_CERT: bundlePath,
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: bundlePath,
    // Deno adds this file to its roots, like NODE_EXTRA_CA_CERTS.
    DENO_CERT: ca.certPath,
  };
}

/** The system bundle split into one PEM per certificate, or Node's built-in roots. */
function systemCas(): string[] {
  const bundle = systemCaBundlePath();
  if (bundle) {
    try {
      const pems = splitPem(readFileSync(bundle, 'utf8'));
      if (pems.length > 0) return pems;
    } catch {
      // An unreadable system bundle is not the user's mistake: Node's roots stand in.
    }
  }
  return tls.rootCertificates.map((pem) => pem.trimEnd() + '\n');
}

function readExtraCa(file: string): string[] {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new FileUnreadableError(
      file,
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message,
      'give --upstream-ca the path of a CA certificate file (PEM)',
    );
  }
  const pems = splitPem(data.toString('latin1'));
  if (pems.length > 0) {
    for (const pem of pems) parseOrThrow(file, pem);
    return pems;
  }
  // Not PEM: perhaps one DER certificate (a .cer or .der exported from a browser or Windows).
  return [toPem(Buffer.from(parseOrThrow(file, data).raw), 'CERTIFICATE')];
}

function parseOrThrow(file: string, data: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(data);
  } catch {
    throw new FileUnreadableError(
      file,
      'no certificate in it (expected PEM "-----BEGIN CERTIFICATE-----" blocks or one DER certificate)',
      'give --upstream-ca the CA certificate that signed the upstream server, in PEM',
    );
  }
}

/** Every `-----BEGIN CERTIFICATE-----` block of a PEM text, each ending with a newline. */
export function splitPem(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => pem + '\n');
}

/**
 * A Java KeyStore (JKS, version 2) holding `certPem` as one trusted-certificate entry, for
 * `-Djavax.net.ssl.trustStore=FILE`. Layout (as sun.security.provider.JavaKeyStore writes it):
 * magic 0xFEEDFEED, version 2, entry count; per entry tag 2 (trusted cert), alias (Java
 * modified UTF-8 with a 16-bit length), creation time (ms, 64-bit), certificate type "X.509",
 * DER length and bytes; then SHA-1 over the password as UTF-16BE, the bytes of "Mighty
 * Aphrodite" and everything before, which keytool checks when given the store password.
 */
export function encodeJks(certPem: string, opts: { alias?: string; password?: string; now?: number } = {}): Buffer {
  const alias = opts.alias ?? 'tapwire-ca';
  const der = Buffer.from(new X509Certificate(certPem).raw);
  const parts: Buffer[] = [u32(0xfeedfeed), u32(2), u32(1), u32(2), javaUtf(alias)];
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(opts.now ?? Date.now()));
  parts.push(time, javaUtf('X.509'), u32(der.length), der);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, jksDigest(body, opts.password ?? 'changeit')]);
}

/** The integrity digest of a JKS body for a password (exported for the round-trip test). */
export function jksDigest(body: Buffer, password: string): Buffer {
  return createHash('sha1')
    .update(Buffer.from(password, 'utf16le').swap16())
    .update('Mighty Aphrodite', 'utf8')
    .update(body)
    .digest();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** DataOutputStream.writeUTF for ASCII text (aliases are ours, so ASCII is all it needs). */
function javaUtf(text: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(text))
    throw new TypeError(`JKS alias must be printable ASCII, got ${JSON.stringify(text)}`);
  const b = Buffer.from(text, 'ascii');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}
