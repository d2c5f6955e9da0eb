/**
 * The proxy thread's side of the capture worker: a BatchSink whose work happens in
 * capture-thread.ts. Each batch's bytes are transferred, not copied.
 */
import { Worker } from 'node:worker_threads';
import type { SnapshotMeta } from '../model/snapshot.ts';
import type { CreateSnapshotOptions } from '../store/types.ts';
import type { BatchResult, BatchSink } from './batch-sink.ts';
import type { PackedBatch } from './packed-batch.ts';

export type WorkerRequest =
  | { seq: number; type: 'batch'; batch: PackedBatch; wantExchanges: boolean }
  | { seq: number; type: 'flush' }
  | { seq: number; type: 'close'; dropped: number };

export type WorkerReply =
  | { seq: number; type: 'ready'; id: string; dir: string }
  | { seq: number; type: 'written'; result: BatchResult }
  | { seq: number; type: 'flushed' }
  | { seq: number; type: 'closed'; meta: SnapshotMeta }
  | { seq: number; type: 'error'; message: string };

type Pending = { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };

export class WorkerSink implements BatchSink {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly id: string,
    readonly dir: string,
  ) {
    worker.on('message', (reply: WorkerReply) => {
      const waiting = this.pending.get(reply.seq);
      if (!waiting) return;
      this.pending.delete(reply.seq);
      if (reply.type === 'error') waiting.reject(new Error(reply.message));
      else waiting.resolve(reply);
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the capture worker exited (code ${code})`)));
  }

  /** Starts the worker, which creates the snapshot; resolves once it is ready to write. */
  static start(storeDir: string, options: CreateSnapshotOptions): Promise<WorkerSink> {
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const entry = new URL(`./capture-thread.${ext}`, import.meta.url).href;
    const worker = new Worker(new URL('./thread-boot.mjs', import.meta.url), {
      workerData: { entry, storeDir, options },
      // A small young generation: the worker's garbage is short-lived batches, and the
      // default semi-spaces would add tens of MB of resident memory for no gain.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.once('message', (reply: WorkerReply) => {
        worker.off('error', onError);
        if (reply.type === 'ready') resolve(new WorkerSink(worker, reply.id, reply.dir));
        else {
          void worker.terminate();
          reject(new Error(reply.type === 'error' ? reply.message : `unexpected first message ${reply.type}`));
        }
      });
    });
  }

  private request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(message.seq, { resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  async write(batch: PackedBatch, wantExchanges: boolean, transfer: ArrayBuffer[] = []): Promise<BatchResult> {
    const reply = await this.request({ seq: ++this.seq, type: 'batch', batch, wantExchanges }, transfer);
    if (reply.type !== 'written') throw new Error(`unexpected reply ${reply.type}`);
    return reply.result;
  }

  async flush(): Promise<void> {
    await this.request({ seq: ++this.seq, type: 'flush' });
  }

  async close(dropped: number): Promise<SnapshotMeta> {
    try {
      const reply = await this.request({ seq: ++this.seq, type: 'close', dropped });
      if (reply.type !== 'closed') throw new Error(`unexpected reply ${reply.type}`);
      return reply.meta;
    } finally {
      this.worker.removeAllListeners('exit');
      await this.worker.terminate();
    }
  }
}
