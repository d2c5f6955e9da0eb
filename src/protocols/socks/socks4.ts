/**
 * SOCKS4 and SOCKS4a requests, server side. The request is one message:
 *   VN=4 CD DSTPORT(2) DSTIP(4) USERID NUL            (SOCKS4)
 *   VN=4 CD DSTPORT(2) 0.0.0.x  USERID NUL DOMAIN NUL (SOCKS4a, x ≠ 0)
 * The NUL-terminated fields have no length prefix, so each is capped at 255 bytes: a client
 * that never sends the NUL is refused instead of being buffered without bound.
 */
import { formatIPv4, isAcceptableDomain, socks4BoundIp } from './address.ts';
import { NEED_MORE, type Parsed, type SocksTarget } from './types.ts';

export const SOCKS4_VERSION = 0x04;
/** The reply's VN byte is 0, not 4. */
const REPLY_VERSION = 0x00;
export const SOCKS4_GRANTED = 0x5a;
/** "Rejected or failed": the only code that fits anything but identd problems. */
export const SOCKS4_REJECTED = 0x5b;

const CMD_CONNECT = 0x01;
const CMD_BIND = 0x02;
/** Longest USERID or DOMAIN accepted, without its terminating NUL. */
export const SOCKS4_MAX_FIELD = 255;

export interface Socks4Request {
  target: SocksTarget;
  user?: string;
}

/** VN CD DSTPORT DSTIP: the reply to a SOCKS4 request; port and address are informational. */
export function socks4Reply(code: number, bound?: { host: string; port: number }): Buffer {
  const out = Buffer.alloc(8);
  out[0] = REPLY_VERSION;
  out[1] = code;
  const port = bound && Number.isInteger(bound.port) && bound.port >= 0 && bound.port <= 0xffff ? bound.port : 0;
  out.writeUInt16BE(port, 2);
  socks4BoundIp(bound?.host).copy(out, 4);
  return out;
}

const reject = (reason: string): Parsed<never> => ({ kind: 'error', reason, reply: socks4Reply(SOCKS4_REJECTED) });

/**
 * Finds the NUL ending a field that starts at `from`: its index, 'need-more' while the field
 * may still end within the cap, or 'too-long'.
 */
function findTerminator(buf: Buffer, from: number): number | 'need-more' | 'too-long' {
  const limit = Math.min(buf.length, from + SOCKS4_MAX_FIELD + 1);
  const at = buf.subarray(from, limit).indexOf(0);
  if (at >= 0) return from + at;
  return buf.length >= from + SOCKS4_MAX_FIELD + 1 ? 'too-long' : 'need-more';
}

export function parseSocks4Request(buf: Buffer): Parsed<Socks4Request> {
  if (buf.length < 1) return NEED_MORE;
  if (buf[0] !== SOCKS4_VERSION) return reject(`SOCKS4 request has version ${buf[0]}`);
  if (buf.length < 2) return NEED_MORE;
  const command = buf[1];
  if (command !== CMD_CONNECT) {
    const name = command === CMD_BIND ? 'BIND' : `command ${command}`;
    return reject(`SOCKS4 ${name} is not supported (CONNECT only)`);
  }
  if (buf.length < 4) return NEED_MORE;
  const port = buf.readUInt16BE(2);
  if (port === 0) return reject('SOCKS4 request targets port 0');
  if (buf.length < 8) return NEED_MORE;

  const userEnd = findTerminator(buf, 8);
  if (userEnd === 'need-more') return NEED_MORE;
  if (userEnd === 'too-long') return reject(`SOCKS4 userid is longer than ${SOCKS4_MAX_FIELD} bytes`);
  const userid = buf.toString('utf8', 8, userEnd);
  const user = userid === '' ? {} : { user: userid };

  // SOCKS4a: an address 0.0.0.x with x ≠ 0 is a marker that a domain follows the userid.
  const isSocks4a = buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0;
  if (!isSocks4a) {
    return {
      kind: 'ok',
      value: { target: { host: formatIPv4(buf, 4), port, addressType: 'ipv4' }, ...user },
      size: userEnd + 1,
    };
  }
  const domainEnd = findTerminator(buf, userEnd + 1);
  if (domainEnd === 'need-more') return NEED_MORE;
  if (domainEnd === 'too-long') return reject(`SOCKS4a domain is longer than ${SOCKS4_MAX_FIELD} bytes`);
  const host = buf.toString('latin1', userEnd + 1, domainEnd);
  if (host === '') return reject('SOCKS4a request has an empty domain');
  if (!isAcceptableDomain(host)) return reject(`SOCKS4a request has an invalid domain ${JSON.stringify(host)}`);
  return { kind: 'ok', value: { target: { host, port, addressType: 'domain' }, ...user }, size: domainEnd + 1 };
}
