#!/usr/bin/env node
// The `tapwire` command. Runs the compiled dist/ when it is newer than every source file
// (`npm install` builds it); otherwise, in a checkout being edited, the TypeScript sources
// through tsx's loader, so a stale build never runs.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs);
  }
  return newest;
}

function distIsFresh() {
  const stamp = path.join(root, 'dist', '.built');
  if (!existsSync(stamp)) return false;
  if (!existsSync(path.join(root, 'src'))) return true; // installed package: dist only
  return statSync(stamp).mtimeMs >= newestSource(path.join(root, 'src'));
}

// `tapwire tail | head`: a closed stdout ends the command quietly, not with an EPIPE trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

let main;
if (!process.env.TAPWIRE_FROM_SOURCE && distIsFresh()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);
