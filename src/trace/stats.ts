/** Summaries of samples, as benchmarks and reports print them. */

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
