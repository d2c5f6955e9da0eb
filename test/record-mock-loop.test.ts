/**
 * The record → mock loop as a user runs it: an app (a shell script driving curl and a Node app
 * that uses fetch and @grpc/grpc-js) calls plain HTTP, HTTPS, HTTP/2 and gRPC dependencies under
 * `tapwire record -- …`; then every dependency is stopped and the same app runs under
 * `tapwire mock SNAPSHOT -- …`. It must see exactly the same answers, with 100% of its calls
 * matched and none missed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { cleanEnv, needTool } from './helpers/forward.ts';
import { CATALOG_PROTO, startGrpcServer } from './helpers/grpc-peers.ts';
import { startOrigin } from './helpers/peers.ts';
import { makeOriginPki, startH2Origin, startHttpsOrigin, type OriginPki } from './helpers/tls-peers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const noCurl = needTool('curl');

describe('record, then mock with every dependency stopped', () => {
  let pki: OriginPki;
  let tmp: string;
  let script: string;
  let outFile: string;
  const stops: Array<() => Promise<void>> = [];

  before(async () => {
    pki = await makeOriginPki();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'tapwire-loop-'));
    outFile = path.join(tmp, 'out.txt');
    const leaf = await pki.issue('localhost');
    let n = 0;
    const plain = await startOrigin((req, res) => res.end(`plain #${++n} ${req.method} ${req.url}`));
    const https1 = await startHttpsOrigin(leaf, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => res.end(`https ${req.url} ${body}`));
    });
    const h2 = await startH2Origin(leaf, (stream, headers) => {
      stream.respond({ ':status': 200, 'x-from': 'h2' });
      stream.end(`h2 ${String(headers[':path'])}`);
    });
    const grpcServer = await startGrpcServer({ tls: leaf });
    stops.push(plain.close, https1.close, h2.close, grpcServer.close);
    // The app: the same calls in both runs, each answer appended to one file.
    script = [
      `curl -sS ${plain.url}/a >> ${outFile}; echo >> ${outFile}`,
      `curl -sS ${plain.url}/a >> ${outFile}; echo >> ${outFile}`, // a repeat: answered in recorded order
      `curl -sS -d '{"b":2,"a":1}' -H 'content-type: application/json' ${https1.url}/json >> ${outFile}; echo >> ${outFile}`,
      `curl -sS --http2 ${h2.url}/h2 >> ${outFile}; echo >> ${outFile}`,
      `${process.execPath} ${path.join(ROOT, 'test/fixtures/apps/polyglot_app.mjs')} ${https1.url} localhost:${grpcServer.port} ${CATALOG_PROTO} >> ${outFile}`,
    ].join(' && ');
  });

  after(async () => {
    await Promise.all(stops.map((stop) => stop()));
    pki.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('answers 100% of the recorded calls over HTTP, HTTPS, HTTP/2 and gRPC', { skip: noCurl }, async () => {
    const env = cleanEnv({ TAPWIRE_CA: path.join(tmp, 'ca'), TAPWIRE_STORE: path.join(tmp, 'store') });
    const common = ['--admin-port', '0', '--out-port', '0', '--log-level', 'warn'];

    const recorded = await runCli(
      [
        'record',
        ...common,
        '--proxy-type',
        'forward',
        '--name',
        'loop',
        '--upstream-ca',
        pki.caFile,
        '--',
        'sh',
        '-c',
        script,
      ],
      { env },
    );
    assert.equal(recorded.code, 0, recorded.stderr);
    const live = readFileSync(outFile, 'utf8');
    assert.deepEqual(live.trim().split('\n'), [
      `plain #1 GET /a`,
      `plain #2 GET /a`,
      'https /json {"b":2,"a":1}',
      'h2 /h2',
      'https /from-fetch ', // a GET: no body after the path
      'grpc item book-1',
      'grpc list p0,p1',
    ]);

    // Every dependency is gone from here on.
    await Promise.all(stops.splice(0).map((stop) => stop()));
    rmSync(outFile);

    const mocked = await runCli(['mock', 'loop', ...common, '--no-watch', '--', 'sh', '-c', script], { env });
    assert.equal(mocked.code, 0, mocked.stderr);
    assert.equal(readFileSync(outFile, 'utf8'), live, 'the app saw exactly what it saw live');
    // 2 plain + 1 https + 1 h2 + fetch + 2 gRPC calls, all matched.
    assert.match(mocked.stderr, /tapwire: matched 7, missed 0, passed through 0/);
  });
});
