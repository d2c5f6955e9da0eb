/**
 * Builds the validated, frozen configuration: defaults < file < env < flags. Every problem is
 * reported at once, each with its path and where it came from.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigInvalidError, FileUnreadableError, type ConfigIssue } from '../errors.ts';
import { configSchema, envBindings, type Config } from './schema.ts';

type Tree = Record<string, unknown>;

export interface ConfigSources {
  /** Path of a YAML config file. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, shaped like the config (undefined means "not given"). */
  flags?: Tree;
}

export function loadConfig(sources: ConfigSources = {}): Readonly<Config> {
  const layers: Array<{ name: string; tree: Tree }> = [];
  if (sources.file) layers.push({ name: sources.file, tree: readConfigFile(sources.file) });
  const { tree: envTree, issues: envIssues } = fromEnv(sources.env ?? {});
  if (envIssues.length > 0) throw new ConfigInvalidError('the environment', envIssues);
  layers.push({ name: 'the environment', tree: envTree });
  if (sources.flags) layers.push({ name: 'the command line', tree: sources.flags });

  const merged = layers.reduce<Tree>((acc, layer) => deepMerge(acc, layer.tree), {});
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issues: ConfigIssue[] = result.error.issues.map((i) => ({
      path: i.path.join('.'),
      message: i.message,
    }));
    const from = layers.length > 1 ? layers.map((l) => l.name).join(', ') : (layers[0]?.name ?? 'defaults');
    throw new ConfigInvalidError(from, issues);
  }
  return deepFreeze(result.data);
}

/** A YAML file that must hold a mapping (tapwire's config, the mock's config), with clear errors. */
export function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FileUnreadableError(file, (err as Error).message, 'check the path given to --config');
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new FileUnreadableError(file, `not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigInvalidError(file, [{ path: '', message: 'the file must hold a YAML mapping' }]);
  }
  return doc as Tree;
}

function fromEnv(env: NodeJS.ProcessEnv): { tree: Tree; issues: ConfigIssue[] } {
  const tree: Tree = {};
  const issues: ConfigIssue[] = [];
  for (const [name, binding] of Object.entries(envBindings)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (binding.type === 'number') {
      value = Number(raw);
      if (!Number.isFinite(value)) {
        issues.push({ path: name, message: `must be a number, got "${raw}"` });
        continue;
      }
    }
    setPath(tree, binding.path, value);
  }
  return { tree, issues };
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1] as string] = value;
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isTree(v) && isTree(out[k]) ? deepMerge(out[k] as Tree, v) : v;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (isTree(value) || Array.isArray(value)) {
    for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
