/**
 * How long the mock waits before answering a matched request: `none` (at once, the default),
 * `recorded` (as long as the real dependency took), or `Nx` (the recorded time times N: `2x`
 * is a dependency twice as slow, `0.5x` twice as fast).
 */
import type { Exchange } from '../model/exchange.ts';

export type LatencyMode = { kind: 'none' } | { kind: 'scaled'; factor: number };

const SCALE = /^(\d+(?:\.\d+)?|\.\d+)x$/;

/** Parses `none`, `recorded` or `Nx`; undefined when the text is none of them. */
export function parseLatency(text: string): LatencyMode | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'none') return { kind: 'none' };
  if (t === 'recorded') return { kind: 'scaled', factor: 1 };
  const m = SCALE.exec(t);
  if (!m) return undefined;
  const factor = Number(m[1]);
  return Number.isFinite(factor) ? { kind: 'scaled', factor } : undefined;
}

export function describeLatency(mode: LatencyMode): string {
  if (mode.kind === 'none') return 'none';
  return mode.factor === 1 ? 'recorded' : `${mode.factor}x`;
}

/**
 * Milliseconds to wait before the response. The whole recorded duration is what the app saw
 * (head and body); when only the time to first byte is known it stands in.
 */
export function latencyFor(mode: LatencyMode, exchange: Exchange): number {
  if (mode.kind === 'none') return 0;
  const recorded = exchange.durationMs > 0 ? exchange.durationMs : (exchange.timings?.ttfbMs ?? 0);
  return Math.max(0, recorded * mode.factor);
}
