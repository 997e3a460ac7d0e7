/*
 * cow-stale-writable: the race happens by itself in the scenario's programs, no noise needed:
 * without dup_mmap's flush every CPU of the parent that stored into the range before the fork
 * keeps its writable entries, and its next store after fork returned goes through one (the forking
 * CPU's own included). With the buggy switch on top of fixed the harness shows it in the first
 * trial (measured, 3 CPUs on 2 cores, seeds 1-8: trial 1 each time); the 40 trials of 40 forks
 * each that the fixed kernel must stay clean over are far above that.
 */
import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { SCENARIO_BASE } from '../../src/scenario/catalog/lib.ts';
import { PromiseKind } from '../../src/check/promises.ts';
import scenario from '../../src/scenario/catalog/cow-stale-writable.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 3 });

describe('cow-stale-writable: a store after fork returned through a writable entry fork write-protected', () => {
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 5, trials: 40, noiseShift: NOISE_LEVELS.off }, {
    // fork's flush reached the other threads of the parent
    exercised: (r) => expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0),
    // a store in the parent's range, against fork's promise
    report: (v) => {
      expect(v.va >= SCENARIO_BASE && v.va < SCENARIO_BASE + 8 * PAGE_SIZE).toBe(true);
      expect(v.details[0]).toBe(PromiseKind.ForkWriteProtected);
      expect(v.details[3]).toBe(1);
    },
  }));
});
