import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseHead } from '../protocols/http1/head.ts';
import { openStore } from '../store/fs/index.ts';
import { InThreadSink } from './batch-sink.ts';
import { InFlight } from './http1-exchange.ts';
import { createCaptureMetrics } from './metrics.ts';
import { Recorder } from './recorder.ts';

function flight(i: number, bodyBytes: number): InFlight {
  const raw = Buffer.from(`POST /item/${i} HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${bodyBytes}\r\n\r\n`);
  const head = parseHead('request', raw.toString('latin1', 0, raw.length - 4), raw);
  const f = new InFlight(head, `http://a.test/item/${i}`, { host: 'a.test', port: 80 }, '127.0.0.1:1', {
    direction: 'outbound',
    service: 'svc',
    bodyCap: 1 << 20,
  });
  f.reqBody.add(Buffer.alloc(bodyBytes, 0x61));
  f.finish();
  return f;
}

describe('Recorder', () => {
  it('writes what it is given and drops, counted, past its count and byte bounds', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-recorder-'));
    try {
      const store = openStore(dir);
      const writer = await store.create({ name: 'bounds' });
      const metrics = createCaptureMetrics();
      const recorder = new Recorder({ sink: new InThreadSink(writer), metrics, queueSize: 3, queueBytes: 10_000 });
      // Synchronously: the drain only starts on the next turn, so the bounds apply to these.
      const accepted = [flight(1, 100), flight(2, 100), flight(3, 20_000), flight(4, 100), flight(5, 100)].map((f) =>
        recorder.record(f),
      );
      assert.deepEqual(accepted, [true, true, false, true, false]); // 3: too many bytes; 5: too many items
      const meta = await recorder.close();
      assert.equal(meta.counts.exchanges, 3);
      assert.equal(meta.counts.dropped, 2);
      assert.match(metrics.render(), /tapwire_exchanges_dropped_total\{reason="queue_full"\} 2/);
      const urls: string[] = [];
      for await (const x of (await store.open(meta.id)).exchanges())
        if (x.protocol === 'http') urls.push(x.request.url);
      assert.deepEqual(urls, ['http://a.test/item/1', 'http://a.test/item/2', 'http://a.test/item/4']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
