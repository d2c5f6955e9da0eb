/** SOCKS server side (SOCKS4, SOCKS4a, SOCKS5 CONNECT): the public surface of this folder. */
export { SocksServerHandshake } from './handshake.ts';
export { detectProxyProtocol, type ProxyProtocol } from './detect.ts';
export type { SocksFailure, SocksServerOptions, SocksStep, SocksTarget } from './types.ts';
