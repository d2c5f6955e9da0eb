/**
 * Real gRPC peers for tests: a @grpc/grpc-js server of test/fixtures/grpc/catalog.proto that
 * answers deterministically, client helpers for the four call types, and a TCP splice that
 * records the bytes between them (with a minimal HTTP/2 frame reader for the DATA payloads).
 *
 * Through an HTTP CONNECT proxy: grpc-js reads `grpc_proxy`, then `https_proxy`, then
 * `http_proxy` (an `http://` URL; `no_grpc_proxy` / `no_proxy` exclude hosts) when a channel is
 * created, and sends `CONNECT target` to it. Environment variables leak between tests in one
 * process, so the helpers set the same thing per channel instead: address the proxy and give the
 * real target in the channel option `grpc.http_connect_target` (`dns:///host:port`), with
 * `grpc.default_authority` so :authority still names the target. `grpc.enable_http_proxy: 0`
 * keeps the environment out of every other channel.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

export const GRPC_FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'grpc');
export const CATALOG_PROTO = path.join(GRPC_FIXTURES, 'catalog.proto');
export const FAIL_MESSAGE = 'no item "x" – 100% gone';

/** An Item as grpc-js sees it with the loader options below (camelCase, int64 as strings). */
export interface CatalogItem {
  id: string;
  name?: string;
  category?: string;
  price?: { cents: string; currency: string };
  tags?: string[];
  ratings?: number[];
  thumbnail?: Buffer;
  stock?: string;
  offset?: number;
  delta?: number;
  checksum?: string;
  weight?: number;
  updated?: { seconds: string; nanos: number };
  history?: { cents: string; currency: string }[];
  big?: string;
}

/** The item the server answers for `id`: every field type of Item, derived only from the id. */
export function sampleItem(id: string): CatalogItem {
  return {
    id,
    name: `Item ${id}`,
    category: 'TOOL',
    price: { cents: '123456789012', currency: 'EUR' },
    tags: ['red', 'blue'],
    ratings: [5, 300, 70000],
    thumbnail: Buffer.from([0, 1, 2, 0xfe, 0xff]),
    stock: '9007199254740993',
    offset: -2,
    delta: -3,
    checksum: '18446744073709551615',
    weight: 1.5,
    updated: { seconds: '1700000000', nanos: 5 },
    history: [
      { cents: '100', currency: 'EUR' },
      { cents: '200', currency: 'USD' },
    ],
    big: '18446744073709551615',
  };
}

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: false };

function catalogService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(CATALOG_PROTO, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    tapwire: { test: { Catalog: grpc.ServiceClientConstructor } };
  };
  return pkg.tapwire.test.Catalog;
}

export interface GrpcServerHandle {
  port: number;
  close(): Promise<void>;
}

/** A Catalog server on 127.0.0.1:0 (h2c, or TLS with the given certificate). */
export async function startGrpcServer(
  options: { tls?: { certPem: string; keyPem: string } } = {},
): Promise<GrpcServerHandle> {
  const server = new grpc.Server();
  server.addService(catalogService().service, {
    GetItem(call: grpc.ServerUnaryCall<{ id?: string }, CatalogItem>, cb: grpc.sendUnaryData<CatalogItem>) {
      cb(null, sampleItem(call.request.id ?? ''));
    },
    UploadItems(call: grpc.ServerReadableStream<CatalogItem, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const ids: string[] = [];
      let total = 0n;
      call.on('data', (item: CatalogItem) => {
        ids.push(item.id);
        total += BigInt(item.price?.cents ?? '0');
      });
      call.on('end', () => cb(null, { count: ids.length, ids, totalCents: total.toString() }));
    },
    ListItems(call: grpc.ServerWritableStream<{ count?: number; prefix?: string }, CatalogItem>) {
      for (let i = 0; i < (call.request.count ?? 0); i++) call.write(sampleItem(`${call.request.prefix ?? ''}${i}`));
      call.end();
    },
    Chat(call: grpc.ServerDuplexStream<{ seq?: number; text?: string }, unknown>) {
      call.on('data', (m: { seq?: number; text?: string }) =>
        call.write({ seq: m.seq ?? 0, text: `echo: ${m.text ?? ''}` }),
      );
      call.on('end', () => call.end());
    },
    Fail(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb({ code: grpc.status.NOT_FOUND, details: FAIL_MESSAGE });
    },
  });
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [
        { cert_chain: Buffer.from(options.tls.certPem), private_key: Buffer.from(options.tls.keyPem) },
      ])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}

export interface CatalogClientOptions {
  /** `host:port` of an HTTP CONNECT proxy to tunnel through. */
  proxy?: string;
  /** Compress every request message with gzip (grpc-js servers answer uncompressed). */
  gzip?: boolean;
  /** TLS to the server: the CA that signed its certificate, and the name to check. */
  tls?: { caPem: string; servername?: string };
}

/** The Catalog methods as promises; `close()` ends the channel. */
export interface CatalogClient {
  getItem(id: string): Promise<CatalogItem>;
  uploadItems(items: CatalogItem[]): Promise<{ count: number; ids: string[]; totalCents: string }>;
  listItems(count: number, prefix: string): Promise<CatalogItem[]>;
  chat(texts: string[]): Promise<{ seq: number; text: string }[]>;
  /** Calls Fail; resolves with the error grpc-js reports. */
  fail(): Promise<grpc.ServiceError>;
  close(): void;
}

