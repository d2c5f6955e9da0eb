/**
 * Address helpers for SOCKS: printing the binary addresses a client sends (IPv6 in the
 * canonical RFC 5952 form, so one target always prints one way in records and signatures),
 * checking domains, and encoding the bound address of a reply.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** SOCKS5 address types (RFC 1928 §5). */
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset] ?? 0}.${bytes[offset + 1] ?? 0}.${bytes[offset + 2] ?? 0}.${bytes[offset + 3] ?? 0}`;
}

/**
 * RFC 5952: lowercase hex without leading zeros, the longest run of two or more zero groups
 * (the first one on a tie) written `::`, and IPv4-mapped addresses in mixed notation
 * (`::ffff:127.0.0.1`, as Node prints socket addresses).
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never shortened (RFC 5952 §4.2.2)
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** Bytes of an IPv4 dotted quad, or undefined when `text` is not one. */
export function ipv4ToBytes(text: string): Buffer | undefined {
  if (!isIPv4(text)) return undefined;
  return Buffer.from(text.split('.').map(Number));
}

/** Bytes of an IPv6 address in any textual form (a zone id is dropped), or undefined. */
export function ipv6ToBytes(text: string): Buffer | undefined {
  const zone = text.indexOf('%');
  let addr = zone >= 0 ? text.slice(0, zone) : text;
  if (!isIPv6(addr)) return undefined;
  const lastColon = addr.lastIndexOf(':');
  const v4 = ipv4ToBytes(addr.slice(lastColon + 1));
  if (v4) {
    // Rewrite the embedded IPv4 tail as two hex groups so one code path splits the rest.
    const hi = (((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16);
    const lo = (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16);
    addr = `${addr.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = addr.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length > 1 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), 2 * i));
  return out;
}

/**
 * Whether a domain from a SOCKS request may be dialled and recorded. Only hostname
 * characters (plus `:`, `[`, `]`, `%` for IP literals and zone ids) pass: the name ends up in
 * URLs, records and log lines, where a space, slash, `@` or control byte would change meaning.
 */
export function isAcceptableDomain(name: string): boolean {
  return name.length > 0 && name.length <= 255 && /^[A-Za-z0-9._\-:[\]%]+$/.test(name);
}

/** The SOCKS5 encoding of an address (ATYP then the address bytes), for replies. */
export function encodeSocks5Address(host: string): Buffer {
  const v4 = ipv4ToBytes(host);
  if (v4) return Buffer.concat([Buffer.from([ATYP_IPV4]), v4]);
  const v6 = ipv6ToBytes(host);
  if (v6) {
    // An IPv4-mapped address (a dual-stack socket's view of an IPv4 peer) goes out as IPv4,
    // which every client understands.
    const mapped = mappedIPv4(v6);
    return mapped ? Buffer.concat([Buffer.from([ATYP_IPV4]), mapped]) : Buffer.concat([Buffer.from([ATYP_IPV6]), v6]);
  }
  const name = Buffer.from(host, 'latin1');
  if (isAcceptableDomain(host) && name.length <= 255) {
    return Buffer.concat([Buffer.from([ATYP_DOMAIN, name.length]), name]);
  }
  return Buffer.from([ATYP_IPV4, 0, 0, 0, 0]);
}

/** The IPv4 bytes of a bound address for a SOCKS4 reply; zeros when it is not IPv4. */
export function socks4BoundIp(host: string | undefined): Buffer {
  if (host === undefined) return Buffer.alloc(4);
  const v4 = ipv4ToBytes(host);
  if (v4) return v4;
  const v6 = ipv6ToBytes(host);
  return (v6 && mappedIPv4(v6)) ?? Buffer.alloc(4);
}

/** The IPv4 part of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else undefined. */
function mappedIPv4(v6: Buffer): Buffer | undefined {
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? Buffer.from(v6.subarray(12)) : undefined;
}
