/* Time to race, shared by bench/time-to-race and bench/soak: a buggy preset's first violation over several seeds, free or under a controlled schedule. */
import { Machine } from '../src/machine/machine.ts';
import type { CatalogEntry } from '../src/scenario/catalog/index.ts';
import { runTrials } from '../src/campaign/trials.ts';
import { NOISE_LEVELS, type NoiseLevel } from '../src/campaign/noise.ts';
import { percentile } from './report.ts';
import { FREE, type ScheduleMode } from '../src/schedule/control.ts';

export interface RaceTiming {
  noise: NoiseLevel;
  /** seeds that found the forbidden outcome within the cap */
  found: number;
  /** per seed: time and trials to the first violation, Infinity when none within the cap */
  ms: number[];
  trials: number[];
  medianMs: number;
  medianTrials: number;
  trialsPerSec: number;
}

/** Runs the buggy preset of `entry` once per seed until its first violation or `capMs`. */
export async function raceTiming(machine: Machine, { url, scenario }: CatalogEntry, seeds: number[], capMs: number, schedule: ScheduleMode = FREE): Promise<RaceTiming> {
  const noise = scenario.noise ?? 'low';
  const ms: number[] = [];
  const trials: number[] = [];
  let totalTrials = 0;
  let totalMs = 0;
  for (const seed of seeds) {
    const r = await runTrials(machine, { url, scenario, preset: 'buggy', seed, durationMs: capMs, noiseShift: NOISE_LEVELS[noise], stopOnFirst: true, schedule });
    totalTrials += r.trials;
    totalMs += r.elapsedMs;
    // a seed that found nothing within the cap counts as never: the median is over all seeds
    ms.push(r.firstViolation ? r.firstViolation.elapsedMs : Infinity);
    trials.push(r.firstViolation ? r.firstViolation.trial : Infinity);
  }
  const found = ms.filter(Number.isFinite).length;
  return { noise, found, ms, trials, medianMs: percentile(ms, 50), medianTrials: percentile(trials, 50), trialsPerSec: (totalTrials * 1000) / totalMs };
}

/** The machine of `cpus` CPUs from `machines`, booted on first use (close them all at the end). */
export async function machineFor(machines: Map<number, Machine>, cpus: number): Promise<Machine> {
  let machine = machines.get(cpus);
  if (!machine) machines.set(cpus, (machine = await Machine.boot({ cpus })));
  return machine;
}
