/*
 * lazyfree-direct-io: forced, since the fixture holds the read between its DMA and its completion
 * while reclaim runs, so that each run meets the window, on each architecture. Free running, the buggy kernel shows it
 * in the first trial of 40 rounds (stress, seeds 1 to 10); the CLI's stress covers that.
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { SCENARIO_BASE } from '../../src/scenario/catalog/lib.ts';
import { Arch, archName } from '../../src/arch/arch.ts';
import scenario from '../../src/scenario/catalog/lazyfree-direct-io.ts';
import { PAGES, type KswapdResult, type ProcessResult } from '../fixtures/lazyfree-workloads.ts';
import { fixedAndMutation, forced } from './harness.ts';

const machine = useMachine({ cpus: 3 });

for (const arch of [Arch.X86, Arch.Arm64]) describe(`lazyfree-direct-io on ${archName(arch)}: reclaim of a lazily freed page pinned by a direct IO read in flight`, () => {
  fixedAndMutation(scenario, forced<ProcessResult | KswapdResult | null>(machine, scenario, fixtureUrl('lazyfree-workloads', 'reclaimDuringDirectIo'), { seed: 1, arch }, {
    // every page was pinned and filled, and reclaim went over all of them while they were pinned
    exercised: (r) => {
      expect(r.results[0]).toEqual({ read: PAGES, lost: 0 });
      expect(r.results[1]).toMatchObject({ mapped: PAGES, stat: { lazyfreed: 0, reclaimed: 0 } });
    },
    // the process finds zeros where the device wrote
    report: (v) => {
      expect(v.cpu).toBe(0);
      expect(v.va >= SCENARIO_BASE && v.va < SCENARIO_BASE + PAGES * PAGE_SIZE).toBe(true);
    },
  }));
});
