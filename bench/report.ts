/* What every benchmark reports: nearest-rank percentiles (as mitata does) and the host it ran on. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/** The q-th percentile (0..100) of `samples` by nearest rank. */
export function percentile(samples: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))];
}

export interface HostInfo {
  date: string;
  node: string;
  cores: number;
  cpu: string;
}

export function hostInfo(): HostInfo {
  return { date: new Date().toISOString(), node: process.version, cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown' };
}

export function formatHost(h: HostInfo): string {
  return `${h.date}  node ${h.node}  ${h.cores} cores (${h.cpu})`;
}

const USER_HZ = 100;

/** CPU time every core of the host has spent busy, in ms, from /proc/stat; null off Linux. */
function hostBusyMs(): number | null {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
    return ((user + nice + system + irq + softirq + steal) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/**
 * Starts watching the host: the returned function tells how many cores, on average since the
 * start, other processes kept busy (host busy time minus this process's, all threads). A figure
 * near the core count means the benchmark's threads had to share the cores. null off Linux.
 */
export function watchOtherLoad(): () => number | null {
  const busy0 = hostBusyMs();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const busy = hostBusyMs();
    if (busy === null || busy0 === null) return null;
    const own = process.cpuUsage(own0);
    return Math.max(0, busy - busy0 - (own.user + own.system) / 1000) / (performance.now() - t0);
  };
}

/** Writes bench/results/<name>.json (git-ignored) and returns its path. */
export function writeResults(name: string, results: unknown): string {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  return file.pathname;
}
