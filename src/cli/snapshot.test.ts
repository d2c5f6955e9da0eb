import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../test/helpers/cli.ts';
import { httpExchange, tcpExchange } from '../../test/helpers/exchanges.ts';
import { harSchemaErrors } from '../../test/helpers/har-schema.ts';
import type { Exchange } from '../model/exchange.ts';
import { openStore } from '../store/fs/index.ts';
import { formatNdjson, parseNdjson } from '../store/ndjson.ts';

const chromeHar = fileURLToPath(new URL('../../test/fixtures/har/chrome-shop.har', import.meta.url));

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'tapwire-cli-snapshot-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh store directory and the environment that points the CLI at it. */
function freshStore(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = join(root, `store-${++n}`);
  return { dir, env: { TAPWIRE_STORE: dir } };
}

const sample: Exchange[] = [
  httpExchange(0, { direction: 'inbound', service: 'shop' }),
  httpExchange(1),
  tcpExchange(2),
  httpExchange(3),
];

async function seed(dir: string, name: string, xs: Exchange[] = sample): Promise<string> {
  const writer = await openStore(dir).create({ name, services: ['shop'], source: 'record' });
  await writer.writeBatch(xs);
  await writer.close();
  return writer.id;
}

async function readSnapshot(dir: string, ref: string): Promise<Exchange[]> {
  const out: Exchange[] = [];
  for await (const x of (await openStore(dir).open(ref)).exchanges()) out.push(x);
  return out;
}

void describe('tapwire snapshot ls', () => {
  void test('an empty store says how to record, and is not created', async () => {
    const { dir, env } = freshStore();
    const r = await runCli(['snapshot', 'ls'], { env });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /No snapshots in/);
    assert.match(r.stdout, /tapwire record/);
    assert.match(r.stdout, /tapwire snapshot import/);
    assert.equal(existsSync(dir), false);
    assert.equal((await runCli(['snapshot', 'ls', '--json'], { env })).stdout, '[]\n');
  });

  void test('a table, newest first, and --json', async () => {
    const { dir, env } = freshStore();
    const first = await seed(dir, 'older');
    const second = await seed(dir, 'newer');
    const r = await runCli(['snapshot', 'ls'], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID\s+NAME\s+CREATED \(UTC\)\s+STATUS\s+EXCHANGES \(IN\/OUT\)\s+SERVICES$/);
    assert.match(
      lines[1] ?? '',
      new RegExp(
        `^${second}\\s+newer\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+complete\\s+4 \\(1/3\\)\\s+api.example.com, db, shop$`,
      ),
    );
    assert.match(lines[2] ?? '', new RegExp(`^${first}\\s+older`));
    const json = JSON.parse((await runCli(['snapshot', 'ls', '--json'], { env })).stdout);
    assert.deepEqual(
      json.map((m: { id: string }) => m.id),
      [second, first],
    );
  });

  void test('--store on the command line wins over the environment', async () => {
    const { dir } = freshStore();
    const id = await seed(dir, 'flagged');
    const r = await runCli(['--store', dir, 'snapshot', 'ls'], { env: { TAPWIRE_STORE: join(root, 'elsewhere') } });
    assert.match(r.stdout, new RegExp(id));
  });
});

