/**
 * The "real world" side of TLS tests: an origin CA of its own (not tapwire's), leaves for hosts
 * (also expired or for another host), HTTPS and HTTP/2 origins that serve with them, and files
 * in a temporary folder for the tools that read PEM paths (curl, python, --upstream-ca).
 */
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Origin } from './peers.ts';

type KeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;

export interface Leaf {
  certPem: string;
  keyPem: string;
}

export interface OriginPki {
  dir: string;
  /** Path of the origin CA's certificate (what a client trusts to reach the origin directly). */
  caFile: string;
  caPem: string;
  issue(host: string, validity?: { notBefore?: Date; notAfter?: Date }): Promise<Leaf>;
  cleanup(): void;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

export async function makeOriginPki(): Promise<OriginPki> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tapwire-origin-pki-'));
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=origin test CA',
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPem = ca.toString('pem') + '\n';
  const caFile = path.join(dir, 'origin-ca.pem');
  writeFileSync(caFile, caPem);
  let serial = 1;
  return {
    dir,
    caFile,
    caPem,
    async issue(host, validity = {}) {
      const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
      const san = net.isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host };
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (++serial).toString(16).padStart(2, '0'),
        subject: `CN=${host}`,
        issuer: ca.subject,
        notBefore: validity.notBefore ?? new Date(Date.now() - DAY),
        notAfter: validity.notAfter ?? new Date(Date.now() + 7 * DAY),
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.SubjectAlternativeNameExtension([san]),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          await x509.AuthorityKeyIdentifierExtension.create(ca),
        ],
      });
      const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
      return { certPem: cert.toString('pem') + '\n' + caPem, keyPem: pem('PRIVATE KEY', keyDer) };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** An HTTPS/1.1 origin on 127.0.0.1 (ALPN http/1.1 only, like most HTTP/1 servers). */
export async function startHttpsOrigin(leaf: Leaf, handler: http.RequestListener): Promise<Origin> {
  const server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, handler);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `https://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as Origin;
}

/** An HTTP/2 origin over TLS (ALPN h2, and http/1.1 for clients that only speak that). */
export async function startH2Origin(
  leaf: Leaf,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<Origin> {
  const server = http2.createSecureServer({ key: leaf.keyPem, cert: leaf.certPem, allowHTTP1: true });
  server.on('stream', onStream);
  server.on('tlsClientError', () => undefined);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `https://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  } as Origin;
}

/** Writes text to a file in `dir` and returns its path. */
export function writeTemp(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/**
 * A CONNECT tunnel through the proxy as a bare socket, ready to be wrapped in TLS: the proxy's
 * answer is read and nothing after it is consumed.
 */
export function connectThrough(proxyPort: number, authority: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.pause();
      const status = head.toString('latin1', 0, end);
      if (!/^HTTP\/1\.1 200/.test(status)) {
        socket.destroy();
        reject(new Error(`CONNECT refused: ${status}`));
        return;
      }
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
  });
}
