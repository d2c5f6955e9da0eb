/**
 * permessage-deflate (RFC 7692) for a passive reader: which parameters the server accepted, and
 * inflating the messages of one direction in order.
 *
 * With context takeover a message may refer back to the bytes of the messages before it, so one
 * raw inflate stream lives as long as the direction (zlib's one-shot sync API starts from an
 * empty window every call). Output streams out in zlib's chunks and the consumer keeps what its
 * cap allows, so a deflate bomb costs time on zlib's thread pool, never memory; past
 * `maxOutputBytes` for one message the direction is given up. With no_context_takeover each
 * message gets its own stream, which also copes with a sender that ends a message with BFINAL.
 */
import zlib from 'node:zlib';

export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
}

/**
 * The permessage-deflate offer the server accepted, from the Sec-WebSocket-Extensions of its 101
 * response; undefined when it accepted none (then RSV1 means nothing and is a violation).
 */
export function parseDeflateExtension(header: string | undefined): DeflateParams | undefined {
  if (!header) return undefined;
  for (const ext of header.split(',')) {
    const [name, ...params] = ext.split(';').map((s) => s.trim());
    if (name?.toLowerCase() !== 'permessage-deflate') continue;
    const out: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false };
    for (const p of params) {
      const eq = p.indexOf('=');
      const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
      const raw =
        eq < 0
          ? undefined
          : p
              .slice(eq + 1)
              .trim()
              .replace(/^"(.*)"$/, '$1');
      const bits = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
      if (key === 'server_no_context_takeover') out.serverNoContextTakeover = true;
      else if (key === 'client_no_context_takeover') out.clientNoContextTakeover = true;
      else if (key === 'server_max_window_bits' && bits !== undefined) out.serverMaxWindowBits = bits;
      else if (key === 'client_max_window_bits' && bits !== undefined) out.clientMaxWindowBits = bits;
    }
    return out;
  }
  return undefined;
}

/** What the sender strips from the end of every compressed message (RFC 7692 §7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
export const DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
/** Compressed bytes waiting for zlib; past it the reader fell behind and gives up. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

interface Job {
  sink: (piece: Buffer) => void;
  out: number;
  done: (() => void) | undefined;
  finished: boolean;
}

interface Lane {
  stream: zlib.InflateRaw;
  jobs: Job[];
}

export interface InflaterOptions {
  /** The sender resets its compressor for every message. */
  noContextTakeover: boolean;
  maxOutputBytes?: number;
  /** Decoding stopped for good (corrupt data, a bomb past the limit, too far behind). */
  onError(message: string): void;
}

/** Inflates the compressed messages of one direction, one after another. */
export class MessageInflater {
  private lane: Lane | undefined;
  private current: { lane: Lane; job: Job } | undefined;
  private readonly lanes = new Set<Lane>();
  private readonly maxOutput: number;
  failed = false;

  constructor(private readonly opts: InflaterOptions) {
    this.maxOutput = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  }

  /** A compressed message starts; its inflated bytes go to `sink` as they come out. */
  begin(sink: (piece: Buffer) => void): void {
    const job: Job = { sink, out: 0, done: undefined, finished: false };
    if (this.failed) {
      job.finished = true;
      this.current = undefined;
      return;
    }
    const lane = this.opts.noContextTakeover || !this.lane ? this.openLane() : this.lane;
    if (!this.opts.noContextTakeover) this.lane = lane;
    lane.jobs.push(job);
    this.current = { lane, job };
  }

  write(piece: Buffer): void {
    const cur = this.current;
    if (!cur || this.failed) return;
    if (cur.lane.stream.writableLength > MAX_QUEUED_BYTES) {
      this.fail('permessage-deflate: inflating fell too far behind the traffic; stopped decoding');
      return;
    }
    cur.lane.stream.write(piece);
  }

  /** The message's last piece was written; `done` runs once all its bytes came out. */
  end(done: () => void): void {
    const cur = this.current;
    this.current = undefined;
    if (!cur || this.failed || cur.job.finished) {
      done();
      return;
    }
    const { lane, job } = cur;
    job.done = done;
    lane.stream.write(TAIL);
    lane.stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      // The flush's output has been pushed, perhaps not yet emitted: read() emits what is left.
      while (lane.stream.readable && lane.stream.read() !== null);
      if (lane.jobs[0] === job) lane.jobs.shift();
      this.finish(job);
      if (this.opts.noContextTakeover) this.closeLane(lane);
    });
  }

  /** Jobs still waiting for zlib. */
  get pending(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.jobs.length;
    return n;
  }

  /** Frees the zlib streams; pending messages finish with what came out so far. */
  close(): void {
    for (const lane of [...this.lanes]) this.closeLane(lane);
    this.lane = undefined;
  }

  private openLane(): Lane {
    const stream = zlib.createInflateRaw({ windowBits: 15 });
    const lane: Lane = { stream, jobs: [] };
    stream.on('data', (piece: Buffer) => {
      const job = lane.jobs[0];
      if (!job || job.finished) return;
      job.out += piece.length;
      job.sink(piece);
      if (job.out > this.maxOutput) {
        this.fail(`permessage-deflate: a message inflates past ${this.maxOutput} bytes; stopped decoding`);
      }
    });
    stream.on('error', (err) => this.fail(`permessage-deflate: the compressed data is invalid (${err.message})`));
    this.lanes.add(lane);
    return lane;
  }

  private closeLane(lane: Lane): void {
    this.lanes.delete(lane);
    if (this.lane === lane) this.lane = undefined;
    for (const job of lane.jobs.splice(0)) this.finish(job);
    lane.stream.removeAllListeners('data');
    lane.stream.on('error', () => undefined); // a late error from a closed stream has no one to tell
    lane.stream.close();
  }

  private finish(job: Job): void {
    if (job.finished) return;
    job.finished = true;
    job.done?.();
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.opts.onError(message);
    this.close();
  }
}
