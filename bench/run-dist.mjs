#!/usr/bin/env node
// Runs the tapwire command from a given compiled tree: `node bench/run-dist.mjs DIST_DIR ARGS…`.
// For A/B benchmarks of two builds side by side (bin/tapwire.js always picks this checkout's
// dist/, and falls back to the TypeScript sources when another edit made it stale).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
if (!dist) {
  process.stderr.write('usage: run-dist.mjs DIST_DIR ARGS…\n');
  process.exit(2);
}
const { main } = await import(pathToFileURL(path.resolve(dist, 'cli/main.js')).href);
process.exitCode = await main([process.argv[0], 'tapwire', ...process.argv.slice(3)]);
