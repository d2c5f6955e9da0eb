/**
 * The mock's raw TCP side: a tunnel to a host:port with recorded TCP conversations replays one
 * of them byte for byte. Connection N to a destination gets the N-th recorded conversation,
 * then the last one repeats (the count starts over when hot reload brings a new index).
 *
 * Pacing is by bytes, not by reads (TCP may split or merge them): a recorded s2c chunk is sent
 * once the client has sent as many bytes as were recorded before it, so a server-first greeting
 * goes at once. When the recording is played out, the mock ends the connection, or resets it
 * when the recorded one was reset.
 */
import type { Duplex } from 'node:stream';
import { decodeBody } from '../model/body.ts';
import type { TcpExchange } from '../model/exchange.ts';
import { Changes, recordedLatency, sleepUntil, type MockMatcher, type ServeContext } from './serve-h2.ts';

/** Connections served so far per destination, per index (a reloaded snapshot starts over). */
const served = new WeakMap<MockMatcher, Map<string, number>>();

/** Serves one connection to `dst` (`host:port`). Resolves when the conversation is over. */
export async function serveTcp(socket: Duplex, dst: string, ctx: ServeContext): Promise<void> {
  socket.on('error', () => undefined);
  const index = ctx.index();
  const recorded = index.tcpFor(dst);
  if (recorded.length === 0) {
    ctx.stats?.recordTcp?.(dst, { kind: 'miss', explanation: `no raw TCP conversation with ${dst} was recorded` });
    // Bytes cannot carry an explanation into an unknown protocol: the stats sink has it.
    socket.destroy();
    return;
  }
  let counts = served.get(index);
  if (!counts) served.set(index, (counts = new Map()));
  const n = counts.get(dst) ?? 0;
  counts.set(dst, n + 1);
  const occurrence = Math.min(n, recorded.length - 1);
  const x = recorded[occurrence] as TcpExchange;
  ctx.stats?.recordTcp?.(dst, { kind: 'hit', exchangeId: x.id, occurrence });
  await replay(socket, x, ctx);
}

async function replay(socket: Duplex, x: TcpExchange, ctx: ServeContext): Promise<void> {
  const started = performance.now();
  const changes = new Changes();
  let received = 0;
  let gone = false;
  socket.on('data', (d: Buffer) => {
    received += d.length;
    changes.notify();
  });
  const leave = () => {
    gone = true;
    changes.notify();
  };
  socket.on('end', leave);
  socket.on('close', leave);
  // The front door may hand the socket over paused (it stopped reading to sniff).
  socket.resume();
  let expected = 0;
  for (const chunk of x.stream.chunks) {
    if (chunk.dir === 'c2s') {
      expected += chunk.data.size;
      continue;
    }
    const need = expected;
    await changes.until(() => received >= need || gone);
    if (socket.destroyed || socket.writableEnded) return;
    await sleepUntil(started, recordedLatency(ctx, chunk.tMs));
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(decodeBody(chunk.data));
  }
  await changes.until(() => received >= expected || gone);
  await sleepUntil(started, recordedLatency(ctx, x.durationMs));
  if (socket.destroyed) return;
  if (x.error?.kind === 'reset') {
    // A reset rather than a FIN, where the socket can (net.Socket.resetAndDestroy).
    const s = socket as Duplex & { resetAndDestroy?: () => void };
    if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
    else socket.destroy();
    return;
  }
  socket.end();
}