void describe('tapwire snapshot show', () => {
  void test('metadata, counts and one line per exchange, with a limit', async () => {
    const { dir, env } = freshStore();
    const id = await seed(dir, 'shown');
    const r = await runCli(['snapshot', 'show', 'shown', '--limit', '2'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`Snapshot +shown \\(${id}\\)`));
    assert.match(r.stdout, /Status +complete/);
    assert.match(r.stdout, /Exchanges +4 \(1 in, 3 out\)/);
    assert.match(r.stdout, /Protocols +http 3, tcp 1/);
    assert.match(r.stdout, /Directions +outbound 3, inbound 1/);
    assert.match(r.stdout, /api\.example\.com +3/);
    assert.match(r.stdout, /db\.internal:5432 +1/);
    assert.match(r.stdout, /Exchanges \(first 2 of 4\)/);
    assert.match(r.stdout, /in {2}GET https:\/\/api\.example\.com\/users\/0\?fields=name&fields=email 200/);
    assert.match(r.stdout, /… 2 more/);
    assert.doesNotMatch(r.stdout, /users\/3/);

    const all = await runCli(['snapshot', 'show', id.slice(0, 8), '--limit', '0'], { env });
    assert.match(all.stdout, /Exchanges \(4\)/);
    assert.match(all.stdout, /out TCP db\.internal:5432/);
  });

  void test('--json holds the metadata, counts and exchanges', async () => {
    const { dir, env } = freshStore();
    await seed(dir, 'json');
    const r = await runCli(['snapshot', 'show', 'json', '--json', '--limit', '3'], { env });
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.meta.name, 'json');
    assert.deepEqual(doc.read.byProtocol, { http: 3, tcp: 1 });
    assert.equal(doc.exchanges.length, 3);
    assert.equal(doc.more, 1);
  });

  void test('a torn segment is a warning on stderr, not a failure', async () => {
    const { dir, env } = freshStore();
    const many = Array.from({ length: 30 }, (_, i) => httpExchange(i));
    const id = await seed(dir, 'torn', many);
    const segment = join(dir, 'snapshots', id, 'exchanges-0001.ndjson.gz');
    truncateSync(segment, statSync(segment).size - 16);
    const r = await runCli(['snapshot', 'show', join(dir, 'snapshots', id)], { env });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /warning: exchanges-0001\.ndjson\.gz line \d+: incomplete last line/);
    assert.match(r.stdout, /Read +2\d exchanges, 1 unreadable lines/);
  });

  void test('unknown, ambiguous and bad arguments end with a message and an exit code, not a stack', async () => {
    const { dir, env } = freshStore();
    await seed(dir, 'twin');
    await seed(dir, 'twin');
    const missing = await runCli(['snapshot', 'show', 'nope'], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no snapshot "nope"[\s\S]*\[TW_SNAPSHOT_NOT_FOUND\]/);
    assert.match(missing.stderr, /hint: .*tapwire snapshot ls/);
    assert.doesNotMatch(missing.stderr, /\bat .*\.ts:\d+/);
    const twin = await runCli(['snapshot', 'show', 'twin'], { env });
    assert.equal(twin.code, 1);
    assert.match(twin.stderr, /TW_SNAPSHOT_AMBIGUOUS/);
    const badLimit = await runCli(['snapshot', 'show', 'twin', '--limit', 'lots'], { env });
    assert.equal(badLimit.code, 2);
    assert.match(badLimit.stderr, /--limit must be a whole number/);
  });
});

