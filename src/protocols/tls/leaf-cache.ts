/**
 * Leaf certificates for TLS interception, issued on the fly per SNI host and kept in a bounded
 * LRU. One key pair serves every leaf of a cache (mitmproxy does the same): generating a key is
 * slow, signing is fast, so a new host costs one ECDSA signature (~0.1 ms) and one SecureContext
 * (~2-3 ms, nearly all of it OpenSSL 3 decoding the PEM key and chain; bench/tls-leaf.ts).
 * The key never leaves the process; the CA certificate is what clients trust.
 */
import 'reflect-metadata'; // before @peculiar/x509: see ca.ts
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { sign, webcrypto } from 'node:crypto';
import tls from 'node:tls';
import { domainToASCII } from 'node:url';
import { randomSerial, toPem, type LocalCa } from './ca.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Leaves start an hour in the past: a client whose clock is a little behind must accept them. */
const BACKDATE_MS = 60 * 60 * 1000;
/** RFC 5280 ub-common-name: longer host names get no CN (the SAN is what clients check). */
const MAX_CN = 64;
const LEAF_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

export interface LeafOptions {
  /** Days a leaf is valid (default 7): short, because a leaf is only ever used by this process. */
  validityDays?: number;
  /** The clock, for tests. */
  now?: () => number;
}

export interface LeafCacheOptions extends LeafOptions {
  /** Hosts kept (default 1000); past it the least recently used is dropped and re-signed on demand. */
  max?: number;
}

export interface LeafCacheStats {
  size: number;
  /** Leaves signed, including reissues. */
  issued: number;
  /** Entries dropped because the cache was full. */
  evicted: number;
  /** Entries signed again because they were close to expiry. */
  renewed: number;
  /** Leaves served from a context made ahead of time (the fast path). */
  readyContexts: number;
}

interface LeafKey {
  keyPem: string;
  /** SubjectPublicKeyInfo DER of the shared public key. */
  spki: Buffer;
  /** Subject key identifier (hex) of the shared key, computed once. */
  keyId: string;
}

interface Entry {
  context: Promise<tls.SecureContext>;
  /** Set once the leaf is signed: when to sign it again. */
  renewAt?: number;
}

/** Key-loaded contexts kept ready for new hosts. */
const SPARE_CONTEXTS = 4;

export class LeafCache {
  readonly max: number;
  readonly validityDays: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private template: Promise<LeafTemplate & { keyPem: string }> | undefined;
  private counters = { issued: 0, evicted: 0, renewed: 0, readyContexts: 0 };

