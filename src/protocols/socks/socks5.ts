/**
 * SOCKS5 messages, server side: the method greeting and CONNECT request of RFC 1928 and the
 * username/password sub-negotiation of RFC 1929. Each parser reads one message from the
 * front of the buffered bytes and checks the fields in wire order, so a bad byte is reported
 * as soon as it arrives and the verdict never depends on how the input was split.
 */
import {
  ATYP_DOMAIN,
  ATYP_IPV4,
  ATYP_IPV6,
  encodeSocks5Address,
  formatIPv4,
  formatIPv6,
  isAcceptableDomain,
} from './address.ts';
import { NEED_MORE, type Parsed, type SocksFailure, type SocksTarget } from './types.ts';

export const SOCKS5_VERSION = 0x05;
/** Version byte of the RFC 1929 sub-negotiation (not the SOCKS version). */
export const PASSWORD_AUTH_VERSION = 0x01;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_PASSWORD = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

/** REP codes of RFC 1928 §6. */
export const Socks5Reply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

const CMD_CONNECT = 0x01;
const CMD_BIND = 0x02;
const CMD_UDP_ASSOCIATE = 0x03;

const failureCodes: Record<SocksFailure, number> = {
  refused: Socks5Reply.connectionRefused,
  unreachable: Socks5Reply.networkUnreachable,
  'host-unreachable': Socks5Reply.hostUnreachable,
  // RFC 1928 has no "timed out"; "TTL expired" is what servers (and clients) use for it.
  timeout: Socks5Reply.ttlExpired,
  general: Socks5Reply.generalFailure,
  'not-allowed': Socks5Reply.notAllowed,
};

/** VER REP RSV ATYP BND.ADDR BND.PORT; the bound address defaults to 0.0.0.0:0. */
export function socks5Reply(rep: number, bound?: { host: string; port: number }): Buffer {
  const address = bound ? encodeSocks5Address(bound.host) : Buffer.from([ATYP_IPV4, 0, 0, 0, 0]);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(bound && Number.isInteger(bound.port) && bound.port >= 0 && bound.port <= 0xffff ? bound.port : 0);
  return Buffer.concat([Buffer.from([SOCKS5_VERSION, rep, 0x00]), address, port]);
}

export function socks5FailureReply(reason: SocksFailure): Buffer {
  return socks5Reply(failureCodes[reason]);
}

export function methodSelection(method: number): Buffer {
  return Buffer.from([SOCKS5_VERSION, method]);
}

/** RFC 1929 reply: STATUS 0 is success, anything else tells the client to close. */
export function passwordAuthReply(ok: boolean): Buffer {
  return Buffer.from([PASSWORD_AUTH_VERSION, ok ? 0x00 : 0x01]);
}

const refuse = (rep: number, reason: string): Parsed<never> => ({ kind: 'error', reason, reply: socks5Reply(rep) });

/** VER NMETHODS METHODS…; yields the methods the client offers. */
export function parseGreeting(buf: Buffer): Parsed<Set<number>> {
  if (buf.length < 1) return NEED_MORE;
  if (buf[0] !== SOCKS5_VERSION) return { kind: 'error', reason: `SOCKS5 greeting has version ${buf[0]}` };
  if (buf.length < 2) return NEED_MORE;
  const count = buf[1] ?? 0;
  if (count === 0) {
    return {
      kind: 'error',
      reason: 'SOCKS5 greeting offers no methods',
      reply: methodSelection(METHOD_NONE_ACCEPTABLE),
    };
  }
  if (buf.length < 2 + count) return NEED_MORE;
  return { kind: 'ok', value: new Set(buf.subarray(2, 2 + count)), size: 2 + count };
}

/** VER ULEN UNAME PLEN PASSWD (RFC 1929). Empty fields are framed unambiguously, so accepted. */
export function parsePasswordAuth(buf: Buffer): Parsed<{ user: string; password: string }> {
  if (buf.length < 1) return NEED_MORE;
  if (buf[0] !== PASSWORD_AUTH_VERSION) {
    return {
      kind: 'error',
      reason: `username/password request has version ${buf[0]}`,
      reply: passwordAuthReply(false),
    };
  }
  if (buf.length < 2) return NEED_MORE;
  const userLength = buf[1] ?? 0;
  if (buf.length < 3 + userLength) return NEED_MORE;
  const passwordLength = buf[2 + userLength] ?? 0;
  const size = 3 + userLength + passwordLength;
  if (buf.length < size) return NEED_MORE;
  return {
    kind: 'ok',
    value: {
      user: buf.toString('utf8', 2, 2 + userLength),
      password: buf.toString('utf8', 3 + userLength, size),
    },
    size,
  };
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT; only CONNECT is served. */
export function parseRequest(buf: Buffer): Parsed<SocksTarget> {
  if (buf.length < 1) return NEED_MORE;
  if (buf[0] !== SOCKS5_VERSION) return refuse(Socks5Reply.generalFailure, `SOCKS5 request has version ${buf[0]}`);
  if (buf.length < 2) return NEED_MORE;
  const command = buf[1];
  if (command !== CMD_CONNECT) {
    const name = command === CMD_BIND ? 'BIND' : command === CMD_UDP_ASSOCIATE ? 'UDP ASSOCIATE' : `command ${command}`;
    return refuse(Socks5Reply.commandNotSupported, `SOCKS5 ${name} is not supported (CONNECT only)`);
  }
  if (buf.length < 3) return NEED_MORE;
  if (buf[2] !== 0x00) return refuse(Socks5Reply.generalFailure, `SOCKS5 request has reserved byte ${buf[2]}`);
  if (buf.length < 4) return NEED_MORE;
  const addressType = buf[3];
  let host: string;
  let kind: SocksTarget['addressType'];
  let portAt: number;
  if (addressType === ATYP_IPV4) {
    portAt = 8;
    if (buf.length < portAt) return NEED_MORE;
    host = formatIPv4(buf, 4);
    kind = 'ipv4';
  } else if (addressType === ATYP_IPV6) {
    portAt = 20;
    if (buf.length < portAt) return NEED_MORE;
    host = formatIPv6(buf, 4);
    kind = 'ipv6';
  } else if (addressType === ATYP_DOMAIN) {
    if (buf.length < 5) return NEED_MORE;
    const length = buf[4] ?? 0;
    if (length === 0) return refuse(Socks5Reply.generalFailure, 'SOCKS5 request has an empty domain');
    portAt = 5 + length;
    if (buf.length < portAt) return NEED_MORE;
    host = buf.toString('latin1', 5, portAt);
    if (!isAcceptableDomain(host)) {
      return refuse(Socks5Reply.generalFailure, `SOCKS5 request has an invalid domain ${JSON.stringify(host)}`);
    }
    kind = 'domain';
  } else {
    return refuse(Socks5Reply.addressTypeNotSupported, `SOCKS5 address type ${addressType} is unknown`);
  }
  if (buf.length < portAt + 2) return NEED_MORE;
  const port = buf.readUInt16BE(portAt);
  if (port === 0) return refuse(Socks5Reply.generalFailure, 'SOCKS5 request targets port 0');
  return { kind: 'ok', value: { host, port, addressType: kind }, size: portAt + 2 };
}
