/**
 * An HPACK decoder (RFC 7541): one per direction of a connection, fed every header block of
 * that direction in order, since each block may change the dynamic table the next ones refer to.
 *
 * Strings are read as latin1 (one char per octet, as Node's http2 and the HTTP/1 parser do), so
 * sizes in chars are sizes in octets. Everything is bounded: the dynamic table by a hard cap
 * whatever the peer's settings say, and the decoded list of one block.
 */
import { CaptureLimitError } from './frames.ts';
import { huffmanDecode, HuffmanError } from './huffman.ts';

export interface HeaderField {
  name: string;
  value: string;
  /** Sent as "never indexed" (§6.2.3): an intermediary must forward it the same way. */
  neverIndexed: boolean;
}

export class HpackError extends Error {}

/** RFC 7541 Appendix A. Index 1 is the first entry. */
// prettier-ignore
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** The table size every connection starts with (SETTINGS_HEADER_TABLE_SIZE default). */
export const DEFAULT_TABLE_SIZE = 4096;

export interface HpackDecoderOptions {
  /**
   * Largest dynamic table accepted whatever the peer's settings allow: a bound on memory per
   * connection. Real stacks use 4 KiB (nghttp2, Go, Envoy); a bigger update is an error.
   */
  hardMaxTableSize?: number;
  /** Largest decoded header list of one block (names + values + 32 per field, as §4.1 counts). */
  maxListSize?: number;
}

export class HpackDecoder {
  /** Entries, oldest first; the newest (dynamic index 1) is the last. */
  private entries: Array<readonly [string, string]> = [];
  private first = 0;
  private size = 0;
  /** The table size in force (the last size update, or the initial size). */
  private maxSize = DEFAULT_TABLE_SIZE;
  /** The largest size update the peer's settings permit (see allowTableSize). */
  private allowed = DEFAULT_TABLE_SIZE;
  /** The largest size advertised, before the hard cap. */
  private advertised = DEFAULT_TABLE_SIZE;
  private readonly hardMax: number;
  private readonly maxListSize: number;

  constructor(opts: HpackDecoderOptions = {}) {
    this.hardMax = opts.hardMaxTableSize ?? 64 * 1024;
    this.maxListSize = opts.maxListSize ?? 1024 * 1024;
  }

  /**
   * The decoding side advertised SETTINGS_HEADER_TABLE_SIZE `size`. A passive observer cannot
   * know exactly when the encoder saw it, so it allows the largest value ever advertised.
   */
  allowTableSize(size: number): void {
    this.advertised = Math.max(this.advertised, size);
    this.allowed = Math.max(this.allowed, Math.min(size, this.hardMax));
  }

  /** The number of bytes the dynamic table holds (for tests). */
  get tableSize(): number {
    return this.size;
  }

  /** Decodes one complete header block (HEADERS or PUSH_PROMISE plus its CONTINUATIONs). */
  decode(block: Uint8Array): HeaderField[] {
    const out: HeaderField[] = [];
    let listSize = 0;
    let pos = 0;
    let updatesAllowed = true;
    const int = (prefixBits: number): number => {
      const r = decodeInteger(block, pos, prefixBits);
      pos = r.next;
      return r.value;
    };
    const str = (): string => {
      const start = pos;
      const huffman = ((block[start] as number) & 0x80) !== 0;
      const len = int(7);
      if (pos + len > block.length) throw new HpackError('string literal runs past the end of the header block');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      if (!huffman) return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('latin1');
      try {
        return huffmanDecode(raw).toString('latin1');
      } catch (err) {
        if (err instanceof HuffmanError) throw new HpackError(err.message);
        throw err;
      }
    };
    const emit = (name: string, value: string, neverIndexed: boolean) => {
      listSize += name.length + value.length + 32;
      if (listSize > this.maxListSize)
        throw new HpackError(`decoded header list larger than ${this.maxListSize} bytes`);
      out.push({ name, value, neverIndexed });
    };

    while (pos < block.length) {
      const b = block[pos] as number;
      if (b & 0x80) {
        // §6.1 Indexed Header Field.
        const [name, value] = this.lookup(int(7));
        emit(name, value, false);
      } else if (b & 0x40) {
        // §6.2.1 Literal with Incremental Indexing.
        const index = int(6);
        const name = index === 0 ? str() : this.lookup(index)[0];
        const value = str();
        this.insert(name, value);
        emit(name, value, false);
      } else if (b & 0x20) {
        // §6.3 Dynamic Table Size Update: only before the first field of a block.
        if (!updatesAllowed) throw new HpackError('dynamic table size update after a header field');
        const size = int(5);
        if (size > this.allowed) {
          const message = `dynamic table size update to ${size} exceeds the allowed ${this.allowed}`;
          // Legal when the peer advertised it, but past what the capture holds.
          throw size <= this.advertised ? new CaptureLimitError(message) : new HpackError(message);
        }
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        // §6.2.2 without indexing (0000), §6.2.3 never indexed (0001).
        const neverIndexed = (b & 0x10) !== 0;
        const index = int(4);
        const name = index === 0 ? str() : this.lookup(index)[0];
        emit(name, str(), neverIndexed);
      }
      updatesAllowed = false;
    }
    return out;
  }

  private lookup(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0 is not a header field');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as readonly [string, string];
    const dyn = index - STATIC_TABLE.length;
    const count = this.entries.length - this.first;
    if (dyn > count) throw new HpackError(`index ${index} is past the end of the dynamic table`);
    return this.entries[this.entries.length - dyn] as readonly [string, string];
  }

  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    // §4.4: an entry larger than the table empties it and is not added.
    this.evict(entrySize);
    if (entrySize > this.maxSize) return;
    this.entries.push([name, value]);
    this.size += entrySize;
  }

  /** Evicts the oldest entries until `room` more bytes fit under the current size. */
  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.first < this.entries.length) {
      const [n, v] = this.entries[this.first] as readonly [string, string];
      this.size -= n.length + v.length + 32;
      this.first++;
    }
    // Compact now and then rather than shifting on every eviction.
    if (this.first > 64 && this.first * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }
}

/** §5.1: an integer with an N-bit prefix. Values past 2^31 are refused (no real header needs one). */
export function decodeInteger(buf: Uint8Array, pos: number, prefixBits: number): { value: number; next: number } {
  if (pos >= buf.length) throw new HpackError('header block ends inside an integer');
  const max = (1 << prefixBits) - 1;
  let value = (buf[pos] as number) & max;
  pos++;
  if (value < max) return { value, next: pos };
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new HpackError('header block ends inside an integer');
    const b = buf[pos++] as number;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (value > 0x7fffffff) throw new HpackError('integer too large');
    if ((b & 0x80) === 0) return { value, next: pos };
  }
}
