/**
 * An incremental, sans-IO HTTP/1 message parser for one direction of a connection (requests from
 * a client or responses from a server). Bytes go in with execute(); callbacks report each head,
 * the wire bytes of each body (to forward unchanged: chunk framing, trailers and all), the
 * decoded body bytes (to record), trailers and the end of each message.
 *
 * The proxy forwards the head bytes itself (from head.raw, possibly rewritten) and the body
 * bytes from onRaw, so nothing is buffered beyond one head (or trailer section) and one
 * chunk-size line. head.raw plus the onRaw slices of every message are exactly the input
 * consumed (stray empty lines before a request are part of the next head.raw); the only bytes
 * never reported are empty lines still waiting for a request when the input ends.
 */
import type { HeaderList } from '../../model/exchange.ts';
import { Http1ParseError, parseFieldLine, parseHead, type Http1ErrorCode, type Http1Head } from './head.ts';

/** What the proxy wants after seeing a head. */
export type HeadDecision =
  /** Frame the body from the headers. */
  | 'continue'
  /** A response with no body whatever the headers say (to HEAD; 204; 304). */
  | 'no-body'
  /** Stop parsing after this head; the rest of the connection is an opaque tunnel (101, CONNECT 2xx). */
  | 'tunnel'
  /** Stop after this head until resume() (the proxy must wait before forwarding what follows). */
  | 'pause';

export interface Http1Callbacks {
  onHead(head: Http1Head): HeadDecision;
  /** Wire bytes of the current body, in order; slices of the input, valid only during the call. */
  onRaw(bytes: Buffer): void;
  /** Decoded body bytes (chunk framing removed); slices of the input, valid only during the call. */
  onData(bytes: Buffer): void;
  onTrailers(trailers: HeaderList): void;
  /** The message ended. Return 'pause' to stop before the next message. */
  onComplete(): 'pause' | void;
}

type State =
  'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'until-close' | 'tunnel' | 'error';

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const CR = 0x0d;
const LF = 0x0a;
const MAX_CHUNK_LINE = 4096;
/** Scratch buffers larger than this are released once a head or line is complete. */
const KEEP_SCRATCH = 16 * 1024;

// chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1.1); BWS only before ";" and "=".
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const CHUNK_LINE = new RegExp(`^([0-9A-Fa-f]+)(?:[ \\t]*;[ \\t]*${TCHAR}(?:[ \\t]*=[ \\t]*(?:${TCHAR}|${QUOTED}))?)*$`);

export interface Http1ParserOptions {
  kind: 'request' | 'response';
  /**
   * Largest head (and trailer section) accepted, in bytes, counting its final CRLFCRLF and, for a
   * request, any empty lines before it. Default 64 KiB.
   */
  maxHeadBytes?: number;
  /**
   * Make each head's header list only when it is read (see parseHead): for a proxy that needs
   * only the framing, Host and the raw bytes. Default false.
   */
  lazyHeaders?: boolean;
}

export class Http1Parser {
  readonly kind: 'request' | 'response';
  private readonly maxHeadBytes: number;
  private readonly lazyHeaders: boolean;
  private state: State = 'head';
  // Partial head, chunk-size line or trailer section: scratch[0, scratchLen). Grown by doubling,
  // so a head trickling in one byte at a time costs linear, not quadratic, copying.
  private scratch: Buffer | undefined;
  private scratchLen = 0;
  private lead = 0; // stray CR/LF bytes at the start of scratch, before a request line
  private remaining = 0; // bytes left in a Content-Length body or the current chunk
  private paused = false;
  /** Set when the input could not be parsed; the parser then consumes nothing more. */
  error: Http1ParseError | undefined;
  /** Number of complete messages so far. */
  messages = 0;
  /** True between a head and the end of its message. */
  inMessage = false;
  /**
   * During onHead only: the head's bytes as a slice of the input (head.raw is a copy of them),
   * when the whole head came in one execute() call; undefined otherwise. A proxy that forwards
   * the head unchanged writes this slice, which joins the body bytes after it in one write.
   */
  headWire: Buffer | undefined;

