// Loaded into Node apps started by `tapwire record -- COMMAND` (through NODE_OPTIONS=--import).
// Node before 24 ignores HTTP_PROXY for fetch; this points fetch's global dispatcher at an
// agent that honours HTTP_PROXY, HTTPS_PROXY and NO_PROXY. Plain JavaScript: the app's Node
// may not have a TypeScript loader. Any failure leaves the app untouched.
try {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24 && process.env.HTTP_PROXY) {
    const { EnvHttpProxyAgent, setGlobalDispatcher } = await import('undici');
    setGlobalDispatcher(new EnvHttpProxyAgent());
  }
} catch {
  // Recording still works for everything that reads the proxy variables itself.
}
