/**
 * The live progress line of a long run: one line rewritten in place (sent, rate, p99, errors),
 * at most 4 times a second so that a fast run does not spend its time on the terminal. Only
 * for a terminal; the caller decides, and owns the stream it writes to.
 */
import type { LiveSample } from './runner.ts';
import { ms } from './report-terminal.ts';

export const PROGRESS_INTERVAL_MS = 250;

export function formatProgress(s: LiveSample): string {
  const parts = [
    `${(s.elapsedMs / 1000).toFixed(1)}s`,
    `sent ${s.sent}`,
    `${s.rate.toFixed(1)}/s`,
    `p99 ${ms(s.p99Ms)}`,
    `errors ${s.errors}`,
  ];
  if (s.dropped > 0) parts.push(`dropped ${s.dropped}`);
  return parts.join('  ');
}

/** Starts rewriting the line; the returned function clears it and stops. */
export function startProgress(
  write: (text: string) => void,
  sample: () => LiveSample,
  intervalMs = PROGRESS_INTERVAL_MS,
): () => void {
  // \r and "erase line": the next write replaces this one, and a shorter line leaves no tail.
  const draw = () => write(`\r\x1b[2K${formatProgress(sample())}`);
  const timer = setInterval(draw, Math.max(PROGRESS_INTERVAL_MS, intervalMs));
  timer.unref();
  return () => {
    clearInterval(timer);
    write('\r\x1b[2K');
  };
}
