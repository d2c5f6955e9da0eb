/** Bugs found in review, each pinned by the sequence that showed it. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import type { HttpExchange } from '../src/model/exchange.ts';
import { rawExchange, run, startOrigin, startTcpServer } from './helpers/peers.ts';
import { startTestRecording } from './helpers/recording.ts';

describe('record: review regressions', () => {
  it('survives an upstream that resets a CONNECT tunnel before anyone speaks', async () => {
    // The server resets once the client has its 200: the tunnel is open and still waiting for
    // a first byte, the moment when no handler owned the upstream's errors.
    let upstream!: (s: net.Socket) => void;
    const accepted = new Promise<net.Socket>((resolve) => (upstream = resolve));
    const resetter = await startTcpServer((s) => upstream(s));
    const origin = await startOrigin((_req, res) => res.end('still here'));
    const rec = await startTestRecording({ proxyType: 'forward' });
    try {
      const closed = new Promise<void>((resolve) => {
        const c = net.connect(rec.outPort, '127.0.0.1', () =>
          c.write(`CONNECT 127.0.0.1:${resetter.port} HTTP/1.1\r\n\r\n`),
        );
        c.once('data', (head: Buffer) => {
          assert.match(head.toString(), /^HTTP\/1\.1 200 /);
          void accepted.then((s) => s.resetAndDestroy());
        });
        c.on('close', () => resolve());
        c.on('error', () => undefined);
      });
      await closed;
      const after = await run('curl', ['-sS', '--max-time', '10', '-x', rec.outProxy, origin.url]);
      assert.equal(after.stdout, 'still here', after.stderr);
    } finally {
      await rec.cleanup();
      await origin.close();
      await resetter.close();
    }
  });

  it('forward proxy: stray CRLFs before a request line do not leak into the origin-form head', async () => {
    const seen: string[] = [];
    const origin = await startOrigin((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('ok');
    });
    const rec = await startTestRecording({ proxyType: 'forward' });
    try {
      const got = await rawExchange(
        rec.outPort,
        `\r\n\r\nGET ${origin.url}/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      assert.match(got, /^HTTP\/1\.1 200 OK/);
      assert.deepEqual(seen, ['GET /x']);
    } finally {
      await rec.cleanup();
      await origin.close();
    }
  });

  it('forward proxy: requests to two hosts followed by the client FIN are all sent and answered', async () => {
    const a = await startOrigin((req, res) => res.end(`A${req.url}`));
    const b = await startOrigin((req, res) => res.end(`B${req.url}`));
    const rec = await startTestRecording({ proxyType: 'forward' });
    try {
      const reqs = [`${a.url}/one`, `${b.url}/two`, `${b.url}/three`]
        .map((u) => `GET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`)
        .join('');
      const got = await rawExchange(rec.outPort, reqs, { endAfterWrite: true });
      const bodies = got
        .split(/HTTP\/1\.1 200 OK/)
        .slice(1)
        .map((r) => r.split('\r\n\r\n')[1]);
      assert.deepEqual(bodies, ['A/one', 'B/two', 'B/three']);
      const xs = (await rec.stopAndRead()) as HttpExchange[];
      assert.deepEqual(
        xs.map((x) => `${new URL(x.request.url).pathname} ${x.response?.status ?? x.error?.kind}`).sort(),
        ['/one 200', '/three 200', '/two 200'],
      );
    } finally {
      await rec.cleanup();
      await a.close();
      await b.close();
    }
  });

  it('an upstream silent past the idle timeout: 504 to the client, recorded as a timeout', async () => {
    const silent = await startOrigin(() => undefined); // never answers
    const rec = await startTestRecording({ app: `127.0.0.1:${silent.port}`, proxyType: 'reverse', idleTimeoutMs: 300 });
    try {
      const res = await run('curl', ['-sS', '--max-time', '10', '-D', '-', `${rec.inUrl}/slow`]);
      assert.match(res.stdout, /^HTTP\/1\.1 504 /);
      assert.match(res.stdout, /X-Tapwire-Error: TW_UPSTREAM_TIMEOUT/);
      const [x] = (await rec.stopAndRead()) as HttpExchange[];
      assert.equal(x?.error?.kind, 'timeout');
      assert.equal(x?.response, undefined);
    } finally {
      await rec.cleanup();
      await silent.close();
    }
  });
});
