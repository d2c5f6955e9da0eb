/**
 * The environment `record -- COMMAND` gives the app so that its outbound calls go through the
 * forward proxy with no change to its code: the proxy variables in both cases (curl reads
 * only the lower-case http_proxy), Node's own switch (Node >= 24) and, for older Node, a
 * preload that routes fetch through the proxy.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const NODE_PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'preload', 'node-proxy.mjs');

export function childProxyEnv(base: NodeJS.ProcessEnv, outHost: string, outPort: number): NodeJS.ProcessEnv {
  const host = outHost === '0.0.0.0' || outHost === '::' ? '127.0.0.1' : outHost;
  const proxy = `http://${host.includes(':') ? `[${host}]` : host}:${outPort}`;
  const socks = `socks5h://${host.includes(':') ? `[${host}]` : host}:${outPort}`;
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [name, value] of [
    ['HTTP_PROXY', proxy],
    ['HTTPS_PROXY', proxy],
    ['ALL_PROXY', socks],
    // Empty on purpose: calls to local dependencies (localhost) are recorded too.
    ['NO_PROXY', ''],
  ] as const) {
    env[name] = value;
    env[name.toLowerCase()] = value;
  }
  env['NODE_USE_ENV_PROXY'] = '1';
  // --import takes a specifier: a file URL survives spaces, '#' and '%' in the install path.
  const preload = `--import=${pathToFileURL(NODE_PRELOAD).href}`;
  env['NODE_OPTIONS'] = base['NODE_OPTIONS'] ? `${base['NODE_OPTIONS']} ${preload}` : preload;
  return env;
}
