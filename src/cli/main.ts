/**
 * The `tapwire` command line: builds the program, runs one command, turns every failure into a
 * clear message and a documented exit code (0 ok, 1 error, 2 usage, 3 goals missed).
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, isTapwireError } from '../errors.ts';
import { registerCerts } from './certs.ts';
import { processContext, type CliContext } from './context.ts';
import { registerDemo } from './demo.ts';
import { registerMock } from './mock.ts';
import { registerRecord } from './record.ts';
import { registerReplay } from './replay.ts';
import { registerSnapshot } from './snapshot.ts';
import { registerTail } from './tail.ts';

export const VERSION = '0.1.0';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('tapwire')
    .description(
      'Capture the real traffic of a service and replay it.\n\n' +
        'Start with `tapwire record`: it puts a proxy around your app and writes what the app receives and\n' +
        'what it sends to a snapshot. Watch it with `tapwire tail`; list, show and export (HAR, NDJSON)\n' +
        'snapshots with `tapwire snapshot`.',
    )
    .version(VERSION, '-V, --version')
    .option('--config <file>', 'YAML configuration file (or TAPWIRE_CONFIG)')
    .option('--store <dir>', 'snapshot store directory (or TAPWIRE_STORE)', undefined)
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent (or TAPWIRE_LOG_LEVEL)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride()
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire record --app localhost:3000 -- npm start   record an app in and out\n' +
        '  tapwire tail                                     watch exchanges live\n' +
        '  tapwire snapshot ls                              list snapshots\n' +
        '  tapwire snapshot export my-snap --format har -o my.har\n\n' +
        'Exit codes: 0 ok, 1 error, 2 usage, 3 goals missed.',
    );
  registerRecord(program, ctx);
  registerMock(program, ctx);
  registerReplay(program, ctx);
  registerSnapshot(program, ctx);
  registerTail(program, ctx);
  registerCerts(program, ctx);
  registerDemo(program, ctx);
  // Help text is laid out by hand: wrap at 110 columns, not at the 80 of a pipe.
  const configure = (cmd: Command) => {
    cmd.configureHelp({ helpWidth: 110 });
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    });
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs the command line; returns the exit code instead of exiting so that tests can call it. */
export async function main(argv: string[], baseCtx: CliContext = processContext()): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const ctx: CliContext = { ...baseCtx, setExitCode: (code) => (exitCode = code) };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    return reportError(err, ctx);
  }
}

export function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) {
    // Help and version end with a "error" of their own; commander already printed the text.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
      return ExitCode.ok;
    }
    return ExitCode.usage;
  }
  if (isTapwireError(err)) {
    ctx.stderr.write(`tapwire: ${err.describe()} [${err.code}]\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.stderr.write(
    `tapwire: unexpected error: ${message}\n` +
      '  hint: this is a bug in tapwire; please report it with the command you ran' +
      (ctx.env['TAPWIRE_DEBUG'] ? `\n${(err as Error).stack ?? ''}` : ' (set TAPWIRE_DEBUG=1 for details)') +
      '\n',
  );
  return ExitCode.error;
}
