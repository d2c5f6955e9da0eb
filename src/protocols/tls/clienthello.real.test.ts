/**
 * ClientHellos from real clients: Node's `tls.connect()` and `openssl s_client` talk to a
 * plain `net` server that keeps their first record. Those bytes are then parsed whole, in
 * every TCP split, rewritten into several TLS records, and mutated by a seeded fuzzer
 * (TAPWIRE_FUZZ_SEED=<seed> replays a failing run).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { parseClientHello, type ClientHelloResult } from './clienthello.ts';
import { mulberry32 } from '../../../test/helpers/prng.ts';

/** Listens on a free port, runs `startClient`, and returns the client's first TLS record. */
async function capture(startClient: (port: number) => () => void): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hello = new Promise<Buffer>((resolve, reject) => {
    server.once('connection', (socket) => {
      let buf = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const need = buf.length >= 5 ? 5 + buf.readUInt16BE(3) : Infinity;
        if (buf.length >= need) {
          resolve(buf.subarray(0, need));
          socket.destroy();
        }
      });
      socket.on('close', () => reject(new Error(`client closed after ${buf.length} bytes`)));
    });
  });
  const stop = startClient((server.address() as AddressInfo).port);
  try {
    return await hello;
  } finally {
    stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function nodeClient(options: ConnectionOptions): (port: number) => () => void {
  return (port) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    socket.on('error', () => undefined); // the capture server hangs up mid-handshake
    return () => socket.destroy();
  };
}

const OPENSSL = '/usr/bin/openssl';
const noOpenssl = existsSync(OPENSSL)
  ? false
  : `${OPENSSL} is not installed, so no OpenSSL client hello can be captured`;

