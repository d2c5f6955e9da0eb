/** gRPC decoding for capture: the public surface of this folder. */
export { buildGrpcCall, isGrpcContentType, splitGrpcPath, type GrpcCallInput, type GrpcChunk } from './call.ts';
export { GrpcDeframer, inflate, type DeframerOptions, type FramedMessage, type GrpcDir } from './framing.ts';
export { decodeProtoFields, isPrintableText, type WireDecodeOptions } from './protobuf-wire.ts';
export { ProtoRegistry, type GrpcMethodTypes } from './proto-registry.ts';
