/**
 * What every command receives: where to write, how to log, how to build its configuration.
 * Commands parse arguments and call into the feature modules; they own the console.
 */
import { pino, type Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { loadConfig } from '../config/load.ts';

export interface Output {
  write(text: string): void;
}

export interface CliContext {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Validated configuration from defaults, `--config`, `TAPWIRE_*` and the given flag values. */
  config(flags?: Record<string, unknown>, file?: string): Readonly<Config>;
  /** A logger writing JSON lines to stderr at the configured level. */
  logger(level: Config['logLevel']): Logger;
  /** Resolves when the user asks to stop (Ctrl-C / SIGTERM); used by long-running commands. */
  onStop(listener: (signal: string) => void): () => void;
  /** True when stdout is a terminal (progress lines, colour). */
  isTTY: boolean;
  /** A command's exit code other than 0 (errors are thrown instead); main() returns it. */
  setExitCode?: (code: number) => void;
}

export function processContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stdout.isTTY),
    config(flags, file) {
      return loadConfig({ file: file ?? process.env['TAPWIRE_CONFIG'], env: process.env, flags: flags ?? {} });
    },
    logger(level) {
      return pino({ level, base: { app: 'tapwire' } }, pino.destination({ fd: 2, sync: false }));
    },
    onStop(listener) {
      const onSignal = (signal: NodeJS.Signals) => listener(signal);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      return () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      };
    },
  };
}
