/**
 * The capture worker thread: owns the snapshot writer and turns packed records into Exchanges,
 * NDJSON and gzip, off the proxy's thread. Messages in: batch, flush, close. Every message
 * is answered with the same `seq`.
 */
import { parentPort, workerData } from 'node:worker_threads';
// The writer alone, not the whole store: reading brings the zod schemas, ~13 MB this thread
// never needs.
import { createSnapshotWriter } from '../store/fs/writer.ts';
import type { CreateSnapshotOptions } from '../store/types.ts';
import { InThreadSink } from './batch-sink.ts';
import type { WorkerReply, WorkerRequest } from './worker-sink.ts';

const port = parentPort;
if (!port) throw new Error('capture-thread runs only as a worker');
const { storeDir, options } = workerData as { storeDir: string; options: CreateSnapshotOptions };

const reply = (message: WorkerReply) => port.postMessage(message);

try {
  const writer = await createSnapshotWriter(storeDir, options);
  const sink = new InThreadSink(writer);
  reply({ seq: 0, type: 'ready', id: writer.id, dir: writer.dir });
  port.on('message', (msg: WorkerRequest) => {
    // Every request is answered, with its result or its error.
    const done = (p: Promise<WorkerReply>): void =>
      void p.then(reply, (err: Error) => reply({ seq: msg.seq, type: 'error', message: err.message }));
    switch (msg.type) {
      case 'batch':
        done(sink.write(msg.batch, msg.wantExchanges).then((result) => ({ seq: msg.seq, type: 'written', result })));
        break;
      case 'flush':
        done(sink.flush().then(() => ({ seq: msg.seq, type: 'flushed' })));
        break;
      case 'close':
        done(sink.close(msg.dropped).then((meta) => ({ seq: msg.seq, type: 'closed', meta })));
        break;
    }
  });
} catch (err) {
  reply({ seq: 0, type: 'error', message: (err as Error).message });
}
