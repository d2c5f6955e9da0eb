#!/usr/bin/env node
// The published entry point. tapwire ships its TypeScript sources and runs them through tsx's
// loader, so there is no build step between `npm install` and `npx tapwire`.
import { register } from 'tsx/esm/api';

register();
// `tapwire tail | head`: a closed stdout ends the command quietly, not with an EPIPE trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
