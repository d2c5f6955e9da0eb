/**
 * Collects the pieces one parse forwards (a head, body slices, the next pipelined request) and
 * writes them as one buffer: one write per batch of input instead of a write, or a writev, per
 * piece. Profiles of the proxy showed the per-write cost of Node streams, not the bytes, as the
 * expense on small exchanges.
 */
import type net from 'node:net';

/** Above this, pieces go out corked (writev) rather than copied into one buffer. */
const COALESCE_LIMIT = 64 * 1024;

export class Outbox {
  private parts: Buffer[] = [];
  private size = 0;

  add(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  get isEmpty(): boolean {
    return this.parts.length === 0;
  }

  /** Writes everything added so far; returns false when the socket asks the writer to wait. */
  flushTo(socket: net.Socket): boolean {
    const parts = this.parts;
    if (parts.length === 0) return true;
    const size = this.size;
    this.parts = [];
    this.size = 0;
    if (parts.length === 1) return socket.write(parts[0] as Buffer);
    if (size <= COALESCE_LIMIT) return socket.write(Buffer.concat(parts, size));
    socket.cork();
    let ok = true;
    for (const part of parts) ok = socket.write(part);
    socket.uncork();
    return ok;
  }

  discard(): void {
    this.parts = [];
    this.size = 0;
  }
}
