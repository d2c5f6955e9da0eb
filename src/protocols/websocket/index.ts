/**
 * WebSocket capture: the messages of one session, read passively from copies of both directions'
 * bytes after the 101. Sans-IO: the caller feeds bytes and a clock; nothing here touches a
 * socket, so whatever the peers send, the connection itself is never affected.
 *
 * Messages are listed in the order they were complete; compressed ones are inflated
 * asynchronously (zlib), so `end()` calls back once every listed message has its bytes.
 */
import { MessageInflater, parseDeflateExtension, type DeflateParams } from './deflate.ts';
import { MessageAssembler, type AssembledMessage, type Budget, type WsDir } from './messages.ts';

export { parseDeflateExtension, type DeflateParams } from './deflate.ts';
export { encodeFrame, FrameParser, OPCODE, type FrameHandler, type FrameHeader, type FrameSpec } from './frames.ts';
export { MessageAssembler, Payload, type AssembledMessage, type WsDir, type WsMessageType } from './messages.ts';

/** A long session keeps at most this many messages listed; later ones are counted out. */
export const DEFAULT_MAX_MESSAGES = 10_000;

export interface WebsocketCaptureOptions {
  /** Payload bytes kept over the whole session, both directions together. */
  cap: number;
  /** Sec-WebSocket-Extensions of the 101 response (permessage-deflate is read from it). */
  extensions?: string | undefined;
  /** Milliseconds since the exchange started. */
  now(): number;
  maxMessages?: number;
  /** Inflated bytes one message may produce before its direction is given up. */
  maxInflateBytes?: number;
}

export class WebsocketCapture {
  readonly messages: AssembledMessage[] = [];
  readonly deflate: DeflateParams | undefined;
  /** Messages left out of the list (past maxMessages). */
  dropped = 0;
  private readonly budget: Budget;
  private readonly sides: Record<WsDir, MessageAssembler>;
  private readonly inflaters: MessageInflater[] = [];
  private readonly maxMessages: number;
  private firstError: string | undefined;
  private stopped = false;
  private onSettled: (() => void) | undefined;

  constructor(private readonly opts: WebsocketCaptureOptions) {
    this.budget = { left: Math.max(0, opts.cap), truncated: false };
    this.maxMessages = opts.maxMessages ?? DEFAULT_MAX_MESSAGES;
    this.deflate = parseDeflateExtension(opts.extensions);
    this.sides = { c2s: this.side('c2s'), s2c: this.side('s2c') };
  }

  private side(dir: WsDir): MessageAssembler {
    const d = this.deflate;
    const inflater = d
      ? new MessageInflater({
          noContextTakeover: dir === 'c2s' ? d.clientNoContextTakeover : d.serverNoContextTakeover,
          ...(this.opts.maxInflateBytes !== undefined ? { maxOutputBytes: this.opts.maxInflateBytes } : {}),
          onError: (message) => this.noteError(`${dir}: ${message}`),
        })
      : undefined;
    if (inflater) this.inflaters.push(inflater);
    return new MessageAssembler(dir, {
      budget: this.budget,
      now: () => this.opts.now(),
      inflater,
      emit: (m) => {
        if (this.messages.length < this.maxMessages) this.messages.push(m);
        else this.dropped++;
      },
      settled: () => this.checkSettled(),
    });
  }

  /** Copies of bytes one peer sent, in order. Never throws. */
  feed(dir: WsDir, bytes: Buffer): void {
    if (this.stopped) return;
    const side = this.sides[dir];
    if (side.error) return;
    try {
      side.execute(bytes);
    } catch (err) {
      // A bug here must not reach the socket's data handler: stop reading this direction.
      side.parser.fail(`capture failed: ${(err as Error).message}`);
    }
    if (side.error) this.noteError(`${dir}: ${side.error}`);
  }

  /** The first reason the messages could not be read (framing, deflate), if any. */
  get error(): string | undefined {
    return this.firstError;
  }

  /** Some payload bytes or messages were left out because of the caps. */
  get truncated(): boolean {
    return this.budget.truncated || this.dropped > 0;
  }

  /** Payload bytes held (at most the cap). */
  get keptBytes(): number {
    let n = 0;
    for (const m of this.messages) n += m.payload.kept;
    return n;
  }

  /** No more bytes will come; `done` runs once the messages being inflated are complete. */
  end(done: () => void): void {
    this.stopped = true;
    this.onSettled = done;
    this.checkSettled();
  }

  /** Stops waiting for zlib: messages still inflating keep what came out so far. */
  abandon(): void {
    for (const inflater of this.inflaters) inflater.close();
    this.checkSettled();
  }

  private checkSettled(): void {
    if (!this.onSettled || this.messages.some((m) => m.pending)) return;
    const done = this.onSettled;
    this.onSettled = undefined;
    for (const inflater of this.inflaters) inflater.close();
    done();
  }

  private noteError(message: string): void {
    this.firstError ??= message;
  }
}
