/**
 * One client connection speaking HTTP/1.x to the mock: requests are read with the sans-IO
 * parser (keep-alive, pipelining, chunked bodies, Expect: 100-continue), each becomes a
 * MockRequest, and the engine's answers are written back in request order, whatever order
 * they became ready in (a delayed or passed-through answer holds back the ones after it).
 *
 * The hot path is: parse head, collect body, match, write a Buffer compiled at load. Writes
 * made while handling one read are sent together, so a pipelined burst costs one syscall.
 * A malformed request gets 400 (431 for a huge head) after the responses before it, and the
 * connection closes; the mock goes on serving every other one.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { errorResponse, parseErrorCode, type ProxyErrorCode } from '../capture/error-response.ts';
import type { HeaderList } from '../model/exchange.ts';
import type { Http1Head } from '../protocols/http1/head.ts';
import { Http1Parser, type HeadDecision } from '../protocols/http1/parser.ts';
import type { Reply } from './engine.ts';
import type { MatchStats } from './match-stats.ts';
import type { ConnectionContext, Origin, ProtocolHooks } from './protocol-hooks.ts';
import type { MockRequest } from './types.ts';

export interface Http1ServeOptions {
  ctx: ConnectionContext;
  /**
   * `proxy`: the front door's own HTTP: absolute-form requests (or a Host header) name the
   * origin, and CONNECT opens a tunnel (`onConnect`). `origin`: every request is for the
   * connection's origin (a tunnel, a --map listener).
   */
  mode: 'proxy' | 'origin';
  hooks: ProtocolHooks;
  stats: MatchStats;
  logger: Logger;
  maxHeadBytes: number;
  /** CONNECT on the front door: the connection is a tunnel to `target` from now on. */
  onConnect?: (target: { host: string; port: number }, rest: Buffer) => void;
  /** Destroys the connection with a TCP reset (the raw socket under any TLS). */
  reset: () => void;
}

/** A response slot, filled in whatever order answers come, written in request order. */
interface Slot {
  ready: boolean;
  bytes?: Buffer | undefined;
  then?: 'end' | 'reset' | 'stall' | undefined;
}

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
/** Pipelined requests waiting for their answers before the socket stops being read. */
const MAX_QUEUED = 128;

