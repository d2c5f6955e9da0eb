/** `tapwire demo`: a complete recording of a bundled sample, on loopback, in a few seconds. */
import type { Command } from 'commander';
import { summarize } from '../model/summary.ts';
import { openStore } from '../store/fs/index.ts';
import type { CliContext } from './context.ts';
import { globalFlags } from './options.ts';

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .summary('record a bundled sample app end to end, on loopback')
    .description(
      'Starts a small shop API and the inventory service it depends on, records the shop with tapwire\n' +
        '(inbound through the reverse proxy, its calls to inventory through the forward proxy), sends it\n' +
        'a few requests, and writes the snapshot to the store. Nothing leaves this machine.',
    )
    .addHelpText('after', '\nExample:\n  npx tapwire demo && npx tapwire snapshot ls')
    .action(async (_opts: unknown, cmd: Command) => {
      const global = globalFlags(cmd);
      const config = ctx.config(global.flags, global.configFile);
      const say = (line: string) => ctx.stdout.write(`${line}\n`);
      say('tapwire demo: record a real app and its dependency, on loopback\n');
      const { meta, exchanges } = await (
        await import('../demo/run-demo.ts')
      ).runDemo({
        store: openStore(config.store),
        logger: ctx.logger(config.logLevel === 'info' ? 'warn' : config.logLevel),
        say,
      });
      say(
        `4. recorded ${meta.counts.exchanges} exchanges (${meta.counts.inbound} in, ${meta.counts.outbound} out) in snapshot ${meta.name}:`,
      );
      for (const x of exchanges) say(`   ${summarize(x)}`);
      say(
        `\nNext:\n` +
          `  npx tapwire snapshot show ${meta.name}${config.store === './.tapwire' ? '' : ` --store ${config.store}`}\n` +
          `  npx tapwire snapshot export ${meta.name} --format har -o demo.har\n` +
          `  npx tapwire record --app localhost:3000 -- npm start    # record your own app`,
      );
    });
}
