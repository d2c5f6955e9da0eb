/**
 * The one error catalog. Every error a user can see is a TapwireError subclass with a stable
 * code (`TW_…`), a message that says what happened, and a hint that says what to do.
 * docs/errors.md documents each code; a test keeps the two in step.
 */

export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  goalsMissed: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class TapwireError extends Error {
  abstract readonly code: string;
  readonly exitCode: ExitCode = ExitCode.error;
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }

  /** The text a user sees: the message, then the hint on its own line. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}

/** Bad flags or arguments on the command line. */
export class UsageError extends TapwireError {
  readonly code = 'TW_USAGE';
  override readonly exitCode = ExitCode.usage;
}

export interface ConfigIssue {
  path: string;
  message: string;
}

/** The configuration (file, env or flags) failed validation; every issue is listed at once. */
export class ConfigInvalidError extends TapwireError {
  readonly code = 'TW_CONFIG_INVALID';
  override readonly exitCode = ExitCode.usage;
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `invalid configuration in ${source}:\n` + issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
      { hint: 'fix the listed keys; `tapwire <command> --help` lists every option and its default' },
    );
  }
}

/** A file that tapwire was told to read could not be read or parsed. */
export class FileUnreadableError extends TapwireError {
  readonly code = 'TW_FILE_UNREADABLE';
  constructor(
    readonly file: string,
    reason: string,
    hint?: string,
  ) {
    super(`cannot read ${file}: ${reason}`, hint === undefined ? {} : { hint });
  }
}

export class SnapshotNotFoundError extends TapwireError {
  readonly code = 'TW_SNAPSHOT_NOT_FOUND';
  constructor(
    readonly ref: string,
    store: string,
  ) {
    super(`no snapshot "${ref}" in store ${store}`, {
      hint: 'give a snapshot id, name or directory; `tapwire snapshot ls` lists them (use --store DIR for another store)',
    });
  }
}

/** A snapshot name matches more than one snapshot. */
export class SnapshotAmbiguousError extends TapwireError {
  readonly code = 'TW_SNAPSHOT_AMBIGUOUS';
  constructor(ref: string, ids: string[]) {
    super(`snapshot name "${ref}" matches ${ids.length} snapshots: ${ids.join(', ')}`, {
      hint: 'use the snapshot id instead of its name',
    });
  }
}

/** A snapshot's files exist but cannot be understood (bad snapshot.json, unknown version). */
export class SnapshotCorruptError extends TapwireError {
  readonly code = 'TW_SNAPSHOT_CORRUPT';
}

/** A file that tapwire was told to write (an export, a report) could not be written. */
export class FileUnwritableError extends TapwireError {
  readonly code = 'TW_FILE_UNWRITABLE';
  constructor(
    readonly file: string,
    reason: string,
    hint?: string,
  ) {
    super(`cannot write ${file}: ${reason}`, hint === undefined ? {} : { hint });
  }
}

/** An import file is not HAR or NDJSON tapwire understands. */
export class ImportFormatError extends TapwireError {
  readonly code = 'TW_IMPORT_FORMAT';
}

/** A listener could not bind its port. */
export class ListenError extends TapwireError {
  readonly code = 'TW_LISTEN';
  constructor(what: string, port: number, host: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`cannot listen for ${what} on ${host}:${port}${errno ? ` (${errno})` : ''}`, {
      hint:
        errno === 'EADDRINUSE'
          ? `another process uses port ${port}; stop it or choose another port with the matching --*-port flag`
          : errno === 'EACCES'
            ? 'ports below 1024 need privileges; choose a port above 1024'
            : 'check the address and port',
      cause,
    });
  }
}

/** The command given after `--` could not be started. */
export class CommandStartError extends TapwireError {
  readonly code = 'TW_COMMAND_START';
}

/** The admin endpoint of a running tapwire could not be reached. */
export class AdminUnreachableError extends TapwireError {
  readonly code = 'TW_ADMIN_UNREACHABLE';
  constructor(url: string, cause: unknown) {
    super(`cannot reach the tapwire admin endpoint at ${url}`, {
      hint: 'start `tapwire record` first, or point --admin at its --admin-port',
      cause,
    });
  }
}

/**
 * The admin endpoint answered, but not as a tapwire admin endpoint does (wrong status or content
 * type), or its stream broke or went silent.
 */
export class AdminResponseError extends TapwireError {
  readonly code = 'TW_ADMIN_RESPONSE';
}

/** An exchange record failed schema validation or could not be migrated. */
export class ExchangeInvalidError extends TapwireError {
  readonly code = 'TW_EXCHANGE_INVALID';
}

/** There is no local CA (for TLS interception) in the CA directory. */
export class CaMissingError extends TapwireError {
  readonly code = 'TW_CA_MISSING';
  constructor(readonly dir: string) {
    super(`no tapwire CA in ${dir}`, {
      hint: 'run "tapwire certs init" (or point --ca DIR / TAPWIRE_CA at the directory that holds ca.pem and ca-key.pem)',
    });
  }
}

/** The local CA's files exist but cannot be used (unreadable, not PEM, key and certificate do not match). */
export class CaInvalidError extends TapwireError {
  readonly code = 'TW_CA_INVALID';
  constructor(
    readonly dir: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`the tapwire CA in ${dir} cannot be used: ${reason}`, {
      hint:
        'restore ca.pem and ca-key.pem, or make a new CA with "tapwire certs init --force" ' +
        '(apps that trusted the old one must then be told to trust the new one)',
      ...options,
    });
  }
}

/** A .proto file given with --proto does not parse or does not resolve (a missing import or type). */
export class ProtoInvalidError extends TapwireError {
  readonly code = 'TW_PROTO_INVALID';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    reason: string,
    cause?: unknown,
  ) {
    super(`invalid .proto ${file}${line === undefined ? '' : `:${line}`}: ${reason}`, {
      hint: 'fix the file (protoc --descriptor_set_out=/dev/null checks it), or give --proto a directory without it',
      cause,
    });
  }
}

/** Every catalog entry, for docs and tests. */
export const errorCatalog = [
  'TW_USAGE',
  'TW_CONFIG_INVALID',
  'TW_FILE_UNREADABLE',
  'TW_FILE_UNWRITABLE',
  'TW_SNAPSHOT_NOT_FOUND',
  'TW_SNAPSHOT_AMBIGUOUS',
  'TW_SNAPSHOT_CORRUPT',
  'TW_IMPORT_FORMAT',
  'TW_LISTEN',
  'TW_COMMAND_START',
  'TW_ADMIN_UNREACHABLE',
  'TW_ADMIN_RESPONSE',
  'TW_EXCHANGE_INVALID',
  'TW_PROTO_INVALID',
  'TW_CA_MISSING',
  'TW_CA_INVALID',
] as const;

export function isTapwireError(err: unknown): err is TapwireError {
  return err instanceof TapwireError;
}
