/*
 * mremap-flush-after-unlock, two ways:
 *   forced        the interleaving forced with handshakes (test/fixtures/mremap-workloads.ts
 *                 flushAfterUnlockForced): CPU 1 held in mremap's window after move_ptes, CPU 0
 *                 truncates the file and reads at the old address if its TLB still translates it;
 *                 on x86 and on arm64
 *   free running  the scenario's own programs, noise low as `stress` runs them: with the buggy
 *                 switch on top of fixed the race shows in the first trial of nearly every seed
 *                 (measured: 215 of 224 trials at 200 rounds, 3 CPUs on 2 cores); the 20 trials
 *                 the fixed kernel must stay clean over are far above that
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { FlushRaceResult } from '../fixtures/mremap-workloads.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { PMD_SPAN, SCENARIO_BASE } from '../../src/scenario/catalog/lib.ts';
import { Arch, archName } from '../../src/arch/arch.ts';
import scenario from '../../src/scenario/catalog/mremap-flush-after-unlock.ts';
import { fixedAndMutation, forced, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: scenario.cpus });

/** where the scenario's mapping moves between: page 0 at A or at B */
const PAGE0 = [SCENARIO_BASE + PMD_SPAN - PAGE_SIZE, SCENARIO_BASE + 4 * PMD_SPAN - 3 * PAGE_SIZE];

describe('mremap-flush-after-unlock: a read through the old address after truncate freed the page at the new one', () => {
  for (const arch of [Arch.X86, Arch.Arm64]) describe(`forced, ${archName(arch)}`, () => {
    fixedAndMutation(scenario, forced<FlushRaceResult>(machine, scenario, fixtureUrl('mremap-workloads', 'flushAfterUnlockForced'), { seed: 3, arch }, {
      exercised: (r) => {
        // mremap moved the page; the old address was flushed before truncate got to the page
        expect(r.results[1].ret).toBeGreaterThan(0);
        expect(r.counters.mremap_ptes_moved).toBe(1);
        expect(r.results[0].staleEntry).toBe(false);
      },
      report: (v, r) => {
        expect(r.results[0].staleEntry).toBe(true);
        expect(v.cpu).toBe(0);
        expect(v.va).toBe(2 ** 38 + 5 * PAGE_SIZE);
      },
    }));
  });

  describe('free running', () => {
    fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 11, trials: 20, noiseShift: NOISE_LEVELS.low }, {
      exercised: (r) => expect(r.counters.mremap_ptes_moved).toBeGreaterThan(0),
      report: (v) => {
        expect(v.cpu).toBe(0);
        expect(PAGE0.some((a) => v.va >= a && v.va < a + PAGE_SIZE)).toBe(true);
      },
    }));
  });
});
