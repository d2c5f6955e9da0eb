/**
 * The two ways requests leave: on a schedule (open model and recorded timing) or one after the
 * other per virtual user (closed model).
 *
 * On a schedule, every request has an intended send time fixed in advance, and its latency is
 * measured from that time, not from when it actually left: a stalled server delays the
 * requests queued behind the stall, and that delay shows in their latency instead of vanishing
 * (coordinated omission, as wrk2 and k6 avoid it). In-flight requests are bounded; a request
 * due while the bound is reached is dropped and counted.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { rateOffsetMs, type LoadModel } from './load-model.ts';
import type { PreparedRequest } from './prepare.ts';
import type { RequestSource } from './source.ts';
import type { ClientSet } from './client.ts';
import type { ReplayResult } from './types.ts';
import { classify } from './transport.ts';

export interface Limits {
  durationMs?: number | undefined;
  /** Passes over the snapshot (per virtual user in the closed model); unbounded with a duration. */
  loops?: number | undefined;
}

export interface SchedulerHooks {
  /** Every completed request (a response or a transport error). */
  onResult(result: ReplayResult): void;
  onDrop(req: PreparedRequest, at: number): void;
  /** Requests handed to a client (for progress). */
  onSent(): void;
  /** Stops scheduling and aborts the requests in flight (they are not reported). */
  signal: AbortSignal;
}

/** Requests dispatched back to back (behind schedule) before the event loop gets a turn. */
const BURST = 64;

/** Sends one request; never rejects. Undefined when the run was stopped while it was in flight. */
export async function sendOne(
  clients: ClientSet,
  req: PreparedRequest,
  intendedAt: number,
  signal: AbortSignal,
): Promise<ReplayResult | undefined> {
  const sentAt = performance.now();
  const base = { recorded: req.recorded, endpoint: req.endpoint, intendedAt, sentAt };
  try {
    const response = await clients.send(req, signal);
    return { ...base, latencyMs: performance.now() - intendedAt, response };
  } catch (err) {
    if (signal.aborted) return undefined;
    const e = classify(err);
    return { ...base, latencyMs: performance.now() - intendedAt, error: { kind: e.kind, message: e.message } };
  }
}

/** Recorded timing or the open model. Resolves when every sent request has completed. */
export async function runScheduled(
  model: Extract<LoadModel, { kind: 'recorded' | 'rate' }>,
  source: RequestSource,
  clients: ClientSet,
  limits: Limits,
  maxInFlight: number,
  hooks: SchedulerHooks,
  start: number,
): Promise<{ inFlightAtStop: number }> {
  const { signal } = hooks;
  const inFlight = new Set<Promise<void>>();
  const loops = limits.loops ?? (limits.durationMs === undefined ? 1 : Infinity);
  const end = limits.durationMs === undefined ? Infinity : start + limits.durationMs;
  let k = 0;
  let passBase = 0; // recorded timing: where this pass starts on the schedule (ms after start)
  let lastOffset = 0;
  let burst = 0;
  let stop = signal.aborted;
  const onAbort = () => (stop = true);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (let loop = 0; loop < loops && !stop; loop++) {
      let firstTs: number | undefined;
      let any = false;
      for await (const req of source.pass()) {
        if (stop) break;
        any = true;
        let offset: number;
        if (model.kind === 'rate') offset = rateOffsetMs(k, model, limits.durationMs);
        else {
          const ts = Date.parse(req.recorded.ts);
          firstTs ??= ts;
          // Recorded order is kept even where start times interleave (a slow request written first).
          offset = Math.max(lastOffset, passBase + Math.max(0, ts - firstTs) / model.speed);
        }
        lastOffset = offset;
        const intendedAt = start + offset;
        if (intendedAt >= end) {
          stop = true;
          break;
        }
        const wait = intendedAt - performance.now();
        if (wait >= 1) {
          burst = 0;
          await sleep(wait, signal);
          if (stop) break;
        } else if (++burst >= BURST) {
          // Behind schedule: keep sending, but let responses be read.
          burst = 0;
          await yieldToLoop();
          if (stop) break;
        }
        k++;
        if (inFlight.size >= maxInFlight) {
          hooks.onDrop(req, intendedAt);
          continue;
        }
        hooks.onSent();
        const p: Promise<void> = sendOne(clients, req, intendedAt, signal).then((result) => {
          inFlight.delete(p);
          if (result) hooks.onResult(result);
        });
        inFlight.add(p);
      }
      if (!any) break; // nothing replayable: looping would spin
      passBase = lastOffset;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const inFlightAtStop = signal.aborted ? inFlight.size : 0;
  await Promise.all(inFlight);
  return { inFlightAtStop };
}

/** The closed model: each virtual user walks the snapshot in order on its own connections. */
export async function runVirtualUsers(
  vus: number,
  source: RequestSource,
  clientsFor: (vu: number) => ClientSet,
  limits: Limits,
  hooks: SchedulerHooks,
  start: number,
): Promise<{ inFlightAtStop: number }> {
  const { signal } = hooks;
  const loops = limits.loops ?? (limits.durationMs === undefined ? 1 : Infinity);
  const end = limits.durationMs === undefined ? Infinity : start + limits.durationMs;
  let inFlightAtStop = 0;
  const user = async (vu: number) => {
    const clients = clientsFor(vu);
    try {
      for (let loop = 0; loop < loops; loop++) {
        let any = false;
        for await (const req of source.pass()) {
          if (signal.aborted || performance.now() >= end) return;
          any = true;
          hooks.onSent();
          // Closed model: a user sends when the previous answer is in, so intended = actual.
          const result = await sendOne(clients, req, performance.now(), signal);
          if (result) hooks.onResult(result);
          else inFlightAtStop++;
        }
        if (!any) return;
      }
    } finally {
      await clients.close();
    }
  };
  await Promise.all(Array.from({ length: vus }, (_, vu) => user(vu)));
  return { inFlightAtStop };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
