/**
 * Reads a TLS ClientHello from the first bytes of a connection without consuming them: the
 * caller keeps buffering and calling until the verdict is not `need-more`, then forwards or
 * intercepts the very same bytes. It gives the SNI (which leaf certificate to mint, where a
 * transparent connection was going), ALPN (h2 or http/1.1 behind the TLS) and versions.
 *
 * A ClientHello may be split over several TLS records (RFC 8446 §5.1 allows any
 * fragmentation of handshake messages) and over any number of TCP reads; both are handled.
 * The total is capped at 64 KiB of record bytes so a peer cannot make the caller buffer more.
 */

export type ClientHelloResult =
  /** A prefix of a ClientHello so far: read more and call again with everything. */
  | { status: 'need-more' }
  /** The first bytes are not a TLS handshake record: treat the stream as something else. */
  | { status: 'not-tls' }
  /** It starts like TLS but breaks the format or the cap. */
  | { status: 'invalid'; reason: string }
  | {
      status: 'ok';
      /** The first host_name of the server_name extension, as sent. */
      sni?: string;
      /** Protocols offered by application_layer_protocol_negotiation, in the client's order. */
      alpn?: string[];
      /** ClientHello.legacy_version: TLSv1.2 for every TLS 1.3 client. */
      legacyVersion: string;
      /** The supported_versions extension without GREASE values, when present. */
      supportedVersions?: string[];
      /** Bytes of `buf` (record headers included) up to the end of the record ending the hello. */
      length: number;
    };

/** Largest number of record bytes a ClientHello may span. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

const RECORD_HANDSHAKE = 0x16;
const RECORD_HEADER = 5;
/** TLSPlaintext.length must not exceed 2^14 (RFC 8446 §5.1). */
const MAX_RECORD_PAYLOAD = 16384;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const HANDSHAKE_HEADER = 4;

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const SNI_HOST_NAME = 0;

const versionNames: Record<number, string> = {
  0x0300: 'SSLv3',
  0x0301: 'TLSv1',
  0x0302: 'TLSv1.1',
  0x0303: 'TLSv1.2',
  0x0304: 'TLSv1.3',
};

/** Node's names (`tlsSocket.getProtocol()`); anything else as hex, e.g. a draft `0x7f1c`. */
export function tlsVersionName(version: number): string {
  return versionNames[version] ?? `0x${version.toString(16).padStart(4, '0')}`;
}

/** GREASE values (RFC 8701) are 0x?a?a with equal bytes: noise by design, never reported. */
function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);
}

/** Whether a record header's version bytes could be TLS (SSLv3 up to TLS 1.3). */
function isRecordVersion(major: number | undefined, minor: number | undefined): boolean {
  return major === 0x03 && minor !== undefined && minor <= 0x04;
}

export function parseClientHello(buf: Buffer): ClientHelloResult {
  // The first three bytes decide between "not TLS at all" and everything else.
  if (buf.length === 0) return { status: 'need-more' };
  if (buf[0] !== RECORD_HANDSHAKE) return { status: 'not-tls' };
  if (buf.length >= 2 && buf[1] !== 0x03) return { status: 'not-tls' };
  if (buf.length >= 3 && !isRecordVersion(buf[1], buf[2])) return { status: 'not-tls' };

  const fragments: Buffer[] = [];
  let collected = 0;
  let messageLength: number | undefined;
  for (let offset = 0; ;) {
    if (buf.length < offset + RECORD_HEADER) return { status: 'need-more' };
    const type = buf[offset];
    if (type !== RECORD_HANDSHAKE) return invalid(`record of type ${type} inside the ClientHello`);
    if (!isRecordVersion(buf[offset + 1], buf[offset + 2])) return invalid('record version is not TLS');
    const payloadLength = buf.readUInt16BE(offset + 3);
    if (payloadLength === 0) return invalid('empty handshake record');
    if (payloadLength > MAX_RECORD_PAYLOAD) return invalid(`record of ${payloadLength} bytes exceeds 16384`);
    const end = offset + RECORD_HEADER + payloadLength;
    if (end > MAX_CLIENT_HELLO_BYTES) return invalid(`ClientHello exceeds ${MAX_CLIENT_HELLO_BYTES} bytes`);

    // Look at what has arrived of this record so the message header is checked early.
    const fragment = buf.subarray(offset + RECORD_HEADER, Math.min(end, buf.length));
    fragments.push(fragment);
    collected += fragment.length;
    // Records before this one were complete and non-empty, so a collected byte is in fragments[0].
    const first = fragments[0]?.[0];
    if (first !== undefined && first !== HANDSHAKE_CLIENT_HELLO) {
      return invalid(`first handshake message has type ${first}`);
    }
    if (messageLength === undefined && collected >= HANDSHAKE_HEADER) {
      const header = Buffer.concat(fragments).subarray(0, HANDSHAKE_HEADER);
      messageLength = header.readUIntBE(1, 3);
      if (HANDSHAKE_HEADER + messageLength > MAX_CLIENT_HELLO_BYTES) {
        return invalid(`ClientHello of ${messageLength} bytes exceeds ${MAX_CLIENT_HELLO_BYTES}`);
      }
    }
    if (end > buf.length) return { status: 'need-more' };
    if (messageLength !== undefined && collected >= HANDSHAKE_HEADER + messageLength) {
      // Bytes after the hello in its last record are tolerated: a passive reader is not the
      // peer that must reject them, and the record boundary is what `length` reports.
      const message = Buffer.concat(fragments).subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + messageLength);
      return parseBody(message, end);
    }
    offset = end;
  }
}

