/*
 * A progress line for long runs, on a terminal only: the control plane polls a shared counter
 * the CPUs bump (G_PROGRESS), so reporting costs the CPUs nothing.
 */
import prettyMs from 'pretty-ms';
import type { MachineViews } from '../machine/memory.ts';
import { G_PROGRESS } from '../machine/globals-layout.ts';

export function startProgress(v: MachineViews, total: number, label: string, stream: NodeJS.WriteStream = process.stderr): () => void {
  if (!stream.isTTY) return () => {};
  const t0 = performance.now();
  const timer = setInterval(() => {
    const done = Atomics.load(v.globals, G_PROGRESS);
    const elapsed = performance.now() - t0;
    const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
    const left = Number.isFinite(eta) ? `, ${prettyMs(eta, { compact: true })} left` : '';
    stream.write(`\r${label}: ${done}/${total}, ${prettyMs(elapsed, { compact: true })} elapsed${left}   `);
  }, 250);
  return () => {
    clearInterval(timer);
    stream.write('\r\x1b[K');
  };
}

/** Called on a CPU: one more unit of work done. */
export function progressTick(v: MachineViews): void {
  Atomics.add(v.globals, G_PROGRESS, 1);
}
