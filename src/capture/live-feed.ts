/**
 * The live feed: what `tapwire tail` (through the admin endpoint's /tail) sees while a capture
 * runs. publish() is called from the capture side and must never wait: every subscriber has a
 * bounded buffer, and a subscriber too slow to keep up loses events instead of slowing capture.
 * The first event it receives after a gap says how many it missed.
 */
import type { Exchange } from '../model/exchange.ts';

export type NoticeLevel = 'info' | 'warn';

export type FeedEvent =
  { type: 'exchange'; exchange: Exchange } | { type: 'notice'; level: NoticeLevel; message: string; time: string };

/** An event as a subscriber receives it: `missed` counts events dropped just before this one. */
export type DeliveredEvent = FeedEvent & { missed?: number };

export const DEFAULT_FEED_BUFFER = 1000;

export interface LiveFeedOptions {
  /** Events held per subscriber before new ones are dropped for it (default 1000). */
  bufferSize?: number;
  /** Counts events dropped for slow subscribers (a Prometheus counter child fits). */
  dropCounter?: { inc(n?: number): void };
  /** Tracks the number of subscribers (a Prometheus gauge child fits). */
  subscriberGauge?: { set(n: number): void };
}

export interface SubscribeOptions {
  /** Overrides the feed's default buffer size for this subscriber. */
  bufferSize?: number;
}

/**
 * One subscriber's view of the feed: an async iterator of events that ends when either side
 * closes. Events are buffered (up to the bound) between reads.
 */
export class Subscription implements AsyncIterableIterator<DeliveredEvent> {
  /** Events dropped for this subscriber because its buffer was full. */
  dropped = 0;
  private closedFlag = false;
  /** Ring buffer: `size` events starting at `head`. */
  private readonly ring: (DeliveredEvent | undefined)[];
  private head = 0;
  private size = 0;
  /** Dropped since the last accepted event; told with the next one. */
  private gap = 0;
  private waiter: ((result: IteratorResult<DeliveredEvent>) => void) | undefined;

  constructor(
    readonly capacity: number,
    private readonly onClose: (sub: Subscription) => void,
    private readonly onDrop: () => void,
  ) {
    this.ring = new Array<DeliveredEvent | undefined>(capacity);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Events waiting to be read. */
  get buffered(): number {
    return this.size;
  }

  /** Called by the feed: hands the event over, buffers it, or drops it. Never waits. */
  offer(event: FeedEvent): void {
    if (this.closedFlag) return;
    if (this.size >= this.capacity) {
      this.dropped++;
      this.gap++;
      this.onDrop();
      return;
    }
    // A copy only when there is something to tell: the shared event object stays untouched.
    const delivered: DeliveredEvent = this.gap > 0 ? { ...event, missed: this.gap } : event;
    this.gap = 0;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter({ value: delivered, done: false });
      return;
    }
    this.ring[(this.head + this.size) % this.capacity] = delivered;
    this.size++;
  }

  /** The next event without waiting, or undefined when none is buffered. */
  poll(): DeliveredEvent | undefined {
    if (this.size === 0) return undefined;
    const event = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return event;
  }

  next(): Promise<IteratorResult<DeliveredEvent>> {
    const event = this.poll();
    if (event) return Promise.resolve({ value: event, done: false });
    if (this.closedFlag) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error('Subscription.next() called while a read is pending'));
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Stops receiving; a pending read ends. Buffered events are discarded. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.ring.fill(undefined);
    this.size = 0;
    this.onClose(this);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  /** Ends iteration after the buffered events are read (the feed closed). */
  end(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.onClose(this);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  return(): Promise<IteratorResult<DeliveredEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export class LiveFeed {
  private readonly subscribers = new Set<Subscription>();
  private readonly bufferSize: number;
  private readonly dropCounter: { inc(n?: number): void } | undefined;
  private readonly subscriberGauge: { set(n: number): void } | undefined;
  private closedFlag = false;
  /** Events dropped for slow subscribers since the feed started, all subscribers together. */
  dropped = 0;

  constructor(options: LiveFeedOptions = {}) {
    this.bufferSize = positive(options.bufferSize ?? DEFAULT_FEED_BUFFER, 'bufferSize');
    this.dropCounter = options.dropCounter;
    this.subscriberGauge = options.subscriberGauge;
  }

  /** False when nobody listens: callers may skip building events altogether. */
  get hasSubscribers(): boolean {
    return this.subscribers.size > 0;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Fans the event out to every subscriber. O(subscribers), never waits, never throws. */
  publish(event: FeedEvent): void {
    if (this.subscribers.size === 0) return;
    for (const sub of this.subscribers) sub.offer(event);
  }

  publishExchange(exchange: Exchange): void {
    if (this.subscribers.size === 0) return;
    this.publish({ type: 'exchange', exchange });
  }

  /** A short message for people watching (TLS pinning detected, passthrough for a host…). */
  notice(level: NoticeLevel, message: string, now: Date = new Date()): void {
    if (this.subscribers.size === 0) return;
    this.publish({ type: 'notice', level, message, time: now.toISOString() });
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    const capacity = positive(options.bufferSize ?? this.bufferSize, 'bufferSize');
    const sub = new Subscription(
      capacity,
      (s) => {
        if (this.subscribers.delete(s)) this.subscriberGauge?.set(this.subscribers.size);
      },
      () => {
        this.dropped++;
        this.dropCounter?.inc();
      },
    );
    if (this.closedFlag) {
      sub.end();
      return sub;
    }
    this.subscribers.add(sub);
    this.subscriberGauge?.set(this.subscribers.size);
    return sub;
  }

  /** The capture is over: subscribers read what they have buffered, then their iteration ends. */
  close(): void {
    this.closedFlag = true;
    for (const sub of [...this.subscribers]) sub.end();
  }
}

function positive(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${n}`);
  return n;
}
