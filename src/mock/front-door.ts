/**
 * How a connection reaches the mock's serving code. The front door (--out-port) is the same
 * one-port proxy as record's: HTTP proxy (absolute-form and CONNECT) and SOCKS4/4a/5, told
 * apart by the first byte. Unlike record, a CONNECT or SOCKS tunnel never dials anything: it
 * is answered at once and what it carries is served here. A --map listener is a tunnel that is
 * already open to its HOST:PORT.
 *
 * In a tunnel the first bytes decide: a TLS ClientHello is terminated with a leaf for its
 * server name (the CONNECT host without SNI), offering h2 first to hosts that were recorded
 * over HTTP/2; the decrypted stream, or a plaintext one, is sniffed again: HTTP/1 is served
 * here, an HTTP/2 preface or ALPN h2 goes to the HTTP/2 hook, anything else to the TCP hook.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SocksServerHandshake, detectProxyProtocol } from '../protocols/socks/index.ts';
import { sniffProtocol } from '../protocols/sniff.ts';
import { parseClientHello } from '../protocols/tls/clienthello.ts';
import type { LeafCache } from '../protocols/tls/leaf-cache.ts';
import type { MockEngine } from './engine.ts';
import type { MatchStats } from './match-stats.ts';
import type { ConnectionContext, Origin, ProtocolHooks } from './protocol-hooks.ts';
import { Http1MockSession } from './serve-http1.ts';

export interface FrontDoorEnv {
  engine: MockEngine;
  hooks: ProtocolHooks;
  stats: MatchStats;
  logger: Logger;
  /** Leaves signed by the local CA (the same CA as record); absent: TLS cannot be served. */
  leaves: LeafCache | undefined;
  maxHeadBytes: number;
}

/** Past this many bytes without a verdict a tunnel is taken as raw TCP. */
const SNIFF_LIMIT = 64 * 1024;

export interface ConnectionHandle {
  isIdle(): boolean;
}

/** A connection to the front door (--out-port). */
export function handleFrontDoor(socket: net.Socket, env: FrontDoorEnv): ConnectionHandle {
  let session: Http1MockSession | undefined;
  let started = false;
  const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
  const onEarlyEnd = () => socket.end();
  socket.once('end', onEarlyEnd);
  socket.once('data', (first: Buffer) => {
    started = true;
    socket.removeListener('end', onEarlyEnd);
    if (detectProxyProtocol(first[0] ?? 0) !== 'http') {
      socks(socket, first, env, peer);
      return;
    }
    session = new Http1MockSession(socket, {
      ctx: { origin: { scheme: 'http', host: '', port: 80 }, fixed: false, engine: env.engine, peer },
      mode: 'proxy',
      hooks: env.hooks,
      stats: env.stats,
      logger: env.logger,
      maxHeadBytes: env.maxHeadBytes,
      reset: () => socket.resetAndDestroy(),
      onConnect: (target, rest) => {
        session = undefined;
        serveTunnel(socket, { scheme: 'http', ...target }, rest, env, { fixed: false, peer });
      },
    });
    session.feed(first);
  });
  return { isIdle: () => !started || (session?.isIdle() ?? false) };
}