function opensslClient(args: string[]): (port: number) => () => void {
  return (port) => {
    // stdin stays open so s_client does not quit before the server has read the hello.
    const child = spawn(OPENSSL, ['s_client', '-connect', `127.0.0.1:${port}`, ...args], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.on('error', () => undefined);
    return () => child.kill();
  };
}

/** The same handshake bytes, cut into two records at `at`. */
function twoRecords(hello: Buffer, at: number): Buffer {
  const header = hello.subarray(0, 3);
  const payload = hello.subarray(5);
  const record = (part: Buffer): Buffer =>
    Buffer.concat([header, Buffer.from([part.length >> 8, part.length & 0xff]), part]);
  return Buffer.concat([record(payload.subarray(0, at)), record(payload.subarray(at))]);
}

function assertAllPrefixesNeedMore(hello: Buffer, label: string): void {
  for (let n = 0; n < hello.length; n++) {
    assert.deepEqual(
      parseClientHello(hello.subarray(0, n)),
      { status: 'need-more' },
      `${label}: ${n} of ${hello.length} bytes`,
    );
  }
}

const captures = new Map<string, Buffer>();

before(async () => {
  captures.set('node h2', await capture(nodeClient({ servername: 'example.test', ALPNProtocols: ['h2', 'http/1.1'] })));
  captures.set(
    'node tls1.2',
    await capture(nodeClient({ servername: 'v12.example.test', ALPNProtocols: ['http/1.1'], maxVersion: 'TLSv1.2' })),
  );
  captures.set('node ip', await capture(nodeClient({})));
  if (!noOpenssl)
    captures.set('openssl', await capture(opensslClient(['-servername', 'openssl.test', '-alpn', 'h2,http/1.1'])));
});

function get(name: string): Buffer {
  const hello = captures.get(name);
  assert.ok(hello, `${name} was captured`);
  return hello;
}

void test('Node tls.connect with servername and ALPN', () => {
  const hello = get('node h2');
  const got = parseClientHello(hello);
  assert.equal(got.status, 'ok');
  assert.ok(got.status === 'ok');
  assert.equal(got.sni, 'example.test');
  assert.deepEqual(got.alpn, ['h2', 'http/1.1']);
  assert.equal(got.legacyVersion, 'TLSv1.2');
  assert.deepEqual(got.supportedVersions, ['TLSv1.3', 'TLSv1.2']);
  assert.equal(got.length, hello.length);
});

void test('Node tls.connect capped at TLS 1.2 sends no TLS 1.3', () => {
  const got = parseClientHello(get('node tls1.2'));
  assert.ok(got.status === 'ok', JSON.stringify(got));
  assert.equal(got.sni, 'v12.example.test');
  assert.deepEqual(got.alpn, ['http/1.1']);
  assert.equal(got.legacyVersion, 'TLSv1.2');
  assert.ok(!got.supportedVersions?.includes('TLSv1.3'));
});

void test('Node tls.connect to an IP address sends no SNI and no ALPN', () => {
  const got = parseClientHello(get('node ip'));
  assert.ok(got.status === 'ok', JSON.stringify(got));
  assert.equal(got.sni, undefined);
  assert.equal(got.alpn, undefined);
});

void test('openssl s_client with -servername and -alpn', { skip: noOpenssl }, () => {
  const hello = get('openssl');
  const got = parseClientHello(hello);
  assert.ok(got.status === 'ok', JSON.stringify(got));
  assert.equal(got.sni, 'openssl.test');
  assert.deepEqual(got.alpn, ['h2', 'http/1.1']);
  assert.ok(got.supportedVersions?.includes('TLSv1.3'));
  assert.equal(got.length, hello.length);
});

void test('real hellos split over TCP chunks: every proper prefix is need-more', () => {
  for (const [name, hello] of captures) {
    assertAllPrefixesNeedMore(hello, name);
  }
});

void test('real hellos rewritten into two records at every split point parse the same', () => {
  for (const [name, hello] of captures) {
    const reference = parseClientHello(hello) as ClientHelloResult & { status: 'ok' };
    const payloadLength = hello.length - 5;
    for (let at = 1; at < payloadLength; at++) {
      const fragmented = twoRecords(hello, at);
      assert.deepEqual(
        parseClientHello(fragmented),
        { ...reference, length: hello.length + 5 },
        `${name} split at ${at}`,
      );
    }
    // And TCP splits over the fragmented form, at the awkward places: inside each header.
    const fragmented = twoRecords(hello, Math.floor(payloadLength / 2));
    assertAllPrefixesNeedMore(fragmented, `${name} in two records`);
  }
});

const SEED = process.env.TAPWIRE_FUZZ_SEED ? Number(process.env.TAPWIRE_FUZZ_SEED) : Date.now() >>> 0;
const STATUSES = ['need-more', 'not-tls', 'invalid', 'ok'];

function mutate(rng: () => number, input: Buffer): Buffer {
  let buf: Buffer = Buffer.from(input);
  for (let ops = 1 + Math.floor(rng() * 4); ops > 0; ops--) {
    const at = Math.floor(rng() * (buf.length + 1));
    const op = Math.floor(rng() * 5);
    if (op === 0 && buf.length > 0) buf[Math.min(at, buf.length - 1)] = Math.floor(rng() * 256);
    else if (op === 1 && buf.length > 0) {
      const i = Math.min(at, buf.length - 1);
      buf[i] = (buf[i] ?? 0) ^ (1 << Math.floor(rng() * 8));
    } else if (op === 2)
      buf = Buffer.concat([buf.subarray(0, at), Buffer.from([Math.floor(rng() * 256)]), buf.subarray(at)]);
    else if (op === 3) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + Math.floor(rng() * 4))]);
    else buf = twoRecords(buf.length > 6 ? buf : input, 1 + Math.floor(rng() * Math.max(1, buf.length - 6)));
  }
  return buf;
}

void test(`fuzz: mutated real hellos and random bytes never throw, verdicts are stable as bytes arrive (seed ${SEED})`, () => {
  const rng = mulberry32(SEED);
  const corpus = [...captures.values()];
  for (let round = 0; round < 3000; round++) {
    const source = corpus[Math.floor(rng() * corpus.length)] as Buffer;
    const input =
      rng() < 0.8
        ? mutate(rng, source)
        : Buffer.concat([
            Buffer.from([0x16, 0x03, Math.floor(rng() * 5)]),
            Buffer.from(Array.from({ length: Math.floor(rng() * 300) }, () => Math.floor(rng() * 256))),
          ]);
    try {
      let decided: ClientHelloResult | undefined;
      // Growing prefixes, as a listener sees them: once decided, more bytes change nothing.
      for (let n = 0; n <= input.length; n += 1 + Math.floor(rng() * 64)) {
        const got = parseClientHello(input.subarray(0, n));
        assert.ok(STATUSES.includes(got.status));
        if (decided) assert.deepEqual(got, decided);
        else if (got.status !== 'need-more') decided = got;
      }
      const whole = parseClientHello(input);
      if (decided) assert.deepEqual(whole, decided);
      if (whole.status === 'ok') {
        assert.ok(whole.length <= input.length && whole.length >= 5);
        assert.deepEqual(parseClientHello(input.subarray(0, whole.length)), whole);
      }
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      assert.fail(
        `seed ${SEED} (rerun with TAPWIRE_FUZZ_SEED=${SEED}), round ${round}, input ${input.toString('hex')}: ${detail}`,
      );
    }
  }
});