  constructor(
    readonly ca: LocalCa,
    opts: LeafCacheOptions = {},
  ) {
    this.max = Math.max(1, opts.max ?? 1000);
    this.validityDays = opts.validityDays ?? 7;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The SecureContext to present for `host` (an SNI name, or the IP address the client connected
   * to when it sent no SNI). Callers asking for the same host at once share one signing.
   */
  contextFor(host: string): Promise<tls.SecureContext> {
    let name: string;
    try {
      name = normalizeHost(host);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const hit = this.entries.get(name);
    if (hit && (hit.renewAt === undefined || this.now() < hit.renewAt)) {
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.entries.delete(name);
      this.entries.set(name, hit);
      return hit.context;
    }
    if (hit) this.counters.renewed++;
    const entry: Entry = { context: this.issue(name).then((r) => ((entry.renewAt = r.renewAt), r.context)) };
    // A failed signing is not cached: the next handshake for the host tries again.
    entry.context.catch(() => {
      if (this.entries.get(name) === entry) this.entries.delete(name);
    });
    this.entries.delete(name);
    this.entries.set(name, entry);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.counters.evicted++;
    }
    return entry.context;
  }

  /** For an SNICallback: `SNICallback: cache.sniCallback`. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    this.contextFor(servername).then(
      (ctx) => cb(null, ctx),
      (err: Error) => cb(err),
    );
  };

  get size(): number {
    return this.entries.size;
  }

  get stats(): LeafCacheStats {
    return { size: this.entries.size, ...this.counters };
  }

  /**
   * A SecureContext for the shared leaf key and this chain. Most of tls.createSecureContext's
   * cost (several ms on OpenSSL 3.0: SSL_CTX_new and decoding the key) does not depend on the
   * host, so contexts holding only the key are made ahead of time, off the handshake's path, and
   * a new host only adds its certificate chain (~0.5 ms). Node has no public call to set a
   * certificate on an existing context; where the internal one is missing, the full path runs.
   */
  private contextWith(keyPem: string, chainPem: string): tls.SecureContext {
    const ready = this.spare.pop();
    this.refillSpares(keyPem);
    const native = (ready as { context?: { setCert?: (pem: string) => void } } | undefined)?.context;
    if (ready && typeof native?.setCert === 'function') {
      try {
        native.setCert(chainPem);
        this.counters.readyContexts++;
        return ready;
      } catch {
        // fall through to the public path
      }
    }
    return tls.createSecureContext({ key: keyPem, cert: chainPem });
  }

  /** Contexts with the leaf key loaded, waiting for a host (a few: bursts of new hosts are rare). */
  private readonly spare: tls.SecureContext[] = [];
  private refilling = false;

  private refillSpares(keyPem: string): void {
    if (this.refilling) return;
    this.refilling = true;
    const step = () => {
      if (this.spare.length >= SPARE_CONTEXTS) {
        this.refilling = false;
        return;
      }
      try {
        this.spare.push(tls.createSecureContext({ key: keyPem }));
      } catch {
        this.refilling = false;
        return;
      }
      setImmediate(step).unref();
    };
    setImmediate(step).unref();
  }

  private async issue(host: string): Promise<{ context: tls.SecureContext; renewAt: number }> {
    this.template ??= generateLeafKey().then((key) => ({ ...leafTemplate(this.ca, key), keyPem: key.keyPem }));
    // A key generation that failed is retried by the next call rather than cached.
    const template = await this.template.catch((err: unknown) => {
      this.template = undefined;
      throw err;
    });
    const now = this.now();
    const cert = signLeaf(template, host, now, this.validityDays);
    this.counters.issued++;
    // The chain is leaf + CA: a client that has the CA as an anchor needs only the leaf, but
    // some (Java, older OpenSSL with partial-chain quirks) build paths better when it is sent.
    const context = this.contextWith(template.keyPem, toPem(cert.der, 'CERTIFICATE') + this.ca.certPem);
    // Renew when a quarter of the validity is left: a long-lived proxy must never present an
    // expired leaf, and connections opened near the end can last a while.
    return { context, renewAt: cert.notAfter - (cert.notAfter - now) / 4 };
  }
}

/**
 * A leaf for `host` signed by `ca`, as PEM: for tests and for servers that take files (the mock).
 * A fresh key pair unless `opts.keys` gives one.
 */
export async function issueLeafPem(
  ca: LocalCa,
  host: string,
  opts: LeafOptions & { keys?: webcrypto.CryptoKeyPair } = {},
): Promise<{ certPem: string; keyPem: string }> {
  const key = opts.keys ? await leafKeyOf(opts.keys) : await generateLeafKey();
  const cert = signLeaf(leafTemplate(ca, key), normalizeHost(host), (opts.now ?? Date.now)(), opts.validityDays ?? 7);
  return { certPem: toPem(cert.der, 'CERTIFICATE'), keyPem: key.keyPem };
}

/**
 * Lower case, no trailing dot, no IPv6 brackets, punycode for international names: one cache
 * entry per host however it was written, and a name that fits the SAN's IA5String.
 */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(h)) h = domainToASCII(h);
  if (h === '' || /[\s/\\]/.test(h)) {
    throw new TypeError(`a leaf certificate needs a host name or IP address, got ${JSON.stringify(host)}`);
  }
  return h;
}

async function generateLeafKey(): Promise<LeafKey> {
  const pair = (await webcrypto.subtle.generateKey(LEAF_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  return leafKeyOf(pair);
}

async function leafKeyOf(pair: webcrypto.CryptoKeyPair): Promise<LeafKey> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', pair.publicKey));
  const ski = await x509.SubjectKeyIdentifierExtension.create(pair.publicKey);
  return { keyPem: toPem(pkcs8, 'PRIVATE KEY'), spki, keyId: ski.keyId };
}

/*
 * The leaf is DER-encoded here rather than through @peculiar/x509's generator: its schema
 * serializer takes ~4 ms a certificate, most of the budget for a new host. Everything that does
 * not depend on the host is built once per cache (with the library where it is a whole
 * extension) and only serial, validity, subject and SAN are encoded per host, then signed with
 * node:crypto's synchronous sign(), whose ECDSA output is already the DER that X.509 wants.
 */

/** Pre-encoded DER of the parts shared by every leaf of one CA and one key. */
interface LeafTemplate {
  ca: LocalCa;
  signatureAlgorithm: Buffer;
  digest: string;
  issuer: Buffer;
  spki: Buffer;
  /** The extensions that do not name the host: basicConstraints, keyUsage, EKU, SKI, AKI. */
  fixedExtensions: Buffer;
}

function leafTemplate(ca: LocalCa, key: LeafKey): LeafTemplate {
  const hash = ca.signingAlgorithm.hash;
  const fixed = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectKeyIdentifierExtension(key.keyId),
    new x509.AuthorityKeyIdentifierExtension(ca.keyId),
  ].map((e) => Buffer.from(e.rawData));
  return {
    ca,
    signatureAlgorithm: signatureAlgorithmDer(ca.signingAlgorithm.name, hash),
    digest: hash.replace('-', '').toLowerCase(),
    issuer: Buffer.from(ca.cert.subjectName.toArrayBuffer()),
    spki: key.spki,
    fixedExtensions: Buffer.concat(fixed),
  };
}

