/**
 * The app a command runs after `--` (record, mock): started with the environment the command
 * prepared, waited for, and stopped with the signal the user sent. Shared so that record and
 * mock behave the same: exit code passed on, Ctrl-C forwarded, a stuck app killed after 5 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CommandStartError } from '../errors.ts';
import type { CliContext } from './context.ts';

export interface AppProcess {
  child: ChildProcess;
  exit: Promise<number>;
}

/**
 * Starts `command`; on failure runs `cleanup` and throws a catalog error with `example` as the
 * hint's model command line.
 */
export async function startApp(
  command: string[],
  env: NodeJS.ProcessEnv,
  ctx: CliContext,
  cleanup: () => Promise<unknown>,
  example: string,
): Promise<AppProcess> {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { env, cwd: ctx.cwd, stdio: 'inherit' });
  const exit = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    child.once('error', () => resolve(127));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (err) {
    await cleanup();
    throw new CommandStartError(`cannot start "${command.join(' ')}": ${(err as Error).message}`, {
      hint: `check that the command exists and is on PATH; put it after --, e.g. ${example}`,
    });
  }
  return { child, exit };
}

/**
 * Waits until the app exits or the user stops tapwire (Ctrl-C, SIGTERM), whichever comes first,
 * and returns the exit code to pass on. Without an app it waits for the stop signal.
 */
export async function waitForAppOrStop(ctx: CliContext, app: AppProcess | undefined, name: string): Promise<number> {
  let off: () => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => {
    off = ctx.onStop((signal) => {
      off();
      resolve(signal);
    });
  });
  let code = 0;
  if (app) {
    const first = await Promise.race([app.exit.then((c) => ({ exit: c })), stopSignal.then((s) => ({ signal: s }))]);
    if ('signal' in first) {
      ctx.stderr.write(`\ntapwire: ${first.signal}: stopping ${name}…\n`);
      app.child.kill(first.signal as NodeJS.Signals);
      const killTimer = setTimeout(() => app.child.kill('SIGKILL'), 5000);
      code = await app.exit;
      clearTimeout(killTimer);
    } else {
      code = first.exit;
      ctx.stderr.write(`tapwire: ${name} exited with code ${code}\n`);
    }
  } else {
    const signal = await stopSignal;
    ctx.stderr.write(`\ntapwire: ${signal}: stopping…\n`);
  }
  off(); // the signal handlers go once stopping starts (a second Ctrl-C then ends the process)
  return code;
}

function signalNumber(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : signal === 'SIGKILL' ? 9 : 1;
}
