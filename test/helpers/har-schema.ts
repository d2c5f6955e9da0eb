/**
 * Validates a document against the HAR 1.2 JSON schema of the `har-schema` package (draft-06,
 * one file per object, `$id`s like `har.json#`). Returns the problems, empty when valid.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';
import { dirname, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);
let validate: ValidateFunction | undefined;

function compile(): ValidateFunction {
  // strict: false because the schemas use keywords that are not JSON Schema (`min`, `optional`).
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(JSON.parse(readFileSync(require.resolve('ajv/dist/refs/json-schema-draft-06.json'), 'utf8')));
  // The formats the schemas use, without pulling in ajv-formats. They matter: serverIPAddress
  // is `oneOf` ipv4/ipv6, which fails for every value when formats are ignored.
  ajv.addFormat('ipv4', (v: string) => isIPv4(v));
  ajv.addFormat('ipv6', (v: string) => isIPv6(v));
  ajv.addFormat('date-time', (v: string) => !Number.isNaN(Date.parse(v)));
  ajv.addFormat('uri', (v: string) => URL.canParse(v));
  const dir = dirname(require.resolve('har-schema'));
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    ajv.addSchema(JSON.parse(readFileSync(join(dir, file), 'utf8')));
  }
  const fn = ajv.getSchema('har.json#');
  if (!fn) throw new Error('har-schema: har.json# not found');
  return fn;
}

export function harSchemaErrors(doc: unknown): string[] {
  validate ??= compile();
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
}
