/*
 * migrate-flush-pending: the race happens by itself in the scenario's programs. With the buggy
 * switch on top of fixed the harness shows it in its first trial (measured, noise high, 4 CPUs on
 * 2 cores: the first trial for each of seeds 1-10 and 61-65); the 40 trials the fixed kernel must
 * stay clean over are far above that.
 */
import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { Arch } from '../../src/arch/arch.ts';
import scenario from '../../src/scenario/catalog/migrate-flush-pending.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 4 });

describe('migrate-flush-pending: migration copies a page another CPU still writes through its TLB', () => {
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 61, trials: 40, noiseShift: NOISE_LEVELS.high }, {
    // the scanner's PROT_NONE PTEs were faulted on, so migration raced with its deferred flushes
    exercised: (r) => expect(r.counters.numa_hint_faults).toBeGreaterThan(0),
    // a writer's store, into the frame migration freed
    report: (v) => expect([2, 3]).toContain(v.cpu),
  }));

  // arm64's pte_accessible checks mm_tlb_flush_pending too (buggy: the first trial for seeds 61-64)
  describe('arm64', () => {
    fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 61, trials: 40, noiseShift: NOISE_LEVELS.high, arch: Arch.Arm64 }, {
      exercised: (r) => expect(r.counters.numa_hint_faults).toBeGreaterThan(0),
      report: (v) => expect([2, 3]).toContain(v.cpu),
    }));
  });
});
