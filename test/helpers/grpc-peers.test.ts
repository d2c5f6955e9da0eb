/** The gRPC test peers themselves: client ↔ server for every call type, directly and through a CONNECT proxy. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import grpc from '@grpc/grpc-js';
import {
  createCatalogClient,
  FAIL_MESSAGE,
  sampleItem,
  startConnectProxy,
  startGrpcServer,
  startSplice,
  http2DataByStream,
  type GrpcServerHandle,
} from './grpc-peers.ts';

describe('gRPC test peers', () => {
  let server: GrpcServerHandle;
  let target: string;
  before(async () => {
    server = await startGrpcServer();
    target = `127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it('answers the four call types and the failing method', async () => {
    const client = createCatalogClient(target);
    try {
      assert.deepEqual(await client.getItem('a1'), { ...sampleItem('a1') });
      const summary = await client.uploadItems([sampleItem('u1'), sampleItem('u2')]);
      assert.deepEqual(summary, { count: 2, ids: ['u1', 'u2'], totalCents: '246913578024' });
      const listed = await client.listItems(3, 'p');
      assert.deepEqual(
        listed.map((i) => i.id),
        ['p0', 'p1', 'p2'],
      );
      assert.deepEqual(await client.chat(['hi', 'there']), [
        { seq: 1, text: 'echo: hi' },
        { seq: 2, text: 'echo: there' },
      ]);
      const err = await client.fail();
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, FAIL_MESSAGE);
    } finally {
      client.close();
    }
  });

  it('compresses requests with gzip when asked', async () => {
    const splice = await startSplice(server.port);
    const client = createCatalogClient(`127.0.0.1:${splice.port}`, { gzip: true });
    try {
      assert.equal((await client.getItem('z')).id, 'z');
      const data = [...http2DataByStream(splice.chunks).values()].flat();
      const request = data.find((c) => c.dir === 'c2s');
      assert.equal(request?.bytes[0], 1, 'the request message has its compressed flag set');
    } finally {
      client.close();
      await splice.close();
    }
  });

  it('tunnels through an HTTP CONNECT proxy with grpc.http_connect_target', async () => {
    const proxy = await startConnectProxy();
    const client = createCatalogClient(target, { proxy: `127.0.0.1:${proxy.port}` });
    try {
      assert.equal((await client.getItem('via-proxy')).id, 'via-proxy');
      assert.deepEqual(proxy.connects, [target]);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});
