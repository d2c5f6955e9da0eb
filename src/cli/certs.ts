/**
 * `tapwire certs init | path | export`: the local CA that TLS interception signs with. Creating,
 * loading and encoding are in src/protocols/tls; this file parses flags and explains trust.
 */
import { Option, type Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileUnwritableError, UsageError } from '../errors.ts';
import { defaultCaDir, initCa, loadCa, type LocalCa } from '../protocols/tls/ca.ts';
import { encodeJks, writeTrustBundle } from '../protocols/tls/trust.ts';
import type { CliContext } from './context.ts';
import { globalFlags } from './options.ts';

const CA_OPTION = ['--ca <dir>', 'CA directory (or TAPWIRE_CA) [default ~/.tapwire/ca]'] as const;

export function registerCerts(program: Command, ctx: CliContext): void {
  const certs = program
    .command('certs')
    .summary('the local CA used to intercept TLS: init, path, export')
    .description(
      'Manage the local certificate authority that `tapwire record` signs per-host certificates with when it ' +
        'intercepts TLS.\n\n' +
        'The CA is an ECDSA P-256 root in a directory (default ~/.tapwire/ca, or TAPWIRE_CA, or --ca DIR): ' +
        'ca.pem is the certificate apps must trust, ca-key.pem its private key (mode 0600: keep it private, ' +
        'anyone with it can impersonate any site to the apps that trust ca.pem). `tapwire record` creates it ' +
        'on first use and sets NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE for ' +
        'the command it starts; `certs` is for trusting it anywhere else.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire certs init                          create the CA (kept if it exists) and say how to trust it\n' +
        '  tapwire certs path                          where ca.pem is, for scripts\n' +
        '  curl --cacert "$(tapwire certs path)" https://example.com/ -x http://localhost:4140\n' +
        '  tapwire certs export --format der -o tapwire.cer   for Windows, Android, browsers\n' +
        '  tapwire certs export --jks truststore.jks   a Java trust store (password changeit)',
    );

  certs
    .command('init')
    .summary('create the CA (or keep the existing one) and print how to trust it')
    .description(
      'Create the local CA in the CA directory, or keep the one already there, then print its path, ' +
        'fingerprint and how to make Node, curl, Python, Java and the system trust it.\n\n' +
        'An existing CA is never replaced unless --force is given: every app and trust store that was told ' +
        'to trust it would have to be told again.',
    )
    .option(...CA_OPTION)
    .option('--force', 'replace an existing CA with a new one')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire certs init\n' +
        '  tapwire certs init --ca ./ci-ca             a CA for this project only\n' +
        '  tapwire certs init --force                  start over with a new CA',
    )
    .action(async (opts: { ca?: string; force?: boolean }, cmd: Command) => {
      const { ca, created } = await initCa(caDirFor(cmd, opts.ca, ctx), { force: opts.force === true });
      ctx.stdout.write(
        (created ? `Created a new tapwire CA in ${ca.dir}\n` : `Using the existing tapwire CA in ${ca.dir}\n`) +
          describeCa(ca) +
          '\n' +
          trustInstructions(ca, await writeTrustBundle(ca)) +
          (created ? '' : '\n(--force replaces it with a new CA.)\n'),
      );
    });

  certs
    .command('path')
    .summary('print the path of the CA certificate (ca.pem)')
    .description(
      'Print the path of the CA certificate, ca.pem, and nothing else. Fails (exit 1, TW_CA_MISSING) when ' +
        'there is no CA yet: run `tapwire certs init` first.',
    )
    .option(...CA_OPTION)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire certs path\n' +
        '  export NODE_EXTRA_CA_CERTS="$(tapwire certs path)"\n' +
        "  python3 -c 'import ssl, urllib.request as u; " +
        'print(u.urlopen("https://localhost:8443", context=ssl.create_default_context(cafile="\'"$(tapwire certs path)"\'")).status)\'',
    )
    .action(async (opts: { ca?: string }, cmd: Command) => {
      const ca = await loadCa(caDirFor(cmd, opts.ca, ctx));
      ctx.stdout.write(ca.certPath + '\n');
    });

  certs
    .command('export')
    .summary('write the CA certificate as PEM, DER or a Java trust store (JKS)')
    .description(
      'Write the CA certificate (never its key) to a file or stdout: PEM (default), DER (binary, .cer/.der: ' +
        'Windows, Android, some browsers) or, with --jks, a Java KeyStore holding it as a trusted certificate.\n\n' +
        'Java does not read NODE_EXTRA_CA_CERTS or SSL_CERT_FILE. Either import ca.pem into the JDK trust store ' +
        '(needs write access to it):\n' +
        '  keytool -importcert -noprompt -cacerts -storepass changeit -alias tapwire-ca -file ~/.tapwire/ca/ca.pem\n' +
        '  (JDK 8: -keystore "$JAVA_HOME/jre/lib/security/cacerts" instead of -cacerts)\n' +
        'or export a trust store and point the JVM at it:\n' +
        '  tapwire certs export --jks tapwire.jks\n' +
        '  JAVA_TOOL_OPTIONS="-Djavax.net.ssl.trustStore=$PWD/tapwire.jks -Djavax.net.ssl.trustStorePassword=changeit" java -jar app.jar\n' +
        "That store holds only the tapwire CA, enough when every call goes through tapwire. To keep the JDK's " +
        'roots too, copy them and add ours:\n' +
        '  cp "$JAVA_HOME/lib/security/cacerts" app-trust.jks && keytool -importcert -noprompt -keystore ' +
        'app-trust.jks -storepass changeit -alias tapwire-ca -file ~/.tapwire/ca/ca.pem',
    )
    .option(...CA_OPTION)
    .option('-o, --output <file>', 'file to write the certificate to (default: stdout, PEM only)')
    .addOption(new Option('--format <format>', 'pem or der').choices(['pem', 'der']).default('pem'))
    .option('--jks <file>', 'also write a Java KeyStore (JKS) with the CA as trusted entry "tapwire-ca"')
    .option('--storepass <password>', 'password of the --jks store', 'changeit')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tapwire certs export > tapwire-ca.pem\n' +
        '  tapwire certs export --format der -o tapwire-ca.cer\n' +
        '  tapwire certs export --jks tapwire.jks && keytool -list -keystore tapwire.jks -storepass changeit',
    )
    .action(
      async (
        opts: { ca?: string; output?: string; format: 'pem' | 'der'; jks?: string; storepass: string },
        cmd: Command,
      ) => {
        if (opts.format === 'der' && opts.output === undefined) {
          throw new UsageError('--format der writes binary data: give a file with -o FILE');
        }
        const ca = await loadCa(caDirFor(cmd, opts.ca, ctx));
        if (opts.jks !== undefined) {
          const file = path.resolve(ctx.cwd, opts.jks);
          await writeOut(file, encodeJks(ca.certPem, { password: opts.storepass }));
          ctx.stderr.write(`wrote ${file} (JKS, alias tapwire-ca)\n`);
          // --jks alone writes only the store; with -o the certificate is written too.
          if (opts.output === undefined) return;
        }
        const data = opts.format === 'der' ? Buffer.from(new X509Certificate(ca.certPem).raw) : ca.certPem;
        if (opts.output === undefined) {
          ctx.stdout.write(ca.certPem);
          return;
        }
        const file = path.resolve(ctx.cwd, opts.output);
        await writeOut(file, data);
        ctx.stderr.write(`wrote ${file} (${opts.format.toUpperCase()})\n`);
      },
    );
}