void describe('tapwire snapshot export', () => {
  void test('HAR to stdout validates and says what was skipped', async () => {
    const { dir, env } = freshStore();
    await seed(dir, 'to-har');
    const r = await runCli(['snapshot', 'export', 'to-har', '--format', 'har'], { env });
    assert.equal(r.code, 0, r.stderr);
    const har = JSON.parse(r.stdout);
    assert.deepEqual(harSchemaErrors(har), []);
    assert.equal(har.log.entries.length, 3);
    assert.equal(har.log.creator.version, '0.1.0');
    assert.match(r.stderr, /exported 3 exchanges of snapshot to-har .* to stdout as HAR 1\.2; skipped 1 TCP exchange/);
  });

  void test('NDJSON to a file relative to the working directory; the format follows the extension', async () => {
    const { dir, env } = freshStore();
    await seed(dir, 'to-file');
    const r = await runCli(['snapshot', 'export', 'to-file', '-o', 'out.ndjson'], { env, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const text = readFileSync(join(root, 'out.ndjson'), 'utf8');
    assert.deepEqual(parseNdjson(text).exchanges, sample);
    assert.match(r.stderr, /exported 4 exchanges/);
    assert.ok(!readdirSync(root).some((f) => f.endsWith('.tmp')), 'no temporary file left');
  });

  void test('no format, or an unwritable destination, is an error', async () => {
    const { dir, env } = freshStore();
    await seed(dir, 'x');
    const noFormat = await runCli(['snapshot', 'export', 'x'], { env });
    assert.equal(noFormat.code, 2);
    assert.match(noFormat.stderr, /--format har or --format ndjson/);
    const badFormat = await runCli(['snapshot', 'export', 'x', '--format', 'csv'], { env });
    assert.equal(badFormat.code, 2);
    const noDir = await runCli(['snapshot', 'export', 'x', '-o', join(root, 'no', 'such', 'dir', 'x.har')], { env });
    assert.equal(noDir.code, 1);
    assert.match(noDir.stderr, /cannot write .*x\.har: its directory does not exist\n[\s\S]*\[TW_FILE_UNWRITABLE\]/);
  });
});

void describe('tapwire snapshot import', () => {
  void test('a Chrome HAR file: prints the new id, lists what was skipped', async () => {
    const { dir, env } = freshStore();
    const r = await runCli(['snapshot', 'import', chromeHar], { env });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9A-Z]{26}$/);
    assert.match(r.stderr, /skipped 1 HAR entry:\n {2}entry 5 \(data:image\/svg\+xml;base64,.*\): data: URLs/);
    assert.match(
      r.stderr,
      /imported 6 exchanges from .*chrome-shop\.har \(HAR from WebInspector 537\.36\) into snapshot chrome-shop/,
    );
    const meta = (await openStore(dir).open(id)).meta;
    assert.equal(meta.name, 'chrome-shop');
    assert.equal(meta.source, 'import:har');
    assert.equal(meta.counts.outbound, 6);
  });

  void test('export to HAR then import gives back the same exchanges', async () => {
    const { dir, env } = freshStore();
    await seed(dir, 'orig');
    assert.equal((await runCli(['snapshot', 'export', 'orig', '-o', 'orig.har'], { env, cwd: root })).code, 0);
    const r = await runCli(['snapshot', 'import', 'orig.har', '--name', 'copy'], { env, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      await readSnapshot(dir, 'copy'),
      sample.filter((x) => x.protocol !== 'tcp'),
    );
  });

  void test('NDJSON from stdin, with a bad line reported by number', async () => {
    const { dir, env } = freshStore();
    const lines = formatNdjson(sample).split('\n');
    lines.splice(2, 0, '{"v":1,"id":"half"}');
    const r = await runCli(['snapshot', 'import', '-', '--name', 'piped'], { env, stdin: lines.join('\n') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: 1 unreadable line, skipped:\n {2}stdin line 3: invalid exchange record half/);
    assert.match(r.stderr, /imported 4 exchanges from stdin \(NDJSON\)/);
    assert.deepEqual(await readSnapshot(dir, r.stdout.trim()), sample);
  });

  void test('a gzip-compressed NDJSON file (a segment) is read too', async () => {
    const { dir, env } = freshStore();
    const id = await seed(dir, 'seg');
    const segment = join(dir, 'snapshots', id, 'exchanges-0001.ndjson.gz');
    const r = await runCli(['snapshot', 'import', segment, '--name', 'from-segment'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readSnapshot(dir, 'from-segment'), sample);
  });

  void test('files that are not HAR or NDJSON: a clear error, and no snapshot left behind', async () => {
    const { dir, env } = freshStore();
    const write = (name: string, text: string) => {
      writeFileSync(join(root, name), text);
      return join(root, name);
    };
    const cases: Array<[string, RegExp]> = [
      [write('empty.har', ''), /is empty\n {2}hint: .*\[TW_IMPORT_FORMAT\]/],
      [write('other.json', '{\n  "name": "not a har"\n}\n'), /is JSON but not HAR.*\n {2}hint: .*\[TW_IMPORT_FORMAT\]/],
      [
        write('broken.har', '{\n  "log": {\n    "entries": [\n'),
        /is not valid JSON.*\n {2}hint: .*\[TW_IMPORT_FORMAT\]/,
      ],
      [
        write('lines.txt', 'hello\nworld\n'),
        /holds no valid exchange\n {2}hint: line 1: not JSON.*\[TW_IMPORT_FORMAT\]/,
      ],
      [
        write('nothing.har', '{"log": {"entries": [{"request": {"url": "/x", "method": "GET"}}]}}'),
        /holds no HTTP exchange/,
      ],
      [join(root, 'missing.har'), /cannot read .*missing\.har: ENOENT[\s\S]*\[TW_FILE_UNREADABLE\]/],
      [root, /it is a directory\n[\s\S]*\[TW_FILE_UNREADABLE\]/],
    ];
    for (const [file, expected] of cases) {
      const r = await runCli(['snapshot', 'import', file], { env });
      assert.equal(r.code, 1, file);
      assert.match(r.stderr, expected, file);
      assert.doesNotMatch(r.stderr, /unexpected error|\n\s+at /, file);
      assert.equal(r.stdout, '');
    }
    assert.equal(existsSync(dir), false, 'no snapshot was created');
  });
});

void describe('tapwire snapshot --help', () => {
  void test('every subcommand explains itself with examples', async () => {
    for (const sub of ['ls', 'show', 'export', 'import']) {
      const r = await runCli(['snapshot', sub, '--help']);
      assert.equal(r.code, 0, sub);
      assert.match(r.stdout, /Examples:/, sub);
      assert.match(r.stdout, new RegExp(`tapwire snapshot ${sub}`), sub);
    }
    const top = await runCli(['snapshot', '--help']);
    assert.match(top.stdout, /ls.*\n(.|\n)*show(.|\n)*export(.|\n)*import/);
  });
});
