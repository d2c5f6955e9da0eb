/**
 * The static Huffman code of HPACK (RFC 7541 Appendix B), decoding only: the proxy reads
 * header blocks, it never writes them.
 *
 * The code is canonical (within one length, codes count up in symbol order; each length starts
 * where the shorter ones left off), so the 257 code lengths alone define it. The table below is
 * those lengths; the codes, and a bit-by-bit decoding tree, are derived from them at load.
 */

/** Code length in bits of each symbol 0–255 and of EOS (256), in symbol order. */
// prettier-ignore
export const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** The canonical codes, right-aligned, one per symbol (exported for tests). */
export const HUFFMAN_CODES: readonly number[] = canonicalCodes(HUFFMAN_LENGTHS);

function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const codes = new Array<number>(lengths.length).fill(0);
  let code = 0;
  let prevLen = order[0]?.len ?? 0;
  for (const { len, sym } of order) {
    // Multiplying, not shifting: codes of 30 bits would overflow a signed 32-bit shift.
    code *= 2 ** (len - prevLen);
    prevLen = len;
    codes[sym] = code;
    code++;
  }
  return codes;
}

/**
 * The decoding tree as two child arrays: a value ≥ 0 is the next inner node, a value < 0 a
 * leaf holding symbol `-value - 1`. Node 0 is the root; a complete code of 257 leaves has 256
 * inner nodes.
 */
const ZERO = new Int32Array(256);
const ONE = new Int32Array(256);

(function buildTree() {
  let nodes = 1;
  for (let sym = 0; sym < HUFFMAN_LENGTHS.length; sym++) {
    const len = HUFFMAN_LENGTHS[sym] as number;
    const code = HUFFMAN_CODES[sym] as number;
    let node = 0;
    for (let bit = len - 1; bit >= 0; bit--) {
      const branch = Math.floor(code / 2 ** bit) % 2 === 1 ? ONE : ZERO;
      if (bit === 0) {
        branch[node] = -sym - 1;
      } else {
        if (branch[node] === 0) branch[node] = nodes++;
        node = branch[node] as number;
      }
    }
  }
})();

export class HuffmanError extends Error {}

/**
 * Decodes a Huffman-coded string literal. The padding must be the most significant bits of EOS
 * (all ones) and shorter than 8 bits; EOS itself must not appear (RFC 7541 §5.2).
 */
export function huffmanDecode(input: Uint8Array): Buffer {
  // Every symbol takes at least 5 bits: the output is at most 8/5 of the input.
  const out = Buffer.allocUnsafe(Math.ceil((input.length * 8) / 5));
  let n = 0;
  let node = 0;
  /** Bits read since the last symbol, and whether they were all ones (a prefix of EOS). */
  let pending = 0;
  let allOnes = true;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >> bit) & 1;
      const next = one ? (ONE[node] as number) : (ZERO[node] as number);
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HuffmanError('Huffman string contains EOS');
        out[n++] = sym;
        node = 0;
        pending = 0;
        allOnes = true;
      } else {
        node = next;
        pending++;
        if (!one) allOnes = false;
      }
    }
  }
  if (pending > 7) throw new HuffmanError('Huffman padding longer than 7 bits');
  if (!allOnes) throw new HuffmanError('Huffman padding is not a prefix of EOS');
  return out.subarray(0, n);
}