  constructor(
    options: Http1ParserOptions,
    private readonly cb: Http1Callbacks,
  ) {
    this.kind = options.kind;
    this.maxHeadBytes = options.maxHeadBytes ?? 64 * 1024;
    this.lazyHeaders = options.lazyHeaders ?? false;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get isTunnel(): boolean {
    return this.state === 'tunnel';
  }

  resume(): void {
    this.paused = false;
  }

  /** After a 'pause' on a head with Upgrade: the upgrade happened, what follows is a tunnel. */
  becomeTunnel(): void {
    this.state = 'tunnel';
    this.paused = false;
    this.clearScratch();
  }

  /**
   * Parses as much of `chunk` as it can. Returns how many bytes were consumed: fewer than
   * chunk.length when paused, turned into a tunnel, or failed (see `error`).
   */
  execute(chunk: Buffer): number {
    let pos = 0;
    // Start of body wire bytes not yet reported: from 0 when a body continues from the last call.
    // (A local and a method rather than a closure: execute() runs per read, in the hot path.)
    let rawStart = this.inMessage && this.state !== 'head' ? 0 : -1;
    try {
      while (pos < chunk.length && !this.paused) {
        switch (this.state) {
          case 'head': {
            const used = this.readHead(chunk, pos);
            if (used < 0) return chunk.length; // head continues in the next chunk
            pos = used;
            const next = this.state as State; // readHead moved the state on
            if (next === 'tunnel') return pos;
            if (next !== 'head') rawStart = pos;
            break;
          }
          case 'length': {
            const take = Math.min(this.remaining, chunk.length - pos);
            this.cb.onData(chunk.subarray(pos, pos + take));
            pos += take;
            this.remaining -= take;
            if (this.remaining === 0) {
              this.flushRaw(chunk, rawStart, pos);
              rawStart = -1;
              this.complete();
            }
            break;
          }
          case 'until-close': {
            this.cb.onData(chunk.subarray(pos));
            pos = chunk.length;
            break;
          }
          case 'chunk-size': {
            const lineEnd = this.readLine(chunk, pos);
            if (lineEnd < 0) {
              pos = chunk.length;
              break;
            }
            pos = lineEnd;
            break;
          }
          case 'chunk-data': {
            const take = Math.min(this.remaining, chunk.length - pos);
            this.cb.onData(chunk.subarray(pos, pos + take));
            pos += take;
            this.remaining -= take;
            if (this.remaining === 0) {
              this.state = 'chunk-data-end';
              this.remaining = 2;
            }
            break;
          }
          case 'chunk-data-end': {
            // Exactly CRLF after each chunk's data.
            const expected = this.remaining === 2 ? 0x0d : 0x0a;
            if (chunk[pos] !== expected) throw new Http1ParseError('bad-chunk', 'chunk data not followed by CRLF');
            pos++;
            if (--this.remaining === 0) this.state = 'chunk-size';
            break;
          }
          case 'trailers': {
            const end = this.readTrailers(chunk, pos);
            if (end < 0) {
              pos = chunk.length;
              break;
            }
            pos = end;
            this.flushRaw(chunk, rawStart, pos);
            rawStart = -1;
            this.complete();
            break;
          }
          case 'tunnel':
          case 'error':
            this.flushRaw(chunk, rawStart, pos);
            return pos;
        }
        if (rawStart < 0 && this.inMessage && this.state !== 'head') rawStart = pos;
      }
      this.flushRaw(chunk, rawStart, pos);
      return pos;
    } catch (err) {
      this.flushRaw(chunk, rawStart, pos);
      if (!(err instanceof Http1ParseError)) throw err;
      this.error = err;
      this.state = 'error';
      return pos;
    }
  }

  /** Reports chunk[start, end) as body wire bytes (nothing when start is -1). */
  private flushRaw(chunk: Buffer, start: number, end: number): void {
    if (start >= 0 && end > start) this.cb.onRaw(chunk.subarray(start, end));
  }

  /**
   * The input ended (the peer closed its side). Completes a read-until-close body; returns an
   * error when a message was cut short.
   */
  finish(): Http1ParseError | undefined {
    if (this.state === 'until-close') {
      this.complete();
      return undefined;
    }
    if (this.state === 'tunnel' || this.state === 'error') return this.error;
    // Empty lines waiting for a request that never came are not a truncated message.
    if (this.inMessage || (this.state === 'head' && this.scratchLen > this.lead)) {
      this.error = new Http1ParseError('truncated', 'the connection closed in the middle of a message');
      this.state = 'error';
      return this.error;
    }
    return undefined;
  }

  private complete(): void {
    this.state = 'head';
    this.inMessage = false;
    this.messages++;
    if (this.cb.onComplete() === 'pause') this.paused = true;
  }

  private stash(bytes: Buffer): void {
    const need = this.scratchLen + bytes.length;
    if (!this.scratch || this.scratch.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (this.scratch?.length ?? 0), 256));
      if (this.scratch) this.scratch.copy(grown, 0, 0, this.scratchLen);
      this.scratch = grown;
    }
    bytes.copy(this.scratch, this.scratchLen);
    this.scratchLen = need;
  }

  private clearScratch(): void {
    this.scratchLen = 0;
    this.lead = 0;
    if (this.scratch && this.scratch.length > KEEP_SCRATCH) this.scratch = undefined;
  }

  /** The bytes stashed so far followed by `more` (stashed too when something was stashed). */
  private withScratch(more: Buffer): Buffer {
    if (this.scratchLen === 0) return more;
    this.stash(more);
    return (this.scratch as Buffer).subarray(0, this.scratchLen);
  }

  /**
   * Finds the CRLFCRLF ending a head or trailer section in `buf`, of which the first `have` bytes
   * were already searched, skipping the first `skip` bytes. Returns the offset after the
   * CRLFCRLF, or -1 when more input is needed. While the end is missing, rejects bare LF line
   * endings (else a head ended by LF LF would wait for a CRLFCRLF that may belong to a later
   * message) with the code parseHead gives them once the end is there (the first bare LF
   * decides: in the start line or in a field line), and sections not ended within maxHeadBytes.
   */
  private findEnd(buf: Buffer, have: number, skip: number, startLineCode: Http1ErrorCode | undefined): number {
    const idx = buf.indexOf(CRLF_CRLF, Math.max(skip, have - 3));
    if (idx >= 0) return idx + 4;
    for (let i = buf.indexOf(LF, Math.max(skip, have)); i >= 0; i = buf.indexOf(LF, i + 1)) {
      if (i > skip && buf[i - 1] === CR) continue;
      const inStartLine = startLineCode !== undefined && buf.indexOf(LF, skip) === i;
      throw new Http1ParseError(inStartLine ? startLineCode : 'bad-header', 'line ended by a bare LF (CRLF required)');
    }
    if (buf.length >= this.maxHeadBytes)
      throw new Http1ParseError('head-too-large', `message head larger than ${this.maxHeadBytes} bytes`);
    return -1;
  }

  /** Returns the offset after the head, or -1 when more input is needed. */
  private readHead(chunk: Buffer, pos: number): number {
    // Requests may be preceded by stray CRLFs (RFC 9112 §2.2): they are not parsed, but are kept
    // (and counted against maxHeadBytes) to become the start of head.raw.
    if (this.kind === 'request' && this.scratchLen === this.lead) {
      const start = pos;
      while (pos < chunk.length && (chunk[pos] === CR || chunk[pos] === LF)) pos++;
      if (pos > start) {
        if (this.scratchLen + (pos - start) > this.maxHeadBytes) {
          throw new Http1ParseError('head-too-large', `message head larger than ${this.maxHeadBytes} bytes`);
        }
        this.stash(chunk.subarray(start, pos));
        this.lead += pos - start;
      }
      if (pos === chunk.length) return -1;
    }
    const have = this.scratchLen;
    const lead = this.lead;
    let raw: Buffer | undefined; // the head, copied: neither the input nor scratch is ours to keep
    let wire: Buffer | undefined;
    if (have === 0) {
      // The usual case, the whole head in this chunk: straight from the chunk, without staging.
      // The general path below would find the same CRLFCRLF (the first, within maxHeadBytes).
      const idx = chunk.indexOf(CRLF_CRLF, pos);
      if (idx >= 0 && idx + 4 - pos <= this.maxHeadBytes) {
        wire = chunk.subarray(pos, idx + 4);
        raw = Buffer.from(wire);
      }
    }
    if (raw === undefined) {
      const more = chunk.subarray(pos, pos + Math.max(0, this.maxHeadBytes - have));
      const buf = this.withScratch(more);
      const end = this.findEnd(buf, have, lead, this.kind === 'request' ? 'bad-request-line' : 'bad-status-line');
      if (end < 0) {
        if (have === 0) this.stash(more); // copy: the input chunk is not ours to keep
        return -1;
      }
      raw = Buffer.from(buf.subarray(0, end));
    }
    this.clearScratch();
    const head = parseHead(this.kind, raw.toString('latin1', lead, raw.length - 4), raw, this.lazyHeaders);
    this.inMessage = true;
    this.headWire = wire; // set before every onHead, so never stale inside one
    const decision = this.cb.onHead(head);
    this.headWire = undefined;
    const after = pos + raw.length - have;
    this.startBody(head, decision);
    if (decision === 'pause') this.paused = true;
    return after;
  }

  private startBody(head: Http1Head, decision: HeadDecision): void {
    if (decision === 'tunnel') {
      this.state = 'tunnel';
      this.inMessage = false;
      this.messages++;
      return;
    }
    if (this.kind === 'response' && head.status >= 100 && head.status < 200) {
      // 1xx is interim (100 Continue, 103 Early Hints): the final response is still to come.
      this.state = 'head';
      this.inMessage = false;
      return;
    }
    if (decision === 'no-body' || (this.kind === 'response' && (head.status === 204 || head.status === 304))) {
      this.complete();
      return;
    }
    if (head.chunked) {
      this.state = 'chunk-size';
    } else if (head.contentLength !== undefined) {
      if (head.contentLength === 0) {
        this.complete();
        return;
      }
      this.state = 'length';
      this.remaining = head.contentLength;
    } else if (this.kind === 'response') {
      this.state = 'until-close';
    } else {
      this.complete(); // a request without framing headers has no body
    }
  }

  /** Reads a chunk-size line; returns the offset after it or -1 when more input is needed. */
  private readLine(chunk: Buffer, pos: number): number {
    const have = this.scratchLen;
    const window = chunk.subarray(pos, pos + Math.max(0, MAX_CHUNK_LINE - have));
    const nl = window.indexOf(LF);
    if (nl < 0) {
      if (have + chunk.length - pos >= MAX_CHUNK_LINE)
        throw new Http1ParseError('bad-chunk', 'chunk-size line too long');
      this.stash(window);
      return -1;
    }
    const line = this.withScratch(window.subarray(0, nl + 1));
    if (line.length < 2 || line[line.length - 2] !== CR)
      throw new Http1ParseError('bad-chunk', 'chunk-size line not ended by CRLF');
    const text = line.toString('latin1', 0, line.length - 2);
    this.clearScratch();
    const m = CHUNK_LINE.exec(text);
    if (!m)
      throw new Http1ParseError(
        'bad-chunk',
        `invalid chunk-size line "${text.slice(0, 20).replace(/[^\x20-\x7e]/g, '?')}"`,
      );
    let digits = m[1] as string;
    if (digits.length > 13) digits = digits.replace(/^0+(?=.)/, ''); // leading zeros are allowed
    if (digits.length > 13) throw new Http1ParseError('bad-chunk', 'chunk size too large');
    const size = parseInt(digits, 16);
    if (size === 0) {
      this.state = 'trailers';
    } else {
      this.state = 'chunk-data';
      this.remaining = size;
    }
    return pos + nl + 1;
  }

  /** Reads the trailer section after the last chunk; returns the offset after it or -1. */
  private readTrailers(chunk: Buffer, pos: number): number {
    const have = this.scratchLen;
    const more = chunk.subarray(pos, pos + Math.max(0, this.maxHeadBytes - have));
    const buf = this.withScratch(more);
    let end: number;
    if (buf[0] === CR || buf[0] === LF) {
      // No trailers: just the CRLF ending the chunked body.
      if (buf[0] === LF || (buf.length >= 2 && buf[1] !== LF))
        throw new Http1ParseError('bad-chunk', 'last chunk not followed by CRLF');
      end = buf.length >= 2 ? 2 : -1;
    } else {
      end = this.findEnd(buf, have, 0, undefined);
    }
    if (end < 0) {
      if (have === 0) this.stash(more);
      return -1;
    }
    if (end > 2) {
      const text = buf.toString('latin1', 0, end - 4);
      this.onTrailerText(text);
    }
    this.clearScratch();
    return pos + end - have;
  }

  private onTrailerText(text: string): void {
    const trailers: HeaderList = text.split('\r\n').map(parseFieldLine);
    this.cb.onTrailers(trailers);
  }
}
