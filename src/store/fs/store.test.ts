import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { httpExchange, tcpExchange } from '../../../test/helpers/exchanges.ts';
import { SnapshotAmbiguousError, SnapshotCorruptError, SnapshotNotFoundError } from '../../errors.ts';
import type { Exchange } from '../../model/exchange.ts';
import type { ReadProblem, SnapshotHandle } from '../types.ts';
import { openStore } from './store.ts';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'tapwire-fs-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function freshStoreDir(): string {
  return join(root, `store-${++n}`);
}

async function readAll(handle: SnapshotHandle): Promise<{ exchanges: Exchange[]; problems: ReadProblem[] }> {
  const problems: ReadProblem[] = [];
  const exchanges: Exchange[] = [];
  for await (const x of handle.exchanges({ onProblem: (p) => problems.push(p) })) exchanges.push(x);
  return { exchanges, problems };
}

function sample(count: number): Exchange[] {
  return Array.from({ length: count }, (_, i) =>
    i % 4 === 3 ? tcpExchange(i) : httpExchange(i, i % 3 === 0 ? { direction: 'inbound', service: 'shop' } : {}),
  );
}

void describe('fs store: writer and reader', () => {
  void test('round trip across several segments, with the final snapshot.json', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'rt', services: ['shop'], source: 'record', segmentExchanges: 3 });
    const meta0 = JSON.parse(readFileSync(join(writer.dir, 'snapshot.json'), 'utf8'));
    assert.equal(meta0.status, 'recording');

    const xs = sample(10);
    await writer.writeBatch(xs.slice(0, 4));
    await writer.writeBatch(xs.slice(4, 5));
    await writer.writeBatch(xs.slice(5));
    const meta = await writer.close({ dropped: 2 });

    assert.equal(meta.status, 'complete');
    assert.deepEqual(meta.segments, [
      'exchanges-0001.ndjson.gz',
      'exchanges-0002.ndjson.gz',
      'exchanges-0003.ndjson.gz',
      'exchanges-0004.ndjson.gz',
    ]);
    assert.deepEqual(
      readdirSync(writer.dir).sort(),
      [...meta.segments, 'snapshot.json'].sort(),
      'no temporary files are left behind',
    );
    const inbound = xs.filter((x) => x.direction === 'inbound').length;
    assert.deepEqual(meta.counts, { exchanges: 10, inbound, outbound: 10 - inbound, dropped: 2 });
    assert.deepEqual(meta.services, ['api.example.com', 'db', 'shop']);
    assert.deepEqual(meta.timeRange, { first: xs[0]?.ts, last: xs[9]?.ts });
    assert.equal(meta.source, 'record');

    const handle = await store.open(writer.id);
    assert.deepEqual(handle.meta, meta);
    const { exchanges, problems } = await readAll(handle);
    assert.deepEqual(problems, []);
    assert.deepEqual(exchanges, xs);
  });

  void test('close is idempotent and a write after close is refused', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'closed' });
    await writer.writeBatch(sample(2));
    const a = await writer.close();
    const b = await writer.close();
    assert.deepEqual(a, b);
    await assert.rejects(writer.writeBatch(sample(1)), /closed/);
  });

  void test('a full disk costs the segment it hit, not the snapshot: later batches and the close still work', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'full-disk', segmentExchanges: 100 });
    // The first segment's file is the kernel's full device: every write to it fails with ENOSPC.
    symlinkSync('/dev/full', join(writer.dir, 'exchanges-0001.ndjson.gz'));
    const lostOnes = sample(3);
    await writer.writeBatch(lostOnes); // gzip holds it: the disk has not been asked yet
    await assert.rejects(writer.flush(), /ENOSPC/);
    const kept = sample(4);
    await writer.writeBatch(kept);
    const meta = await writer.close({ dropped: 1 });
    assert.equal(meta.status, 'complete');
    assert.deepEqual(meta.segments, ['exchanges-0002.ndjson.gz'], 'the failed segment is gone from the list');
    assert.equal(meta.counts.exchanges, 4);
    assert.equal(meta.counts.inbound + meta.counts.outbound, 4);
    assert.equal(meta.counts.dropped, 1 + lostOnes.length, 'what the failed segment held is counted as dropped');
    assert.ok(!existsSync(join(writer.dir, 'exchanges-0001.ndjson.gz')), 'and its file is removed');
    const { exchanges, problems } = await readAll(await store.open(writer.id));
    assert.deepEqual(problems, []);
    assert.deepEqual(exchanges, kept);
  });

  void test('a batch that meets the failure is rejected; the next batch opens a new segment', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'full-disk-2', segmentExchanges: 100 });
    symlinkSync('/dev/full', join(writer.dir, 'exchanges-0001.ndjson.gz'));
    // Incompressible bodies: gzip has to write to the file during the batch itself.
    const big = (i: number) => {
      const x = httpExchange(i);
      if (x.response?.body) x.response.body.data = randomBytes(96 * 1024).toString('base64');
      return x;
    };
    let accepted = 0;
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 8; i++) {
          await writer.writeBatch([big(i)]);
          accepted++;
        }
      })(),
      /ENOSPC/,
    );
    assert.ok(accepted < 8);
    const after = sample(2);
    await writer.writeBatch(after);
    const meta = await writer.close();
    assert.equal(meta.counts.exchanges, 2);
    assert.deepEqual(meta.segments, ['exchanges-0002.ndjson.gz']);
    // Accepted batches went down with their segment; the rejected one is its caller's to count.
    assert.equal(meta.counts.dropped, accepted);
    const { exchanges } = await readAll(await store.open(writer.id));
    assert.deepEqual(exchanges, after);
  });

  void test('an empty snapshot closes with no segment and reads as empty', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'empty' });
    const meta = await writer.close();
    assert.deepEqual(meta.segments, []);
    assert.equal(meta.timeRange, undefined);
    assert.deepEqual(await readAll(await store.open('empty')), { exchanges: [], problems: [] });
  });

  void test('a flushed but never closed segment reads back, and a cut inside it is reported as torn', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'crashy' });
    const xs = sample(12);
    await writer.writeBatch(xs.slice(0, 5));
    await writer.flush();

    // Another reader, while the writer still holds the gzip stream open.
    let read = await readAll(await store.open('crashy'));
    assert.equal(read.problems.length, 0);
    assert.deepEqual(read.exchanges, xs.slice(0, 5));
    const flushedMeta = (await store.open('crashy')).meta;
    assert.equal(flushedMeta.status, 'recording');
    assert.equal(flushedMeta.counts.exchanges, 5);
    assert.deepEqual(flushedMeta.segments, ['exchanges-0001.ndjson.gz']);

    const segment = join(writer.dir, 'exchanges-0001.ndjson.gz');
    const sizeA = statSync(segment).size;
    await writer.writeBatch(xs.slice(5));
    await writer.flush();
    const sizeB = statSync(segment).size;
    assert.ok(sizeB > sizeA);
    // As if the process died while the second flush was reaching the disk.
    truncateSync(segment, sizeA + Math.floor((sizeB - sizeA) / 2));

    read = await readAll(await store.open('crashy'));
    assert.deepEqual(
      read.exchanges,
      xs.slice(0, read.exchanges.length),
      'what is read is a prefix of what was written',
    );
    assert.ok(read.exchanges.length >= 5 && read.exchanges.length < 12, `read ${read.exchanges.length}`);
    assert.equal(read.problems.length, 1);
    assert.equal(read.problems[0]?.kind, 'torn');
    assert.equal(read.problems[0]?.line, read.exchanges.length + 1);
    assert.equal(read.problems[0]?.segment, 'exchanges-0001.ndjson.gz');
    await writer.close().catch(() => undefined);
  });

  void test('a finished segment cut by a few bytes still yields its complete lines', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'cut', segmentExchanges: 20 });
    const xs = sample(30);
    await writer.writeBatch(xs);
    await writer.close();
    const last = join(writer.dir, 'exchanges-0002.ndjson.gz');
    truncateSync(last, statSync(last).size - 16);

    const { exchanges, problems } = await readAll(await store.open(writer.id));
    assert.deepEqual(exchanges, xs.slice(0, exchanges.length));
    assert.ok(exchanges.length >= 26 && exchanges.length < 30, `read ${exchanges.length}`);
    assert.equal(problems.length, 1);
    assert.deepEqual(
      { kind: problems[0]?.kind, segment: problems[0]?.segment, line: problems[0]?.line },
      { kind: 'torn', segment: 'exchanges-0002.ndjson.gz', line: exchanges.length - 20 + 1 },
    );
  });

  void test('invalid lines in the middle are reported with their line numbers and skipped', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'invalid' });
    await writer.close();
    const xs = sample(3);
    const lines = [
      JSON.stringify(xs[0]),
      '{"v":1,"id":"broken"',
      JSON.stringify({ ...xs[1], durationMs: -5 }),
      '',
      JSON.stringify(xs[2]),
    ];
    writeFileSync(join(writer.dir, 'exchanges-0001.ndjson.gz'), gzipSync(lines.join('\n') + '\n'));

    const { exchanges, problems } = await readAll(await store.open(writer.id));
    assert.deepEqual(exchanges, [xs[0], xs[2]]);
    assert.deepEqual(
      problems.map((p) => [p.kind, p.line]),
      [
        ['invalid', 2],
        ['invalid', 3],
      ],
    );
    assert.match(problems[1]?.message ?? '', /durationMs/);
  });

  void test('damaged gzip data is reported, not thrown', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'garbage' });
    await writer.close();
    const xs = sample(4);
    const good = gzipSync(xs.map((x) => JSON.stringify(x) + '\n').join(''));
    // A second gzip member whose first deflate block has the reserved block type 11.
    const bad = gzipSync(JSON.stringify(httpExchange(9)) + '\n');
    bad[10] = (bad[10] ?? 0) | 0b110;
    writeFileSync(join(writer.dir, 'exchanges-0001.ndjson.gz'), Buffer.concat([good, bad]));
    const { exchanges, problems } = await readAll(await store.open(writer.id));
    // zlib drops the output of the input chunk in which it meets the damage, so fewer may come back.
    assert.deepEqual(exchanges, xs.slice(0, exchanges.length));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.kind, 'torn');
    assert.match(problems[0]?.message ?? '', /damaged \(invalid block type\): nothing after line/);
  });

  void test('a listed segment that is missing is a corrupt snapshot', async () => {
    const store = openStore(freshStoreDir());
    const writer = await store.create({ name: 'missing' });
    await writer.writeBatch(sample(2));
    await writer.close();
    rmSync(join(writer.dir, 'exchanges-0001.ndjson.gz'));
    await assert.rejects(readAll(await store.open('missing')), SnapshotCorruptError);
  });
});

