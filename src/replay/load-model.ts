/**
 * The load models and their schedules, as pure functions of time so that they can be tested
 * without a clock:
 * - recorded: each request at its recorded offset from the first, divided by the speed;
 * - rate: the open model, requests at a fixed rate (or a linear ramp over the duration) on a
 *   schedule that does not wait for responses;
 * - vus: the closed model, N virtual users each sending its next request when the previous
 *   one is answered.
 */
import { UsageError } from '../errors.ts';

export type LoadModel =
  { kind: 'recorded'; speed: number } | { kind: 'rate'; from: number; to: number } | { kind: 'vus'; vus: number };

/** `2x`, `0.5x`, `2` → 2. */
export function parseSpeed(value: string): number {
  const m = /^(\d+(?:\.\d+)?)x?$/i.exec(value.trim());
  const n = Number(m?.[1]);
  if (!m || !(n > 0)) throw new UsageError(`--speed must be a factor like 1x, 2x or 0.5x; got "${value}"`);
  return n;
}

/** `100` (req/s) or `10:100` (a ramp from 10 to 100 req/s over --duration). */
export function parseRate(value: string): { from: number; to: number } {
  const m = /^(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/.exec(value.trim());
  const from = Number(m?.[1]);
  const to = m?.[2] === undefined ? from : Number(m[2]);
  if (!m || !(to > 0) || from < 0) {
    throw new UsageError(`--rate must be requests per second like 100, or a ramp like 10:100; got "${value}"`);
  }
  return { from, to };
}

/** `500ms`, `30s`, `2m`, `1h`, `1m30s`; a bare number is seconds. */
export function parseDuration(value: string, flag = '--duration'): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) throw new UsageError(`${flag} must be a duration like 30s, 2m or 1m30s; got "${value}"`);
    total += Number(m[1]) * (unit[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  if (!(total > 0)) throw new UsageError(`${flag} must be longer than zero; got "${value}"`);
  return total;
}

/**
 * When (ms after the start) the k-th request (from 0) of an open-model run is due. A ramp
 * grows the rate linearly from `from` to `to` over `durationMs`: the k-th request is due when
 * the area under the rate curve reaches k.
 */
export function rateOffsetMs(k: number, rate: { from: number; to: number }, durationMs?: number): number {
  const { from, to } = rate;
  if (from === to || durationMs === undefined) return (k / to) * 1000;
  const seconds = durationMs / 1000;
  const a = (to - from) / seconds; // req/s²
  const rampCount = from * seconds + (a * seconds * seconds) / 2;
  if (k >= rampCount) return (seconds + (k - rampCount) / to) * 1000;
  // from·t + a·t²/2 = k
  return ((-from + Math.sqrt(from * from + 2 * a * k)) / a) * 1000;
}

/** Describes a model for banners and reports. */
export function describeModel(model: LoadModel): string {
  switch (model.kind) {
    case 'recorded':
      return `recorded timing × ${model.speed}`;
    case 'rate':
      return model.from === model.to
        ? `open model, ${model.to} req/s`
        : `open model, ramp ${model.from} → ${model.to} req/s`;
    case 'vus':
      return `closed model, ${model.vus} virtual user${model.vus === 1 ? '' : 's'}`;
  }
}
