/*
 * dontneed-nested-flush: the race happens by itself in the scenario's programs. With the buggy
 * switch on top of fixed the harness shows it in its first trial (measured, noise high, 3 CPUs on
 * 2 cores: the first trial for each of seeds 1-10 and 42-46); the 60 trials the fixed kernel must
 * stay clean over are far above that. On arm64 likewise: the first trial for seeds 42-45.
 */
import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { SCENARIO_BASE } from '../../src/scenario/catalog/lib.ts';
import { Arch } from '../../src/arch/arch.ts';
import type { Violation } from '../../src/check/oracle.ts';
import scenario from '../../src/scenario/catalog/dontneed-nested-flush.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: scenario.cpus });
const inRange = (v: Violation) => expect(v.va >= SCENARIO_BASE && v.va < SCENARIO_BASE + 4 * PAGE_SIZE).toBe(true);

describe('dontneed-nested-flush: MADV_DONTNEED returns while another zapper still has the range cached', () => {
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 42, trials: 60, noiseShift: NOISE_LEVELS.high }, {
    // the second zapper did find the first one's gather pending and flushed anyway
    exercised: (r) => expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0),
    report: inRange,
  }));

  describe('arm64', () => {
    fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 42, trials: 60, noiseShift: NOISE_LEVELS.high, arch: Arch.Arm64 }, {
      // the flushes were TLBIs that a DSB waited for on other CPUs
      exercised: (r) => expect(r.counters.dsb_ish_waits).toBeGreaterThan(0),
      report: inRange,
    }));
  });
});