/** --ca, else the configuration (TAPWIRE_CA, config file), else ~/.tapwire/ca. */
function caDirFor(cmd: Command, flag: string | undefined, ctx: CliContext): string {
  const { flags, configFile } = globalFlags(cmd);
  const configured = flag ?? ctx.config(flags, configFile).ca;
  return configured === undefined ? defaultCaDir(ctx.env) : path.resolve(ctx.cwd, configured);
}

async function writeOut(file: string, data: string | Buffer): Promise<void> {
  try {
    await writeFile(file, data);
  } catch (err) {
    throw new FileUnwritableError(file, (err as Error).message);
  }
}

function describeCa(ca: LocalCa): string {
  return (
    `  certificate  ${ca.certPath}\n` +
    `  private key  ${ca.keyPath} (keep it private)\n` +
    `  subject      ${ca.subject}\n` +
    `  valid until  ${ca.notAfter.toISOString().slice(0, 10)}\n` +
    `  SHA-256      ${ca.fingerprint256}\n`
  );
}

/** How to make common clients trust the CA; `tapwire record -- COMMAND` does the first three itself. */
export function trustInstructions(ca: LocalCa, bundle: string): string {
  const pem = ca.certPath;
  return (
    'To trust it (`tapwire record -- COMMAND` sets the variables for the command it starts):\n' +
    `  Node       NODE_EXTRA_CA_CERTS=${pem} node app.js\n` +
    `  curl       curl --cacert ${pem} https://…\n` +
    `  Python     ssl.create_default_context(cafile="${pem}")\n` +
    `  bundle     SSL_CERT_FILE, REQUESTS_CA_BUNDLE (Python requests), CURL_CA_BUNDLE and GIT_SSL_CAINFO REPLACE\n` +
    `             the trust store: point them at ${bundle}, the system CAs plus this one\n` +
    `  Debian     sudo cp ${pem} /usr/local/share/ca-certificates/tapwire.crt && sudo update-ca-certificates\n` +
    `  Fedora     sudo cp ${pem} /etc/pki/ca-trust/source/anchors/tapwire.pem && sudo update-ca-trust\n` +
    `  macOS      sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${pem}\n` +
    `  Java       keytool -importcert -noprompt -cacerts -storepass changeit -alias tapwire-ca -file ${pem}\n` +
    '             or: tapwire certs export --jks tapwire.jks, then\n' +
    '             JAVA_TOOL_OPTIONS="-Djavax.net.ssl.trustStore=$PWD/tapwire.jks -Djavax.net.ssl.trustStorePassword=changeit"\n'
  );
}
