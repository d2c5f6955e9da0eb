/**
 * Reading an Exchange from any format version. Each version bump adds one step to `migrations`
 * (from N to N+1) and a test that an old record still reads.
 */
import { ExchangeInvalidError } from '../errors.ts';
import { EXCHANGE_VERSION, exchangeSchema, type Exchange } from './exchange.ts';

type Migration = (record: Record<string, unknown>) => Record<string, unknown>;

/** migrations[n] turns a version-n record into a version-(n+1) record. */
const migrations: Record<number, Migration> = {};

export function parseExchange(raw: unknown): Exchange {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ExchangeInvalidError('an exchange record must be a JSON object');
  }
  let record = raw as Record<string, unknown>;
  let version = record['v'];
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new ExchangeInvalidError(`exchange record has no valid format version ("v": ${JSON.stringify(version)})`);
  }
  if (version > EXCHANGE_VERSION) {
    throw new ExchangeInvalidError(
      `exchange record has format version ${version}, newer than this tapwire understands (${EXCHANGE_VERSION})`,
      { hint: 'upgrade tapwire to read this snapshot' },
    );
  }
  while (version < EXCHANGE_VERSION) {
    const step = migrations[version];
    if (!step) throw new ExchangeInvalidError(`no migration from exchange format version ${version}`);
    record = step(record);
    version++;
  }
  const result = exchangeSchema.safeParse(record);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ExchangeInvalidError(
      `invalid exchange record${typeof record['id'] === 'string' ? ` ${record['id']}` : ''}: ` +
        `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'does not match the schema'}`,
    );
  }
  return result.data;
}