type Callback = (err: grpc.ServiceError | null, value: never) => void;
interface RawClient extends grpc.Client {
  GetItem(req: unknown, cb: Callback): void;
  UploadItems(cb: Callback): grpc.ClientWritableStream<unknown>;
  ListItems(req: unknown): grpc.ClientReadableStream<unknown>;
  Chat(): grpc.ClientDuplexStream<unknown, unknown>;
  Fail(req: unknown, cb: Callback): void;
}

/** A client of `target` (`host:port`), directly or through `options.proxy`. */
export function createCatalogClient(target: string, options: CatalogClientOptions = {}): CatalogClient {
  const channelOptions: grpc.ChannelOptions = { 'grpc.enable_http_proxy': 0 };
  if (options.proxy) {
    channelOptions['grpc.http_connect_target'] = `dns:///${target}`;
    channelOptions['grpc.default_authority'] = target;
  }
  if (options.gzip) channelOptions['grpc.default_compression_algorithm'] = 2; // gzip
  if (options.tls?.servername) channelOptions['grpc.ssl_target_name_override'] = options.tls.servername;
  const credentials = options.tls
    ? grpc.credentials.createSsl(Buffer.from(options.tls.caPem))
    : grpc.credentials.createInsecure();
  const Catalog = catalogService();
  const client = new Catalog(options.proxy ?? target, credentials, channelOptions) as unknown as RawClient;

  const unary = <T>(call: (cb: Callback) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value as T))));
  const collect = <T>(stream: grpc.ClientReadableStream<unknown>): Promise<T[]> =>
    new Promise<T[]>((resolve, reject) => {
      const out: T[] = [];
      stream.on('data', (m: T) => out.push(m));
      stream.on('error', reject);
      stream.on('end', () => resolve(out));
    });

  return {
    getItem: (id) => unary((cb) => client.GetItem({ id }, cb)),
    uploadItems: (items) =>
      unary((cb) => {
        const stream = client.UploadItems(cb);
        for (const item of items) stream.write(item);
        stream.end();
      }),
    listItems: (count, prefix) => collect(client.ListItems({ count, prefix })),
    chat: async (texts) => {
      const stream = client.Chat();
      const replies = collect<{ seq: number; text: string }>(stream);
      // One message at a time, each after the previous echo: a real conversation.
      let seen = 0;
      for (const [i, text] of texts.entries()) {
        stream.write({ seq: i + 1, text });
        while (seen <= i) {
          await once(stream, 'data');
          seen++;
        }
      }
      stream.end();
      return replies;
    },
    fail: () =>
      new Promise<grpc.ServiceError>((resolve, reject) =>
        client.Fail({ id: 'x' }, (err) => (err ? resolve(err) : reject(new Error('Fail succeeded')))),
      ),
    close: () => client.close(),
  };
}

/** One message with its 5-byte prefix (compressed flag, uint32 BE length), as grpc-js writes it. */
export function grpcFrame(message: Uint8Array, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** One read on a spliced connection. */
export interface SplicedChunk {
  dir: 'c2s' | 's2c';
  tMs: number;
  bytes: Buffer;
}

/** A TCP relay on 127.0.0.1:0 to `targetPort` that records every chunk in both directions. */
export async function startSplice(
  targetPort: number,
): Promise<{ port: number; chunks: SplicedChunk[]; close(): Promise<void> }> {
  const chunks: SplicedChunk[] = [];
  const sockets = new Set<net.Socket>();
  const start = performance.now();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (s === client ? upstream : client).destroy());
    }
    client.on('data', (bytes: Buffer) =>
      chunks.push({ dir: 'c2s', tMs: performance.now() - start, bytes: Buffer.from(bytes) }),
    );
    upstream.on('data', (bytes: Buffer) =>
      chunks.push({ dir: 's2c', tMs: performance.now() - start, bytes: Buffer.from(bytes) }),
    );
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    chunks,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The payloads of HTTP/2 DATA frames per stream id, in arrival order, from recorded chunks. */
export function http2DataByStream(chunks: SplicedChunk[]): Map<number, SplicedChunk[]> {
  const out = new Map<number, SplicedChunk[]>();
  const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
  const pending = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
  const prefaceLeft = { c2s: PREFACE.length, s2c: 0 };
  for (const chunk of chunks) {
    let buf = Buffer.concat([pending[chunk.dir], chunk.bytes]);
    const skip = Math.min(prefaceLeft[chunk.dir], buf.length);
    prefaceLeft[chunk.dir] -= skip;
    buf = buf.subarray(skip);
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < 9 + length) break;
      const [type, flags] = [buf[3], buf[4] as number];
      const streamId = buf.readUInt32BE(5) & 0x7fffffff;
      let payload = buf.subarray(9, 9 + length);
      if (type === 0) {
        // PADDED: a pad-length byte first, that many bytes of padding last.
        if (flags & 0x8) payload = payload.subarray(1, payload.length - (payload[0] ?? 0));
        const list = out.get(streamId) ?? [];
        list.push({ dir: chunk.dir, tMs: chunk.tMs, bytes: Buffer.from(payload) });
        out.set(streamId, list);
      }
      buf = buf.subarray(9 + length);
    }
    pending[chunk.dir] = Buffer.from(buf);
  }
  return out;
}

/** A minimal HTTP CONNECT proxy on 127.0.0.1:0; `connects` lists the targets asked for. */
export async function startConnectProxy(): Promise<{ port: number; connects: string[]; close(): Promise<void> }> {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    const [host, port] = [(req.url ?? '').replace(/:\d+$/, ''), Number((req.url ?? '').split(':').pop())];
    const upstream = net.connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (s === client ? upstream : client).destroy());
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connects,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
