/*
 * ptep-clear-nonatomic: the race happens by itself in the scenario's programs, its windows
 * stretched at about one visit in 4 (noise high). With the buggy switch on top of fixed the
 * harness shows it within 3 trials (measured, 4 CPUs on 2 cores: trials to the first report 2, 1,
 * 1, 2, 1, 1, 1, 1, 3, 2 for seeds 1-10 and 1, 2, 1, 1, 1 for seeds 21-25; earlier, at worst 6 over
 * seeds 1-12); the 100 trials the fixed kernel must stay clean over are far above that.
 */
import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { Arch } from '../../src/arch/arch.ts';
import type { Violation } from '../../src/check/oracle.ts';
import scenario from '../../src/scenario/catalog/ptep-clear-nonatomic.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 4 });
const RECLAIMER = 3;
const BASE = 2 ** 37;
const PAGES = 16;

// reported by the oracle on the CPU whose clear wiped the bit, at that clear
const atTheClear = (v: Violation) => {
  expect(v.cpu).toBe(RECLAIMER);
  expect(v.va >= BASE && v.va < BASE + PAGES * PAGE_SIZE).toBe(true);
};

describe('ptep-clear-nonatomic: a PTE cleared by a read, then a store, against the walker setting D', () => {
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 21, trials: 100, noiseShift: NOISE_LEVELS.high }, {
    // MADV_FREE and reclaim really flushed other CPUs' TLBs while the writers ran
    exercised: (r) => expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0),
    report: atTheClear,
  }));

  // arm64: the walker's DBM update clears PTE_RDONLY by cmpxchg, which the plain store of 0 wipes
  // (buggy: the first trial for seeds 21-23, the second for 24)
  describe('arm64', () => {
    fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 21, trials: 100, noiseShift: NOISE_LEVELS.high, arch: Arch.Arm64 }, {
      exercised: (r) => expect(r.counters.dsb_ish_waits).toBeGreaterThan(0),
      report: atTheClear,
    }));
  });
});
