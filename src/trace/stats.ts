/** Summaries of samples, as benchmarks and reports print them. */
import prettyMs from 'pretty-ms';

/** The p-th percentile (0..100) by nearest rank; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface LatencySummary {
  median: number;
  p99: number;
}

export function summarize(samples: readonly number[]): LatencySummary {
  return { median: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** A duration in nanoseconds: ns below 1 µs, µs below 1 ms, then as pretty-ms writes it. */
export function formatNs(ns: number): string {
  const a = Math.abs(ns);
  if (a < 1000) return `${Math.round(ns)} ns`;
  if (a < 1_000_000) return `${(ns / 1000).toFixed(a < 10_000 ? 2 : 1)} µs`;
  return prettyMs(ns / 1_000_000);
}
