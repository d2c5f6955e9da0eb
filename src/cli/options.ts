/** Option helpers shared by the commands. */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';

/** Global options (`--store`, `--config`, `--log-level`) as config-shaped flags. */
export function globalFlags(command: Command): { flags: Record<string, unknown>; configFile?: string } {
  const opts = command.optsWithGlobals<{ store?: string; config?: string; logLevel?: string }>();
  const flags: Record<string, unknown> = { store: opts.store, logLevel: opts.logLevel };
  return opts.config === undefined ? { flags } : { flags, configFile: opts.config };
}

/** Parses a port flag, with an error that names the flag. */
export function parsePort(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > 65535) {
      throw new UsageError(`${flag} must be a port number from 0 to 65535, got "${value}"`);
    }
    return n;
  };
}

/** Parses a positive integer flag (sizes, counts). */
export function parseCount(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number, got "${value}"`);
    return n;
  };
}
