/**
 * Tells from the client's first bytes what a tunnel (CONNECT, SOCKS) or a transparent
 * connection carries, so it can be recorded with the right protocol layer:
 *
 *   tls            a TLS handshake record: 0x16 0x03 0x00–0x04
 *   http2-preface  the HTTP/2 prior-knowledge preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`
 *   http1          a request line: method token, one space, the start of a request-target
 *   unknown        anything else: recorded as raw TCP
 *   need-more      not decided yet: buffer more and call again with all the bytes
 *
 * It answers `http1` only on evidence (a method and the first byte of a target), since a
 * wrong `http1` would feed a binary protocol to the HTTP parser. Protocols where the server
 * speaks first send nothing from the client: the caller's timeout decides those, not this.
 */

export type SniffResult = 'need-more' | 'tls' | 'http1' | 'http2-preface' | 'unknown';

export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Methods that may be followed by any request-target form (authority, absolute, `*`). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Longest method token waited for: UPDATEREDIRECTREF, the longest in the IANA method
 * registry, has 17 characters. Past that without a space the bytes are not HTTP/1.
 */
export const MAX_METHOD_LENGTH = 17;

const SPACE = 0x20;
const SLASH = 0x2f;
const STAR = 0x2a;

/** tchar of RFC 9110 §5.6.2: the characters of a token such as a method. */
function isTchar(b: number): boolean {
  return (
    (b >= 0x30 && b <= 0x39) || // DIGIT
    (b >= 0x41 && b <= 0x5a) || // upper ALPHA
    (b >= 0x61 && b <= 0x7a) || // lower ALPHA
    "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b))
  );
}

/** First byte of any request-target form: origin `/`, asterisk `*`, absolute or authority. */
function startsAnyTarget(b: number): boolean {
  return b === SLASH || b === STAR || b === 0x5b /* [ IPv6 authority */ || isAlphaNum(b);
}

function isAlphaNum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

export function sniffProtocol(buf: Buffer): SniffResult {
  const first = buf[0];
  if (first === undefined) return 'need-more';
  if (first === 0x16) {
    const major = buf[1];
    const minor = buf[2];
    if (major === undefined) return 'need-more';
    if (major !== 0x03) return 'unknown';
    if (minor === undefined) return 'need-more';
    return minor <= 0x04 ? 'tls' : 'unknown';
  }
  // The preface is checked before HTTP/1, whose rules "PRI *" would also satisfy.
  const n = Math.min(buf.length, HTTP2_PREFACE.length);
  if (buf.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
    return n === HTTP2_PREFACE.length ? 'http2-preface' : 'need-more';
  }
  return sniffRequestLine(buf);
}

function sniffRequestLine(buf: Buffer): SniffResult {
  let space = -1;
  for (let i = 0; i < buf.length && i <= MAX_METHOD_LENGTH; i++) {
    const b = buf[i] as number;
    if (b === SPACE) {
      space = i;
      break;
    }
    if (!isTchar(b)) return 'unknown';
  }
  if (space === 0) return 'unknown';
  if (space < 0) return buf.length > MAX_METHOD_LENGTH ? 'unknown' : 'need-more';
  const target = buf[space + 1];
  if (target === undefined) return 'need-more';
  const method = buf.toString('latin1', 0, space);
  if (KNOWN_METHODS.has(method)) return startsAnyTarget(target) ? 'http1' : 'unknown';
  // Any other token (WebDAV, PURGE, …) must be followed by an origin-form path or `*`:
  // text protocols such as Redis inline commands or memcached also read "WORD SPACE word".
  return target === SLASH || target === STAR ? 'http1' : 'unknown';
}