function socks(socket: net.Socket, first: Buffer, env: FrontDoorEnv, peer: string): void {
  const handshake = new SocksServerHandshake();
  const onEnd = () => {
    socket.removeListener('data', onData);
    socket.end();
  };
  const onData = (chunk: Buffer) => {
    for (const step of handshake.push(chunk)) {
      switch (step.type) {
        case 'send':
          socket.write(step.bytes);
          break;
        case 'need-more':
          return;
        case 'fail':
          socket.removeListener('data', onData);
          socket.removeListener('end', onEnd);
          env.stats.malformed++;
          env.logger.info({ peer }, `SOCKS handshake failed: ${step.reason}`);
          if (step.bytes) socket.end(step.bytes);
          else socket.destroy();
          return;
        case 'connect': {
          socket.removeListener('data', onData);
          socket.removeListener('end', onEnd);
          // Nothing to dial: every destination is "reachable", its answers come from the snapshot.
          socket.write(handshake.connectedReply());
          const target = { scheme: 'http' as const, host: step.target.host.toLowerCase(), port: step.target.port };
          serveTunnel(socket, target, step.rest, env, { fixed: false, peer });
          return;
        }
      }
    }
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  onData(first);
}

/**
 * Serves what a tunnel carries. `origin` is where the client thinks it is (its scheme is
 * decided here: https once TLS is terminated); `fixed`: every request goes to `origin` (--map).
 */
export function serveTunnel(
  socket: net.Socket,
  origin: Origin,
  first: Buffer,
  env: FrontDoorEnv,
  opts: { fixed: boolean; peer: string },
): void {
  const dst = `${origin.host.includes(':') ? `[${origin.host}]` : origin.host}:${origin.port}`;
  const conversations = env.engine.state.index.tcpFor(dst);
  const ctx: ConnectionContext = { origin, fixed: opts.fixed, engine: env.engine, peer: opts.peer };
  // A protocol where the server speaks first (SMTP, MySQL…) never sends a byte to sniff.
  if (env.hooks.tcp && first.length === 0 && conversations.some((c) => c.stream.chunks[0]?.dir === 's2c')) {
    env.hooks.tcp(socket, first, conversations, ctx);
    return;
  }
  sniffThen(socket, first, (buffered) => {
    const kind = sniffProtocol(buffered);
    if (kind === 'need-more' && buffered.length < SNIFF_LIMIT) return false;
    if (kind === 'tls') {
      const hello = parseClientHello(buffered);
      if (hello.status === 'need-more' && buffered.length < SNIFF_LIMIT) return false;
      if (hello.status !== 'ok' || !env.leaves) {
        env.logger.info({ peer: opts.peer, dst }, env.leaves ? 'unreadable TLS ClientHello' : 'TLS without a CA');
        socket.destroy();
        return true;
      }
      const name = hello.sni ?? origin.host;
      terminateTls(socket, buffered, name, hello.alpn, env, (secure, alpn) => {
        const https: ConnectionContext = {
          ...ctx,
          origin: { ...origin, scheme: 'https' },
          tls: { sni: hello.sni, alpn },
        };
        if (alpn === 'h2') handOver(secure, Buffer.alloc(0), 'http2', https, env, conversations, socket);
        else
          sniffThen(secure, Buffer.alloc(0), (plain) => serveClear(secure, plain, https, env, conversations, socket));
      });
      return true;
    }
    return serveClear(socket, buffered, ctx, env, conversations, socket);
  });
}

/** A plaintext stream (or a decrypted one): HTTP/1 here, the rest to the hooks. */
function serveClear(
  socket: net.Socket,
  buffered: Buffer,
  ctx: ConnectionContext,
  env: FrontDoorEnv,
  conversations: ReturnType<MockEngine['state']['index']['tcpFor']>,
  raw: net.Socket,
): boolean {
  const kind = sniffProtocol(buffered);
  if (kind === 'need-more' && buffered.length < SNIFF_LIMIT) return false;
  if (kind === 'http1') {
    const session = new Http1MockSession(socket, {
      ctx,
      mode: 'origin',
      hooks: env.hooks,
      stats: env.stats,
      logger: env.logger,
      maxHeadBytes: env.maxHeadBytes,
      reset: () => raw.resetAndDestroy(),
    });
    session.feed(buffered);
    socket.resume();
    return true;
  }
  handOver(socket, buffered, kind === 'http2-preface' ? 'http2' : 'tcp', ctx, env, conversations, raw);
  return true;
}

function handOver(
  socket: net.Socket,
  first: Buffer,
  to: 'http2' | 'tcp',
  ctx: ConnectionContext,
  env: FrontDoorEnv,
  conversations: ReturnType<MockEngine['state']['index']['tcpFor']>,
  raw: net.Socket,
): void {
  const hook = env.hooks[to];
  if (to === 'http2' && env.hooks.http2) return env.hooks.http2(socket, first, ctx);
  if (to === 'tcp' && env.hooks.tcp) return env.hooks.tcp(socket, first, conversations, ctx);
  env.logger.info(
    { peer: ctx.peer, origin: `${ctx.origin.host}:${ctx.origin.port}` },
    `${to === 'http2' ? 'HTTP/2' : 'raw TCP'} is not served by this mock${hook ? '' : ' (no handler)'}: closing`,
  );
  raw.destroy();
}

/**
 * Reads until `decide` takes the bytes (returns true), then stops reading: the new owner
 * attaches its own listeners and resumes.
 */
function sniffThen(socket: net.Socket, first: Buffer, decide: (buffered: Buffer) => boolean): void {
  let buffered = first;
  const detach = () => {
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    socket.pause();
    detach();
    if (!decide(buffered)) attach();
  };
  // A client that half-closes before a verdict sends nothing more to decide on.
  const onEnd = () => {
    detach();
    socket.end();
  };
  const attach = () => {
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  };
  if (buffered.length > 0 && decide(buffered)) return;
  attach();
}

/** Terminates TLS with a leaf for `name`, offering h2 first to hosts recorded over HTTP/2. */
function terminateTls(
  raw: net.Socket,
  hello: Buffer,
  name: string,
  offered: string[] | undefined,
  env: FrontDoorEnv,
  onSecure: (socket: tls.TLSSocket, alpn: string | undefined) => void,
): void {
  const leaves = env.leaves as LeafCache;
  const canH2 = env.hooks.http2 !== undefined;
  const preferH2 = canH2 && env.engine.state.h2Hosts.has(name.toLowerCase());
  const protocols = preferH2 ? ['h2', 'http/1.1'] : canH2 ? ['http/1.1', 'h2'] : ['http/1.1'];
  leaves.contextFor(name).then(
    (secureContext) => {
      if (raw.destroyed) return;
      raw.unshift(hello); // the ClientHello, read while sniffing, goes to the TLS layer
      const secure = new tls.TLSSocket(raw, {
        isServer: true,
        secureContext,
        // Only when the client offers ALPN: a client that offers none must not be refused.
        ...(offered ? { ALPNProtocols: protocols } : {}),
      });
      secure.once('secure', () => {
        secure.removeListener('error', onHandshakeError);
        secure.on('error', () => undefined); // later errors are the reader's; none goes unhandled
        onSecure(secure, secure.alpnProtocol || undefined);
      });
      const onHandshakeError = (err: Error) => {
        env.logger.info({ host: name, err: err.message }, 'TLS handshake with the client failed');
        raw.destroy();
      };
      secure.once('error', onHandshakeError);
    },
    (err: Error) => {
      env.logger.error({ host: name, err: err.message }, 'could not issue a leaf certificate');
      raw.destroy();
    },
  );
}
