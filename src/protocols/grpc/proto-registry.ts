/**
 * The .proto files given with `--proto DIR`: every .proto under the directory (recursively),
 * loaded with protobufjs, so a captured message of a known method is decoded to full JSON.
 *
 * Field names are converted to lowerCamelCase (protobufjs `keepCase: false`): that is the proto3
 * JSON mapping, what grpcurl, protojson and Envoy's transcoder print, so the JSON reads like the
 * service's own JSON. Values follow `toObject` with int64 as decimal strings, enums as names and
 * bytes as base64 (also as the proto3 JSON mapping has them); fields left at their default are
 * omitted, as they are absent on the wire.
 *
 * Imports resolve against DIR first (the usual `-I DIR` of protoc), then against the importing
 * file's folder; google/protobuf well-known types (any, duration, empty, field_mask, struct,
 * timestamp, wrappers) come bundled with protobufjs.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import protobuf from 'protobufjs';
import { FileUnreadableError, ProtoInvalidError } from '../../errors.ts';

export interface GrpcMethodTypes {
  /** Fully qualified message names, without the leading dot. */
  requestType: string;
  responseType: string;
  requestStream: boolean;
  responseStream: boolean;
}

interface ResolvedMethod extends GrpcMethodTypes {
  request: protobuf.Type;
  response: protobuf.Type;
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  // NaN and Infinity as strings, Any expanded: output that survives JSON.stringify.
  json: true,
};

export class ProtoRegistry {
  private readonly methods = new Map<string, ResolvedMethod | null>();

  private constructor(
    private readonly root: protobuf.Root,
    /** The .proto files loaded, absolute paths. */
    readonly files: readonly string[],
  ) {}

  /** Loads every .proto under `dir`. Fails with TW_PROTO_INVALID naming the file and line. */
  static async load(dir: string): Promise<ProtoRegistry> {
    const base = path.resolve(dir);
    if (!existsSync(base) || !statSync(base).isDirectory()) {
      throw new FileUnreadableError(dir, 'not a directory', 'give --proto the directory that holds your .proto files');
    }
    const entries = await readdir(base, { recursive: true });
    const files = entries
      .filter((f) => f.endsWith('.proto'))
      .map((f) => path.join(base, f))
      .sort();
    if (files.length === 0) {
      throw new FileUnreadableError(
        dir,
        'no .proto files in it',
        'give --proto the directory that holds your .proto files',
      );
    }
    const root = new protobuf.Root();
    root.resolvePath = (origin, target) => {
      if (path.isAbsolute(target)) return target;
      const fromBase = path.join(base, target);
      if (existsSync(fromBase)) return fromBase;
      const fromOrigin = path.resolve(path.dirname(origin || base), target);
      // An unknown google/protobuf/… name still ends in the bundled well-known types.
      return existsSync(fromOrigin) ? fromOrigin : fromBase;
    };
    try {
      // loadSync, not load: protobufjs 8's async load resolves types inside an fs callback, so a
      // missing type there is an uncaught exception instead of a rejected promise.
      root.loadSync(files, { keepCase: false });
      root.resolveAll();
    } catch (err) {
      throw protoError(err, files, root);
    }
    return new ProtoRegistry(root, files);
  }

  /** The request and response types of `/pkg.Service/Method`, when a loaded service has it. */
  lookup(grpcPath: string): GrpcMethodTypes | undefined {
    const m = this.method(grpcPath);
    if (!m) return undefined;
    const { requestType, responseType, requestStream, responseStream } = m;
    return { requestType, responseType, requestStream, responseStream };
  }

  /** The message as JSON; `undefined` when the method is unknown or the bytes do not decode. */
  decode(grpcPath: string, dir: 'c2s' | 's2c', bytes: Uint8Array): unknown {
    const result = this.tryDecode(grpcPath, dir, bytes);
    return result && 'json' in result ? result.json : undefined;
  }

  /** Like decode, and says why bytes of a known method did not decode. */
  tryDecode(
    grpcPath: string,
    dir: 'c2s' | 's2c',
    bytes: Uint8Array,
  ): { json: unknown } | { error: string } | undefined {
    const m = this.method(grpcPath);
    if (!m) return undefined;
    const type = dir === 'c2s' ? m.request : m.response;
    try {
      return { json: type.toObject(type.decode(bytes), TO_OBJECT) };
    } catch (err) {
      return { error: `does not decode as ${type.fullName.slice(1)}: ${(err as Error).message}` };
    }
  }

  private method(grpcPath: string): ResolvedMethod | undefined {
    const cached = this.methods.get(grpcPath);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.resolve(grpcPath);
    // Bounded: a path is only cached once a loaded service is found for it.
    if (found) this.methods.set(grpcPath, found);
    return found;
  }

  private resolve(grpcPath: string): ResolvedMethod | undefined {
    const match = /^\/([^/]+)\/([^/]+)$/.exec(grpcPath);
    if (!match) return undefined;
    let service: protobuf.Service;
    try {
      service = this.root.lookupService(match[1] as string);
    } catch {
      return undefined;
    }
    const method = service.methods[match[2] as string];
    const request = method?.resolvedRequestType;
    const response = method?.resolvedResponseType;
    if (!method || !request || !response) return undefined;
    return {
      requestType: request.fullName.slice(1),
      responseType: response.fullName.slice(1),
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      request,
      response,
    };
  }
}

/** protobufjs says `illegal token 'x' (/dir/a.proto, line 3)`; keep the file and line apart. */
function protoError(err: unknown, files: string[], root: protobuf.Root): ProtoInvalidError {
  const message = err instanceof Error ? err.message : String(err);
  const at = /\(([^,()]+\.proto), line (\d+)\)/.exec(message);
  const enoent = /ENOENT[^']*'([^']+)'/.exec(message);
  // An unresolved type names the type that refers to it ("… in Type .pkg.Msg"): find its file.
  const owner = /in \w+ (\.[\w.]+)$/.exec(message)?.[1];
  const ownerFile = owner ? safeLookup(root, owner)?.filename : undefined;
  const file = at?.[1] ?? ownerFile ?? enoent?.[1] ?? files.join(', ');
  const line = at ? Number(at[2]) : undefined;
  const reason = at ? message.slice(0, at.index).trim() : message;
  return new ProtoInvalidError(file, line, reason, err);
}

function safeLookup(root: protobuf.Root, name: string): protobuf.ReflectionObject | undefined {
  try {
    return root.lookup(name) ?? undefined;
  } catch {
    return undefined;
  }
}
