// Boots a worker thread on its entry module. Loader hooks do not carry over into workers, so a
// worker started from the TypeScript sources (tests, a checkout) registers tsx itself first;
// from the compiled dist/ the entry is plain JavaScript. Plain .mjs, copied as is into dist/.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
