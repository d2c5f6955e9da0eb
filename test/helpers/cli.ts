/**
 * Runs the tapwire command line in-process, as `tapwire ARGS…`, with a context that collects
 * stdout and stderr. The environment is only what the test gives (not the real one), so a
 * developer's TAPWIRE_* variables cannot change a result.
 */
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { main } from '../../src/cli/main.ts';

export interface RunCliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** What `-` reads, for commands that take stdin. */
  stdin?: string | Buffer;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const env = options.env ?? {};
  const ctx: CliContext & { stdin?: AsyncIterable<Buffer> } = {
    stdout: { write: (s) => void (stdout += s) },
    stderr: { write: (s) => void (stderr += s) },
    env,
    cwd: options.cwd ?? process.cwd(),
    isTTY: false,
    config: (flags, file) => loadConfig({ file: file ?? env['TAPWIRE_CONFIG'], env, flags: flags ?? {} }),
    logger: (level) => pino({ level }, { write: (s: string) => void (stderr += s) }),
    onStop: () => () => undefined,
  };
  if (options.stdin !== undefined) {
    const data = Buffer.from(options.stdin);
    ctx.stdin = (async function* () {
      yield data;
    })();
  }
  // main() reports process.exitCode when a command set it; keep the runner's own value apart.
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'tapwire', ...args], ctx);
    return { code, stdout, stderr };
  } finally {
    process.exitCode = saved;
  }
}