void describe('fs store: finding snapshots', () => {
  void test('by id, id prefix, name, directory path and snapshot.json path', async () => {
    const dir = freshStoreDir();
    const store = openStore(dir);
    const w = await store.create({ name: 'orders' });
    await w.close();
    const other = await store.create({ name: 'payments' });
    await other.close();

    assert.equal((await store.open(w.id)).meta.id, w.id);
    assert.equal((await store.open(w.id.slice(0, 26).toLowerCase())).meta.id, w.id);
    assert.equal((await store.open('orders')).meta.id, w.id);
    assert.equal((await store.open(w.dir)).meta.id, w.id);
    assert.equal((await store.open(join(w.dir, 'snapshot.json'))).meta.id, w.id);
    // Relative paths resolve against the store's cwd option.
    const cwdStore = openStore(dir, { cwd: root });
    assert.equal((await cwdStore.open('./' + relative(root, w.dir))).meta.id, w.id);
  });

  void test('an ambiguous name or prefix and an unknown ref are errors', async () => {
    const store = openStore(freshStoreDir());
    const a = await store.create({ name: 'twin' });
    await a.close();
    const b = await store.create({ name: 'twin' });
    await b.close();
    await assert.rejects(store.open('twin'), (err: unknown) => {
      assert.ok(err instanceof SnapshotAmbiguousError);
      assert.match(err.message, new RegExp(a.id));
      assert.match(err.message, new RegExp(b.id));
      return true;
    });
    // Both ids start with the same time digits.
    await assert.rejects(store.open(a.id.slice(0, 6)), SnapshotAmbiguousError);
    await assert.rejects(store.open('nope'), SnapshotNotFoundError);
    await assert.rejects(
      store.open(a.id.slice(0, 5)),
      SnapshotNotFoundError,
      'prefixes under 6 characters do not match',
    );
    await assert.rejects(store.open('./no/such/dir'), SnapshotNotFoundError);
  });

  void test('reading never creates the store directory', async () => {
    const dir = freshStoreDir();
    const store = openStore(dir);
    assert.deepEqual(await store.list(), []);
    await assert.rejects(store.open('anything'), SnapshotNotFoundError);
    assert.equal(existsSync(dir), false);
    const w = await store.create();
    await w.close();
    assert.equal(existsSync(dir), true);
  });

  void test('list is newest first and passes over a damaged snapshot.json, which open reports', async () => {
    const dir = freshStoreDir();
    const store = openStore(dir);
    const first = await store.create({ name: 'first' });
    await first.close();
    // No wait needed: within one millisecond ids still increase, and ties on `created` go by id.
    const second = await store.create({ name: 'second' });
    await second.close();
    const bad = join(dir, 'snapshots', 'BROKEN');
    mkdirSync(bad);
    writeFileSync(join(bad, 'snapshot.json'), '{"formatVersion": 1, "id": ');
    mkdirSync(join(dir, 'snapshots', 'not-a-snapshot'));

    assert.deepEqual(
      (await store.list()).map((m) => m.name),
      ['second', 'first'],
    );
    await assert.rejects(store.open('BROKEN'), (err: unknown) => {
      assert.ok(err instanceof SnapshotCorruptError);
      assert.match(err.message, /BROKEN[\\/]snapshot\.json/);
      return true;
    });
  });

  void test('a snapshot.json from a newer tapwire says to upgrade', async () => {
    const dir = freshStoreDir();
    const snap = join(dir, 'snapshots', 'FUTURE');
    mkdirSync(snap, { recursive: true });
    writeFileSync(join(snap, 'snapshot.json'), JSON.stringify({ formatVersion: 99, id: 'FUTURE' }));
    await assert.rejects(openStore(dir).open('FUTURE'), (err: unknown) => {
      assert.ok(err instanceof SnapshotCorruptError);
      assert.match(err.describe(), /version 99[\s\S]*upgrade tapwire/);
      return true;
    });
  });
});
