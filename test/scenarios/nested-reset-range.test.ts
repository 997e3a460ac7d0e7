/*
 * nested-reset-range: the race happens by itself in the scenario's programs. With the buggy switch
 * on top of fixed the harness shows it in its first trial (measured, noise high, 3 CPUs on 2 cores:
 * the first trial for each of seeds 1-10 and 52-56; 26, 27 and 21 trials of 60 for seeds 1, 2 and
 * 52 with every later kernel path in). Run alone that is far below 60 trials; inside the whole
 * suite, its threads competing with other files' CPUs, one run saw none in 60, so the budget is
 * 300 trials, which the fixed kernel must stay clean over too.
 */
import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { Arch } from '../../src/arch/arch.ts';
import scenario from '../../src/scenario/catalog/nested-reset-range.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: scenario.cpus });
// the CPU that ran the mm and went lazy
const LAZY = 2;

describe('nested-reset-range: a nested zap\'s forced flush that forgets the freed tables', () => {
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 52, trials: 300, noiseShift: NOISE_LEVELS.high }, {
    // page tables really were freed under the lazy CPU
    exercised: (r) => expect(r.counters.page_tables_freed).toBeGreaterThan(0),
    report: (v) => expect(v.cpu).toBe(LAZY),
  }));

  // arm64: the reset range's flush is last-level only (TLBI VALE1IS) and leaves every CPU's walk
  // cache pointing at the freed table (buggy: the first trial for seeds 52-55)
  describe('arm64', () => {
    fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 52, trials: 100, noiseShift: NOISE_LEVELS.high, arch: Arch.Arm64 }, {
      exercised: (r) => expect(r.counters.page_tables_freed).toBeGreaterThan(0),
    }));
  });
});