export class Http1MockSession {
  private readonly parser: Http1Parser;
  private readonly queue: Slot[] = [];
  private pending: Buffer[] = [];
  private head: Http1Head | undefined;
  private origin: Origin | undefined;
  private body: Buffer[] = [];
  /** A CONNECT or WebSocket upgrade waiting for the responses before it. */
  private handover: ((rest: Buffer) => void) | undefined;
  private handoverRest: Buffer = Buffer.alloc(0);
  private done = false;
  private feeding = false;
  private clientEnded = false;
  private readPaused = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: Http1ServeOptions,
  ) {
    this.parser = new Http1Parser(
      { kind: 'request', maxHeadBytes: opts.maxHeadBytes },
      {
        onHead: (head) => this.onHead(head),
        onRaw: () => undefined,
        onData: (bytes) => {
          this.body.push(Buffer.from(bytes)); // a slice of the input: valid only during the call
        },
        onTrailers: () => undefined,
        onComplete: () => this.onComplete(),
      },
    );
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.resumeReading());
  }

  /** Nothing in flight: safe to close at shutdown. */
  isIdle(): boolean {
    return this.queue.length === 0 && !this.parser.inMessage;
  }

  feed(chunk: Buffer): void {
    if (this.done) return;
    if (this.handover) {
      // Bytes after an upgrade or CONNECT belong to whoever takes the connection over.
      this.handoverRest = Buffer.concat([this.handoverRest, chunk]);
      return;
    }
    this.feeding = true;
    const used = this.parser.execute(chunk);
    this.feeding = false;
    if (this.handover) {
      this.handoverRest = chunk.subarray(used);
      this.pauseReading();
    } else if (this.parser.error) {
      const err = this.parser.error;
      this.opts.stats.malformed++;
      this.opts.logger.info({ peer: this.opts.ctx.peer, code: err.code }, `malformed request: ${err.message}`);
      const status = err.code === 'head-too-large' ? 431 : 400;
      this.fail(status, parseErrorCode(err.code), err.message);
    }
    this.flush();
  }

  private onHead(head: Http1Head): HeadDecision {
    this.head = head;
    this.body = [];
    if (this.opts.mode === 'proxy' && head.method === 'CONNECT') return this.onConnectHead(head);
    const origin = this.originOf(head);
    if (!origin) {
      this.fail(
        400,
        'TW_NOT_A_PROXY_REQUEST',
        'the request names no host: send absolute-form, a Host header, or CONNECT',
      );
      return 'pause';
    }
    this.origin = origin;
    if (head.upgrade !== undefined && head.upgrade.toLowerCase().includes('websocket')) {
      const ws = this.opts.hooks.websocket;
      if (!ws) {
        this.fail(501, 'TW_MOCK_PROTOCOL_UNSUPPORTED', 'this mock does not serve WebSocket');
        return 'pause';
      }
      const req = this.request(head, origin, Buffer.alloc(0));
      const ctx: ConnectionContext = { ...this.opts.ctx, origin };
      this.handover = (rest) => ws(this.socket, head, req, rest, ctx);
      return 'tunnel';
    }
    if (head.expectContinue && head.version === '1.1') this.queue.push({ ready: true, bytes: CONTINUE });
    return 'continue';
  }

  private onConnectHead(head: Http1Head): HeadDecision {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+)):(\d{1,5})$/.exec(head.target);
    const port = Number(m?.[3]);
    if (!m || port > 65535 || !this.opts.onConnect) {
      this.fail(400, 'TW_BAD_CONNECT', `CONNECT target "${head.target}" is not HOST:PORT`);
      return 'pause';
    }
    const target = { host: (m[1] ?? m[2] ?? '').toLowerCase(), port };
    const onConnect = this.opts.onConnect;
    this.handover = (rest) => {
      this.socket.write(`HTTP/${head.version} 200 Connection Established\r\n\r\n`);
      onConnect(target, rest);
    };
    return 'tunnel';
  }

  private onComplete(): 'pause' | void {
    const head = this.head as Http1Head;
    const origin = this.origin as Origin;
    const body =
      this.body.length === 0 ? EMPTY : this.body.length === 1 ? (this.body[0] as Buffer) : Buffer.concat(this.body);
    this.body = [];
    const req = this.request(head, origin, body);
    const slot: Slot = { ready: false };
    this.queue.push(slot);
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.opts.ctx.engine.answer(req);
    } catch (err) {
      this.opts.logger.error({ err }, 'mock could not answer a request');
      slot.ready = true;
      slot.bytes = errorResponse(500, 'TW_MOCK_INTERNAL', 'the mock failed to answer');
      slot.then = 'end';
      return 'pause';
    }
    const close = head.close;
    if (reply instanceof Promise) {
      reply.then(
        (r) => this.settle(slot, r, head, close),
        (err: unknown) => {
          this.opts.logger.error({ err }, 'mock could not answer a request');
          this.settle(slot, { action: 'reset', delayMs: 0, outcome: 'miss' }, head, close);
        },
      );
    } else {
      this.settle(slot, reply, head, close);
    }
    if (close) return 'pause'; // nothing after a Connection: close request is read
    if (this.queue.length >= MAX_QUEUED) this.pauseReading();
  }

  private settle(slot: Slot, reply: Reply, head: Http1Head, close: boolean): void {
    const fill = () => {
      slot.ready = true;
      if (reply.action === 'respond' && reply.http1) {
        slot.bytes = head.method === 'HEAD' ? reply.http1.head : reply.http1.full;
        if (close) slot.then = 'end';
      } else {
        slot.then = reply.action === 'stall' ? 'stall' : 'reset';
      }
      this.flush();
    };
    if (reply.delayMs > 0) setTimeout(fill, reply.delayMs);
    else fill();
  }

  /** Writes every ready response at the front of the queue, in one write. */
  private flush(): void {
    if (this.feeding) return; // once, when the read is handled
    if (this.socket.destroyed) {
      this.done = true;
      return;
    }
    while (!this.done && this.queue[0]?.ready) {
      const slot = this.queue.shift() as Slot;
      if (slot.bytes) this.pending.push(slot.bytes);
      if (slot.then) {
        this.finish(slot.then);
        return;
      }
    }
    this.write();
    if (this.done) return;
    if (this.queue.length === 0) {
      if (this.handover) {
        const go = this.handover;
        const rest = this.handoverRest;
        this.done = true;
        this.socket.removeAllListeners('data');
        this.socket.removeAllListeners('end');
        this.socket.removeAllListeners('drain');
        this.readPaused = false;
        go(rest);
        return;
      }
      if (this.clientEnded) this.finish('end');
    }
    if (this.queue.length < MAX_QUEUED / 2 && !this.socket.writableNeedDrain) this.resumeReading();
  }

  private write(): void {
    if (this.pending.length === 0) return;
    const bytes = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    if (!this.socket.write(bytes)) this.pauseReading();
  }

  private finish(how: 'end' | 'reset' | 'stall'): void {
    this.done = true;
    this.queue.length = 0;
    if (how === 'stall') {
      // Never answer; keep the connection until the client gives up (or the idle timeout).
      this.pending = [];
      this.socket.removeAllListeners('data');
      this.socket.resume(); // read and drop whatever else comes
      this.socket.once('end', () => this.socket.end());
      return;
    }
    this.write();
    if (how === 'reset') this.opts.reset();
    else this.socket.end();
  }

  /** Answers an error after the responses before it, then closes. */
  private fail(status: number, code: ProxyErrorCode, message: string): void {
    this.queue.push({ ready: true, bytes: errorResponse(status, code, message), then: 'end' });
    if (!this.feeding) this.flush();
  }

  private onEnd(): void {
    this.clientEnded = true;
    const err = this.parser.finish();
    if (err && !this.done) {
      this.opts.stats.malformed++;
      this.fail(400, parseErrorCode(err.code), err.message);
      return;
    }
    this.flush();
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  private resumeReading(): void {
    if (!this.readPaused || this.done) return;
    this.readPaused = false;
    this.socket.resume();
  }

  /** Which origin a request is for (undefined: it names none). */
  private originOf(head: Http1Head): Origin | undefined {
    const fixed = this.opts.ctx.origin;
    if (this.opts.ctx.fixed) return fixed;
    const abs = ABSOLUTE.exec(head.target);
    if (abs) {
      const scheme = (abs[1] as string).toLowerCase() === 'https' ? 'https' : 'http';
      return authority(abs[2] as string, scheme);
    }
    const host = hostHeader(head.headers);
    if (host !== undefined) {
      const scheme = this.opts.mode === 'proxy' ? 'http' : fixed.scheme;
      return authority(host, scheme) ?? (this.opts.mode === 'proxy' ? undefined : fixed);
    }
    return this.opts.mode === 'proxy' ? undefined : fixed;
  }

  private request(head: Http1Head, origin: Origin, body: Buffer): MockRequest {
    let target = head.target;
    const abs = ABSOLUTE.exec(target);
    if (abs) target = target.slice((abs[0] as string).length) || '/';
    const q = target.indexOf('?');
    let path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q + 1);
    const hash = path.indexOf('#');
    if (hash >= 0) path = path.slice(0, hash);
    return {
      protocol: 'http',
      scheme: origin.scheme,
      host: origin.host,
      port: origin.port,
      method: head.method,
      path: path === '' || path === '*' ? '/' : path,
      query,
      headers: head.headers,
      body,
      httpVersion: head.version,
    };
  }
}

const EMPTY = Buffer.alloc(0);
/** `scheme://authority` at the start of an absolute-form target. */
const ABSOLUTE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/;

function hostHeader(headers: HeaderList): string | undefined {
  for (const [name, value] of headers) if (name.length === 4 && name.toLowerCase() === 'host') return value.trim();
  return undefined;
}

/** `host`, `host:port`, `[v6]:port` (userinfo dropped) → an origin; undefined when unreadable. */
export function authority(text: string, scheme: 'http' | 'https'): Origin | undefined {
  const at = text.lastIndexOf('@');
  const hostport = at >= 0 ? text.slice(at + 1) : text;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+))(?::(\d{1,5}))?$/.exec(hostport);
  if (!m) return undefined;
  const port = m[3] === undefined ? (scheme === 'https' ? 443 : 80) : Number(m[3]);
  if (port > 65535) return undefined;
  return { scheme, host: (m[1] ?? m[2] ?? '').toLowerCase(), port };
}
