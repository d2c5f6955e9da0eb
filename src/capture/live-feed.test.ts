import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveFeed, type DeliveredEvent, type FeedEvent } from './live-feed.ts';

const notice = (n: number): FeedEvent => ({
  type: 'notice',
  level: 'info',
  message: `n${n}`,
  time: '2025-01-01T00:00:00.000Z',
});
const messageOf = (e: DeliveredEvent | undefined) => (e?.type === 'notice' ? e.message : undefined);

test('with no subscribers publish does nothing and hasSubscribers is false', () => {
  let drops = 0;
  const feed = new LiveFeed({ dropCounter: { inc: () => drops++ } });
  assert.equal(feed.hasSubscribers, false);
  for (let i = 0; i < 5000; i++) feed.publish(notice(i));
  feed.notice('warn', 'nobody hears this');
  assert.equal(drops, 0);
  assert.equal(feed.dropped, 0);
});

test('every subscriber receives every event, in order', async () => {
  const feed = new LiveFeed();
  const a = feed.subscribe();
  const b = feed.subscribe();
  feed.publish(notice(1));
  feed.publish(notice(2));
  for (const sub of [a, b]) {
    assert.equal(messageOf((await sub.next()).value), 'n1');
    assert.equal(messageOf((await sub.next()).value), 'n2');
  }
});

test('a pending read is woken by the next publish', async () => {
  const feed = new LiveFeed();
  const sub = feed.subscribe();
  const pending = sub.next();
  feed.notice('warn', 'TLS pinning detected, passthrough for host api.example.com', new Date('2025-05-01T10:00:00Z'));
  const { value } = await pending;
  assert.deepEqual(value, {
    type: 'notice',
    level: 'warn',
    message: 'TLS pinning detected, passthrough for host api.example.com',
    time: '2025-05-01T10:00:00.000Z',
  });
});

test('a slow subscriber loses events past its bound, counted, and is told with the next one', async () => {
  let drops = 0;
  const feed = new LiveFeed({ bufferSize: 3, dropCounter: { inc: (n = 1) => (drops += n) } });
  const slow = feed.subscribe();
  const fast = feed.subscribe({ bufferSize: 100 });
  for (let i = 1; i <= 8; i++) feed.publish(notice(i));

  assert.equal(slow.buffered, 3);
  assert.equal(slow.dropped, 5);
  assert.equal(feed.dropped, 5);
  assert.equal(drops, 5);
  assert.equal(fast.dropped, 0);
  assert.equal(fast.buffered, 8);

  // The three kept events come out without a gap note (nothing was lost before them)...
  for (const n of [1, 2, 3]) {
    const e = slow.poll();
    assert.equal(messageOf(e), `n${n}`);
    assert.equal(e?.missed, undefined);
  }
  // ...and the first event accepted after the gap carries its size.
  feed.publish(notice(9));
  feed.publish(notice(10));
  const after = slow.poll();
  assert.equal(messageOf(after), 'n9');
  assert.equal(after?.missed, 5);
  assert.equal(slow.poll()?.missed, undefined, 'told once');

  // The shared event object given to other subscribers is never modified.
  const events: DeliveredEvent[] = [];
  for (let e = fast.poll(); e; e = fast.poll()) events.push(e);
  assert.equal(events.length, 10);
  assert.ok(events.every((e) => e.missed === undefined));
});

test('the ring buffer keeps order across many wrap-arounds', () => {
  const feed = new LiveFeed({ bufferSize: 4 });
  const sub = feed.subscribe();
  let next = 0;
  for (let i = 0; i < 1000; i++) {
    feed.publish(notice(i));
    if (i % 3 === 2) {
      // Read two out of every three: the buffer fills, drops, and wraps.
      for (let k = 0; k < 2; k++) {
        const e = sub.poll();
        const n = Number(messageOf(e)?.slice(1));
        assert.ok(n >= next, `in order: ${n} after ${next}`);
        next = n + 1;
      }
    }
  }
  assert.ok(sub.dropped > 0);
  assert.ok(sub.buffered <= 4);
});

test('close() stops delivery, ends a pending read and unsubscribes', async () => {
  const counts: number[] = [];
  const feed = new LiveFeed({ subscriberGauge: { set: (n) => counts.push(n) } });
  const sub = feed.subscribe();
  const pending = sub.next();
  sub.close();
  assert.deepEqual(await pending, { value: undefined, done: true });
  assert.equal(feed.hasSubscribers, false);
  feed.publish(notice(1));
  assert.equal(sub.buffered, 0);
  assert.deepEqual(counts, [1, 0]);
});

test('feed.close() lets subscribers read what they hold, then ends their iteration', async () => {
  const feed = new LiveFeed();
  const sub = feed.subscribe();
  feed.publish(notice(1));
  feed.publish(notice(2));
  feed.close();
  const seen: string[] = [];
  for await (const e of sub) seen.push(messageOf(e) ?? '?');
  assert.deepEqual(seen, ['n1', 'n2']);
  const late = feed.subscribe();
  assert.deepEqual(await late.next(), { value: undefined, done: true });
  assert.equal(feed.hasSubscribers, false);
});

test('breaking out of for-await unsubscribes', async () => {
  const feed = new LiveFeed();
  const sub = feed.subscribe();
  feed.publish(notice(1));
  for await (const _ of sub) break;
  assert.equal(feed.hasSubscribers, false);
  assert.equal(sub.closed, true);
});

test('bad buffer sizes are refused', () => {
  assert.throws(() => new LiveFeed({ bufferSize: 0 }), RangeError);
  assert.throws(() => new LiveFeed().subscribe({ bufferSize: 1.5 }), RangeError);
});
