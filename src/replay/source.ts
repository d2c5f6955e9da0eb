/**
 * Where requests come from: passes over the snapshot's replayable exchanges, each pass in
 * recorded order. The snapshot is streamed; a snapshot small enough is kept in memory after the
 * first pass, so that loops and virtual users do not read and decompress it again and again.
 */
import type { Exchange } from '../model/exchange.ts';
import type { ReadProblem, SnapshotHandle } from '../store/types.ts';
import { prepareRequest, type PreparedRequest } from './prepare.ts';
import { skipReason, targetFor, type SkipReason, type Targets } from './select.ts';

export interface RequestSource {
  /** A new pass over the requests, in recorded order. */
  pass(): AsyncIterable<PreparedRequest>;
  /** Exchanges left out (counted on the first pass). */
  readonly skipped: Readonly<Record<SkipReason, number>>;
  /** Requests sent with a shorter body than recorded (the capture cap cut them). */
  readonly truncatedBodies: number;
}

/** Requests kept in memory for later passes (beyond it every pass streams the snapshot). */
export const DEFAULT_CACHE_LIMIT = 20_000;

export function snapshotSource(
  handle: SnapshotHandle,
  targets: Targets,
  options: { onProblem?: (p: ReadProblem) => void; cacheLimit?: number } = {},
): RequestSource {
  return new FilteredSource(
    () => handle.exchanges(options.onProblem ? { onProblem: options.onProblem } : {}),
    targets,
    options.cacheLimit ?? DEFAULT_CACHE_LIMIT,
  );
}

/** Exchanges already in memory (tests, imports). */
export function exchangeSource(exchanges: Iterable<Exchange>, targets: Targets): RequestSource {
  const list = [...exchanges];
  return new FilteredSource(
    async function* () {
      yield* list;
    },
    targets,
    Infinity,
  );
}

class FilteredSource implements RequestSource {
  readonly skipped: Record<SkipReason, number> = { outbound: 0, protocol: 0, 'no-target': 0 };
  truncatedBodies = 0;
  private cache: PreparedRequest[] | undefined;
  private passes = 0;

  constructor(
    private readonly read: () => AsyncIterable<Exchange>,
    private readonly targets: Targets,
    private readonly cacheLimit: number,
  ) {}

  pass(): AsyncIterable<PreparedRequest> {
    const first = this.passes++ === 0;
    if (this.cache) return fromArray(this.cache);
    return this.stream(first);
  }

  private async *stream(first: boolean): AsyncIterable<PreparedRequest> {
    let kept: PreparedRequest[] | undefined = first ? [] : undefined;
    for await (const x of this.read()) {
      const reason = skipReason(x, this.targets);
      if (reason !== undefined) {
        if (first) this.skipped[reason]++;
        continue;
      }
      if (x.protocol !== 'http') continue;
      const req = prepareRequest(x, targetFor(x, this.targets) as URL);
      if (first && req.bodyTruncated) this.truncatedBodies++;
      if (kept) {
        if (kept.length < this.cacheLimit) kept.push(req);
        else kept = undefined;
      }
      yield req;
    }
    // Only a complete first pass may serve the next ones.
    if (kept) this.cache = kept;
  }
}

async function* fromArray(list: readonly PreparedRequest[]): AsyncIterable<PreparedRequest> {
  yield* list;
}
