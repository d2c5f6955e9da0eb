/**
 * Wires the front door's protocol hooks to the HTTP/2 (and gRPC), WebSocket and raw TCP
 * handlers, giving each the context they read per request: the current index (hot reload
 * swaps it), latency, faults and the match counts.
 */
import type { Duplex } from 'node:stream';
import type { MockState } from './engine.ts';
import { describeRequest } from './engine.ts';
import type { MatchStats } from './match-stats.ts';
import type { ConnectionContext, ProtocolHooks } from './protocol-hooks.ts';
import { serveHttp2, type MockStats, type ServeContext } from './serve-h2.ts';
import { serveTcp } from './serve-tcp.ts';
import { serveWebSocket } from './serve-ws.ts';

export function defaultHooks(ref: { current: MockState }, stats: MatchStats): ProtocolHooks {
  const sink: MockStats = {
    record(req, result) {
      if (result.kind === 'hit') stats.hit(result.signature, () => describeRequest(req));
      else stats.miss(describeRequest(req), result.signature, result.explanation, result.candidates);
    },
    recordTcp(dst, result) {
      if (result.kind === 'hit') stats.hit(`tcp ${dst}`, () => `TCP ${dst}`);
      else stats.miss(`TCP ${dst}`, `tcp ${dst}`, result.explanation, []);
    },
  };
  const serveContext = (ctx: ConnectionContext): ServeContext => ({
    scheme: ctx.origin.scheme,
    // A --map listener names the origin; in a tunnel :authority / Host does, as in record.
    host: ctx.fixed ? ctx.origin.host : '',
    port: ctx.fixed ? ctx.origin.port : 0,
    index: () => ref.current.index,
    latency: () => ref.current.latency,
    fault: (req) => {
      const state = ref.current;
      const fault = state.faults.empty ? undefined : state.faults.pick(req);
      if (fault) stats.fault(fault.name);
      return fault;
    },
    stats: sink,
  });
  const unshift = (socket: Duplex, bytes: Buffer) => {
    if (bytes.length > 0) socket.unshift(bytes);
  };
  return {
    http2(socket, first, ctx) {
      unshift(socket, first);
      serveHttp2(socket, serveContext(ctx));
    },
    websocket(socket, head, _req, rest, ctx) {
      unshift(socket, rest);
      void serveWebSocket(socket, head, serveContext(ctx));
    },
    tcp(socket, first, _conversations, ctx) {
      unshift(socket, first);
      const host = ctx.origin.host.includes(':') ? `[${ctx.origin.host}]` : ctx.origin.host;
      void serveTcp(socket, `${host}:${ctx.origin.port}`, serveContext(ctx));
    },
  };
}
