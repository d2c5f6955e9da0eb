/**
 * Real SOCKS clients against the handshake: curl speaks SOCKS4, 4a, 5 and 5h to a tiny
 * harness (a `net` server running SocksServerHandshake, then piping to a local HTTP server).
 * The harness records the target it was given and always dials the local HTTP server on the
 * requested port, so the made-up domain `tapwire.test` and `::1` work on any machine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as tcpConnect, createServer, type AddressInfo, type Server } from 'node:net';
import { SocksServerHandshake } from './handshake.ts';
import type { SocksServerOptions, SocksTarget } from './types.ts';

function curlMissing(): string | false {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'curl is not installed, so no real SOCKS client is available';
  }
}
const skip = curlMissing();

type Event =
  | { kind: 'connect'; version: 4 | 5; target: SocksTarget; user: string | undefined }
  | { kind: 'fail'; reason: string }
  | { kind: 'upstream-failed'; code: string | undefined };

interface Harness {
  port: number;
  events: Event[];
  close(): Promise<void>;
}

async function startHarness(options?: SocksServerOptions): Promise<Harness> {
  const events: Event[] = [];
  const server: Server = createServer((client) => {
    const hs = new SocksServerHandshake(options);
    client.on('error', () => undefined);
    const onData = (chunk: Buffer): void => {
      for (const step of hs.push(chunk)) {
        if (step.type === 'send') client.write(step.bytes);
        else if (step.type === 'fail') {
          events.push({ kind: 'fail', reason: step.reason });
          if (step.bytes) client.end(step.bytes);
          else client.end();
        } else if (step.type === 'connect') {
          events.push({ kind: 'connect', version: step.version, target: step.target, user: step.user });
          client.off('data', onData);
          client.pause();
          const upstream = tcpConnect({ host: '127.0.0.1', port: step.target.port });
          let connected = false;
          upstream.once('connect', () => {
            connected = true;
            client.write(
              hs.connectedReply({ host: upstream.localAddress ?? '0.0.0.0', port: upstream.localPort ?? 0 }),
            );
            upstream.write(step.rest);
            client.pipe(upstream);
            upstream.pipe(client);
          });
          upstream.on('error', (err: NodeJS.ErrnoException) => {
            if (connected) return void client.destroy();
            events.push({ kind: 'upstream-failed', code: err.code });
            client.end(hs.failedReply(err.code === 'ECONNREFUSED' ? 'refused' : 'general'));
          });
        }
      }
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

function curl(proxy: string, url: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // -q ignores ~/.curlrc; a bare environment keeps any *_PROXY / NO_PROXY of the machine out.
    execFile(
      'curl',
      ['-q', '-sS', '--max-time', '10', '--proxy', proxy, url],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let http: HttpServer;
let httpPort = 0;
let closedPort = 0;

before(async () => {
  if (skip) return;
  http = createHttpServer((req, res) => {
    res.end(`hello ${req.headers.host ?? ''}`);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpPort = (http.address() as AddressInfo).port;
  // A port that was just free: connecting to it is refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

after(async () => {
  if (skip) return;
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

interface CurlCase {
  name: string;
  scheme: string;
  host: string;
  credentials?: string;
  options?: SocksServerOptions;
  expect: { version: 4 | 5; host: string; addressType: SocksTarget['addressType']; user?: string };
}

const cases: CurlCase[] = [
  {
    name: 'socks5h sends the domain',
    scheme: 'socks5h',
    host: 'tapwire.test',
    expect: { version: 5, host: 'tapwire.test', addressType: 'domain' },
  },
  {
    name: 'socks5 sends an IPv4 address',
    scheme: 'socks5',
    host: '127.0.0.1',
    expect: { version: 5, host: '127.0.0.1', addressType: 'ipv4' },
  },
  {
    name: 'socks5h sends an IPv6 literal as IPv6',
    scheme: 'socks5h',
    host: '[::1]',
    expect: { version: 5, host: '::1', addressType: 'ipv6' },
  },
  {
    name: 'socks4 sends an IPv4 address',
    scheme: 'socks4',
    host: '127.0.0.1',
    expect: { version: 4, host: '127.0.0.1', addressType: 'ipv4' },
  },
  {
    name: 'socks4 with a userid',
    scheme: 'socks4',
    host: '127.0.0.1',
    credentials: 'bob',
    expect: { version: 4, host: '127.0.0.1', addressType: 'ipv4', user: 'bob' },
  },
  {
    name: 'socks4a sends the domain',
    scheme: 'socks4a',
    host: 'tapwire.test',
    expect: { version: 4, host: 'tapwire.test', addressType: 'domain' },
  },
  {
    name: 'socks5h with username/password checked',
    scheme: 'socks5h',
    host: 'tapwire.test',
    credentials: 'alice:secret',
    options: { authenticate: (u, p) => u === 'alice' && p === 'secret' },
    expect: { version: 5, host: 'tapwire.test', addressType: 'domain', user: 'alice' },
  },
  {
    name: 'socks5 with any credentials accepted',
    scheme: 'socks5',
    host: '127.0.0.1',
    credentials: 'carol:x',
    expect: { version: 5, host: '127.0.0.1', addressType: 'ipv4', user: 'carol' },
  },
];

for (const c of cases) {
  void test(`curl ${c.name}`, { skip }, async () => {
    const harness = await startHarness(c.options);
    try {
      const auth = c.credentials ? `${c.credentials}@` : '';
      const result = await curl(`${c.scheme}://${auth}127.0.0.1:${harness.port}`, `http://${c.host}:${httpPort}/`);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `hello ${c.host}:${httpPort}`);
      assert.deepEqual(harness.events, [
        {
          kind: 'connect',
          version: c.expect.version,
          target: { host: c.expect.host, port: httpPort, addressType: c.expect.addressType },
          user: c.expect.user,
        },
      ]);
    } finally {
      await harness.close();
    }
  });
}

void test('curl socks5h with a wrong password is refused during authentication', { skip }, async () => {
  const harness = await startHarness({ authenticate: (u, p) => u === 'alice' && p === 'secret' });
  try {
    const result = await curl(`socks5h://alice:wrong@127.0.0.1:${harness.port}`, `http://tapwire.test:${httpPort}/`);
    assert.notEqual(result.code, 0);
    assert.equal(harness.events.length, 1);
    assert.match((harness.events[0] as { reason?: string }).reason ?? '', /credentials rejected for user "alice"/);
  } finally {
    await harness.close();
  }
});

void test('curl socks5h without credentials is refused when authentication is required', { skip }, async () => {
  const harness = await startHarness({ authenticate: () => true });
  try {
    const result = await curl(`socks5h://127.0.0.1:${harness.port}`, `http://tapwire.test:${httpPort}/`);
    assert.notEqual(result.code, 0);
    assert.match((harness.events[0] as { reason?: string }).reason ?? '', /no acceptable SOCKS5 authentication method/);
  } finally {
    await harness.close();
  }
});

for (const scheme of ['socks5h', 'socks4a']) {
  void test(`curl ${scheme} to a refused port gets the failure reply`, { skip }, async () => {
    const harness = await startHarness();
    try {
      const result = await curl(`${scheme}://127.0.0.1:${harness.port}`, `http://tapwire.test:${closedPort}/`);
      assert.notEqual(result.code, 0);
      assert.deepEqual(harness.events.slice(1), [{ kind: 'upstream-failed', code: 'ECONNREFUSED' }]);
      // curl names the SOCKS failure rather than a protocol error.
      assert.match(result.stderr, /SOCKS/i);
    } finally {
      await harness.close();
    }
  });
}
