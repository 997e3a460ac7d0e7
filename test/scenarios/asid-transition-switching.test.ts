/*
 * asid-transition-switching: the interleaving forced (asid-transition-workloads straggler: CPU 1
 * held in switch_mm with its per-CPU ASID chosen while the mm gets a global ASID and the
 * transition's first broadcast flush looks at it). A free run shows the race only now and then on
 * 2 cores (the scenario's header), so the statistical run is a stress command, not a test.
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { SWITCHER, type Straggler } from '../fixtures/asid-transition-workloads.ts';
import { TLB_NR_DYN_ASIDS } from '../../src/arch/x86/tlbstate-layout.ts';
import scenario from '../../src/scenario/catalog/asid-transition-switching.ts';
import { fixedAndMutation, forced } from './harness.ts';

const machine = useMachine({ cpus: 3 });

describe('asid-transition-switching: a CPU in switch_mm left out of the move to a global ASID', () => {
  fixedAndMutation(scenario, forced<Straggler | number | null>(machine, scenario, fixtureUrl('asid-transition-workloads', 'straggler'), { seed: 71 }, {
    exercised: (r) => {
      const { globalAsid } = r.results[0] as Straggler;
      expect(globalAsid).toBeGreaterThanOrEqual(TLB_NR_DYN_ASIDS);
      // the transition's IPI moved CPU 1 to the global ASID before it read the page again
      expect(r.results[SWITCHER]).toBe(globalAsid);
      expect(r.counters.invlpgb).toBeGreaterThanOrEqual(2);
    },
    // CPU 1's read of page 0, through its per-CPU entry
    report: (v, r) => {
      expect(v.cpu).toBe(SWITCHER);
      expect(r.results[SWITCHER]).toBeLessThan(TLB_NR_DYN_ASIDS);
    },
  }));
});
