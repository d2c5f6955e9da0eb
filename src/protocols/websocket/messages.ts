/**
 * Frames to messages for one direction (RFC 6455 §5.4-5.5): a data message is reassembled from
 * its fragments (control frames may come between them), inflated when it was compressed, and
 * kept up to a byte budget shared by both directions; past it the size is still counted.
 * Violations of the message rules stop this direction's parser, like framing violations.
 */
import type { MessageInflater } from './deflate.ts';
import { FrameParser, OPCODE, type FrameHandler, type FrameHeader } from './frames.ts';

export type WsDir = 'c2s' | 's2c';
export type WsMessageType = 'text' | 'binary' | 'ping' | 'pong' | 'close';

/** Bytes the capture may still keep, shared by every message of a session. */
export interface Budget {
  left: number;
  /** Some message lost bytes to the cap. */
  truncated: boolean;
}

/** The kept bytes of one payload; `size` counts them all. */
export class Payload {
  private readonly parts: Buffer[] = [];
  kept = 0;
  size = 0;

  constructor(private readonly budget: Budget) {}

  add(piece: Buffer): void {
    this.size += piece.length;
    const take = Math.min(piece.length, this.budget.left);
    if (take < piece.length) this.budget.truncated = true;
    if (take <= 0) return;
    // A copy: the piece may be a view into a socket read much larger than what is kept.
    this.parts.push(Buffer.from(piece.subarray(0, take)));
    this.kept += take;
    this.budget.left -= take;
  }

  /** Bytes that were not looked at (past the cap): counted only. */
  skip(n: number): void {
    this.size += n;
    if (n > 0) this.budget.truncated = true;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  bytes(): Buffer {
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.kept);
  }
}

export interface AssembledMessage {
  dir: WsDir;
  /** When the message was complete, in the session's clock. */
  tMs: number;
  type: WsMessageType;
  payload: Payload;
  /** Close frames: status code and reason (the payload then holds the reason's bytes). */
  code?: number;
  reason?: string;
  /** Still being inflated. */
  pending: boolean;
}

export interface AssemblerDeps {
  budget: Budget;
  now(): number;
  /** A message is complete (its inflated bytes may still be on the way: see `pending`). */
  emit(message: AssembledMessage): void;
  /** Set when permessage-deflate was negotiated. */
  inflater?: MessageInflater | undefined;
  /** A compressed message finished inflating. */
  settled?(): void;
}

const DATA_TYPES: Record<number, WsMessageType> = { [OPCODE.text]: 'text', [OPCODE.binary]: 'binary' };
const CONTROL_TYPES: Record<number, WsMessageType> = {
  [OPCODE.close]: 'close',
  [OPCODE.ping]: 'ping',
  [OPCODE.pong]: 'pong',
};

export class MessageAssembler implements FrameHandler {
  readonly parser: FrameParser;
  /** The data message being reassembled. */
  private message: { msg: AssembledMessage; compressed: boolean } | undefined;
  /** The control frame being read (at most 125 bytes, kept whole). */
  private control: { type: WsMessageType; parts: Buffer[] } | undefined;
  private frameFin = false;

  constructor(
    readonly dir: WsDir,
    private readonly deps: AssemblerDeps,
  ) {
    this.parser = new FrameParser({ fromClient: dir === 'c2s', allowRsv1: deps.inflater !== undefined }, this);
  }

  get error(): string | undefined {
    return this.parser.error;
  }

  execute(chunk: Buffer): void {
    this.parser.execute(chunk);
  }

  /** The data message left unfinished when the stream ended (if any). */
  get unfinished(): boolean {
    return this.message !== undefined || !this.parser.atBoundary;
  }

  onFrame(h: FrameHeader): boolean {
    this.frameFin = h.fin;
    const controlType = CONTROL_TYPES[h.opcode];
    if (controlType) {
      if (h.rsv1) return this.violation('RSV1 set on a control frame');
      this.control = { type: controlType, parts: [] };
      return true;
    }
    this.control = undefined;
    if (h.opcode === OPCODE.continuation) {
      if (!this.message) return this.violation('continuation frame without a message to continue');
      if (h.rsv1) return this.violation('RSV1 set on a continuation frame');
    } else {
      if (this.message) return this.violation('a new message began before the previous one ended');
      const msg: AssembledMessage = {
        dir: this.dir,
        tMs: 0,
        type: DATA_TYPES[h.opcode] ?? 'binary',
        payload: new Payload(this.deps.budget),
        pending: false,
      };
      this.message = { msg, compressed: h.rsv1 };
      if (h.rsv1) this.deps.inflater?.begin((piece) => msg.payload.add(piece));
    }
    const { msg, compressed } = this.message;
    // Compressed bytes are always read (the next message's inflate needs them); plain ones only
    // while the budget lasts.
    if (compressed || this.deps.budget.left > 0) return true;
    msg.payload.skip(h.length);
    return false;
  }

  onPayload(piece: Buffer): void {
    if (this.control) this.control.parts.push(piece);
    else if (this.message?.compressed) this.deps.inflater?.write(piece);
    else this.message?.msg.payload.add(piece);
  }

  onFrameEnd(): void {
    if (this.control) {
      this.endControl(this.control);
      this.control = undefined;
      return;
    }
    const current = this.message;
    if (!current || !this.frameFin) return;
    this.message = undefined;
    const { msg, compressed } = current;
    msg.tMs = this.deps.now();
    if (compressed && this.deps.inflater) {
      msg.pending = true;
      this.deps.inflater.end(() => {
        msg.pending = false;
        this.deps.settled?.();
      });
    }
    this.deps.emit(msg);
  }

  private endControl(control: { type: WsMessageType; parts: Buffer[] }): void {
    const bytes = Buffer.concat(control.parts);
    const msg: AssembledMessage = {
      dir: this.dir,
      tMs: this.deps.now(),
      type: control.type,
      payload: new Payload(this.deps.budget),
      pending: false,
    };
    if (control.type === 'close' && bytes.length > 0) {
      if (bytes.length === 1) {
        this.violation('close frame with a 1-byte payload (a status code takes 2)');
        return;
      }
      msg.code = bytes.readUInt16BE(0);
      msg.reason = bytes.toString('utf8', 2);
      msg.payload.add(bytes.subarray(2));
    } else {
      msg.payload.add(bytes);
    }
    this.deps.emit(msg);
  }

  private violation(message: string): false {
    this.parser.fail(message);
    return false;
  }
}