/** The DER certificate for `host`, valid from an hour before `now` for `validityDays`. */
function signLeaf(t: LeafTemplate, host: string, now: number, validityDays: number): { der: Buffer; notAfter: number } {
  // Never outlive the CA: a chain with a leaf valid past its issuer is rejected by some clients.
  const notAfter = Math.min(now + validityDays * DAY_MS, t.ca.notAfter.getTime());
  const longName = host.length > MAX_CN;
  const tbs = der(
    0x30,
    VERSION_V3,
    der(0x02, Buffer.from(randomSerial(), 'hex')),
    t.signatureAlgorithm,
    t.issuer,
    der(0x30, time(now - BACKDATE_MS), time(notAfter)),
    // No CN for names too long for one; the SAN (then critical, RFC 5280 4.2.1.6) is what clients check.
    longName ? der(0x30, der(0x31, der(0x30, OID_O, der(0x0c, Buffer.from('tapwire'))))) : nameCn(host),
    t.spki,
    der(0xa3, der(0x30, t.fixedExtensions, subjectAltName(host, longName))),
  );
  const signature = sign(t.digest, tbs, t.ca.signingKey);
  const cert = der(0x30, tbs, t.signatureAlgorithm, der(0x03, Buffer.from([0]), signature));
  return { der: cert, notAfter };
}

const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const OID_CN = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
const OID_O = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x0a]);
const OID_SAN = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);
const BOOLEAN_TRUE = Buffer.from([0x01, 0x01, 0xff]);

function signatureAlgorithmDer(name: string, hash: string): Buffer {
  const ecdsa: Record<string, string> = { 'SHA-256': '2a8648ce3d040302', 'SHA-384': '2a8648ce3d040303' };
  if (name === 'ECDSA' && ecdsa[hash]) return der(0x30, der(0x06, Buffer.from(ecdsa[hash], 'hex')));
  // sha256WithRSAEncryption, whose parameters are an explicit NULL.
  if (name === 'RSASSA-PKCS1-v1_5' && hash === 'SHA-256') {
    return der(0x30, der(0x06, Buffer.from('2a864886f70d01010b', 'hex')), Buffer.from([0x05, 0x00]));
  }
  throw new TypeError(`cannot sign leaves with ${name} ${hash}`);
}

function nameCn(host: string): Buffer {
  return der(0x30, der(0x31, der(0x30, OID_CN, der(0x0c, Buffer.from(host)))));
}

function subjectAltName(host: string, critical: boolean): Buffer {
  // An IP literal must be an iPAddress entry to match; the library encodes v4 and v6 octets.
  const names = isIP(host)
    ? Buffer.from(new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: host }]).value)
    : der(0x30, der(0x82, Buffer.from(host, 'ascii')));
  return der(0x30, OID_SAN, ...(critical ? [BOOLEAN_TRUE] : []), der(0x04, names));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2026-11-22T01:19:01.123Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z'; // 20261122011901Z
  const year = Number(iso.slice(0, 4));
  return year < 2050 ? der(0x17, Buffer.from(digits.slice(2))) : der(0x18, Buffer.from(digits));
}

/** One DER TLV (definite length). */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? (content[0] as Buffer) : Buffer.concat(content);
  const n = body.length;
  const head =
    n < 0x80
      ? [tag, n]
      : n < 0x100
        ? [tag, 0x81, n]
        : n < 0x10000
          ? [tag, 0x82, n >> 8, n & 0xff]
          : [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(head), body]);
}
