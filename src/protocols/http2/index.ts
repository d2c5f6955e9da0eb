/** HTTP/2 capture: frame reader, HPACK decoder and the passive stream observer. */
export { errorCodeName, FrameReader, FrameType, Flag, MAX_FRAME_SIZE, PREFACE, type FrameHeader } from './frames.ts';
export { HpackDecoder, HpackError, type HeaderField } from './hpack.ts';
export { huffmanDecode } from './huffman.ts';
export { Http2Observer, pseudoValue, type Dir, type Http2Head, type Http2Listener } from './observer.ts';
