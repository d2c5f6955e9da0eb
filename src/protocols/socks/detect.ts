/**
 * One outbound port speaks HTTP proxy and SOCKS: the client's first byte tells them apart.
 * SOCKS4 requests start with 0x04 and SOCKS5 greetings with 0x05; neither byte can start an
 * HTTP request line (a method is a token of visible characters), so anything else is HTTP.
 */
export type ProxyProtocol = 'socks4' | 'socks5' | 'http';

export function detectProxyProtocol(firstByte: number): ProxyProtocol {
  if (firstByte === 0x04) return 'socks4';
  if (firstByte === 0x05) return 'socks5';
  return 'http';
}