function invalid(reason: string): ClientHelloResult {
  return { status: 'invalid', reason };
}

/** A bounds-checked reader; reading past the end throws Short, caught in parseBody. */
class Short extends Error {}

class Reader {
  constructor(
    private readonly buf: Buffer,
    public offset = 0,
  ) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  u8(): number {
    return this.take(1)[0] as number;
  }

  u16(): number {
    return this.take(2).readUInt16BE(0);
  }

  take(n: number): Buffer {
    if (n > this.remaining) throw new Short();
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  rest(): Buffer {
    return this.take(this.remaining);
  }

  /** A vector with a 1- or 2-byte length prefix, as a sub-reader. */
  vector(lengthBytes: 1 | 2): Reader {
    return new Reader(this.take(lengthBytes === 1 ? this.u8() : this.u16()));
  }
}

/** ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2). */
function parseBody(message: Buffer, length: number): ClientHelloResult {
  try {
    const r = new Reader(message);
    const legacyVersion = r.u16();
    r.take(32); // random
    const sessionId = r.vector(1);
    if (sessionId.remaining > 32) return invalid('session id longer than 32 bytes');
    const suites = r.vector(2);
    if (suites.remaining < 2 || suites.remaining % 2 !== 0) return invalid('malformed cipher_suites');
    const compression = r.vector(1);
    if (compression.remaining < 1) return invalid('empty compression_methods');
    const result: ClientHelloResult & { status: 'ok' } = {
      status: 'ok',
      legacyVersion: tlsVersionName(legacyVersion),
      length,
    };
    // Before TLS 1.2 extensions are optional: no bytes left means none.
    if (r.remaining === 0) return result;
    const extensions = r.vector(2);
    if (r.remaining !== 0) return invalid('bytes after the extensions');
    const seen = new Set<number>();
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const data = extensions.vector(2);
      if (seen.has(type)) return invalid(`extension ${type} appears twice`);
      seen.add(type);
      const problem = readExtension(type, data, result);
      if (problem) return invalid(problem);
    }
    return result;
  } catch (err) {
    if (err instanceof Short) return invalid('ClientHello field runs past its end');
    throw err;
  }
}

/** Fills `result` from one extension; returns a reason when the extension is malformed. */
function readExtension(type: number, data: Reader, result: ClientHelloResult & { status: 'ok' }): string | undefined {
  if (type === EXT_SERVER_NAME) {
    const list = data.vector(2);
    if (data.remaining !== 0 || list.remaining === 0) return 'malformed server_name';
    while (list.remaining > 0) {
      const nameType = list.u8();
      const name = list.vector(2).rest();
      if (nameType !== SNI_HOST_NAME || result.sni !== undefined) continue;
      // RFC 6066: an ASCII DNS name. Anything else would end up in certificates, records
      // and log lines, so it is refused rather than carried along.
      if (name.length === 0 || name.length > 255 || !/^[\x21-\x7e]+$/.test(name.toString('latin1'))) {
        return 'server_name host_name is not an ASCII hostname';
      }
      result.sni = name.toString('latin1');
    }
  } else if (type === EXT_ALPN) {
    const list = data.vector(2);
    if (data.remaining !== 0 || list.remaining < 2) return 'malformed application_layer_protocol_negotiation';
    const protocols: string[] = [];
    while (list.remaining > 0) {
      const name = list.vector(1).rest();
      if (name.length === 0) return 'empty ALPN protocol name';
      protocols.push(name.toString('latin1'));
    }
    result.alpn = protocols;
  } else if (type === EXT_SUPPORTED_VERSIONS) {
    const list = data.vector(1);
    if (data.remaining !== 0 || list.remaining < 2 || list.remaining % 2 !== 0) return 'malformed supported_versions';
    const versions: string[] = [];
    while (list.remaining > 0) {
      const version = list.u16();
      if (!isGrease(version)) versions.push(tlsVersionName(version));
    }
    result.supportedVersions = versions;
  }
  return undefined;
}
