/*
 * contpte-unfold-no-bbm: the interleaving forced (contpte-workloads unfoldForced: CPU 1 caches the
 * folded block, CPU 0 mprotects page 9 read-only, then CPU 1 reads page 9 and page 3), then the
 * scenario's own programs. Without the unfold the block keeps PTE_CONT on 15 entries, and every
 * CPU that reads the changed page and then another page of the block caches both sizes: with the
 * buggy switches on top of fixed, every one of 10 trials (seeds 1-3, 4 CPUs and 2, noise low)
 * reported it in its first mprotect rounds. A few trials here are plenty for buggy; fixed must
 * stay clean over all of them while blocks are unfolded and refolded under the readers.
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { page, type UnfoldResult } from '../fixtures/contpte-workloads.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { Arch } from '../../src/arch/arch.ts';
import scenario from '../../src/scenario/catalog/contpte-unfold-no-bbm.ts';
import { fixedAndMutation, forced, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 2 });
const ALL = 0xffff;

describe('contpte-unfold-no-bbm: a one-page mprotect inside a folded 64 KiB block', () => {
  // fixed: contpte_try_unfold clears, flushes and rewrites the block without PTE_CONT before page
  // 9 changes, so CPU 1 fills 4 KiB entries only; without it page 3's walk fills a contiguous
  // entry beside CPU 1's 4 KiB entry for page 9
  fixedAndMutation(scenario, forced<UnfoldResult | null>(machine, scenario, fixtureUrl('contpte-workloads', 'unfoldForced'), { seed: 5, arch: Arch.Arm64 }, {
    exercised: (r) => {
      expect(r.results[0]!.contAfterMprotect).toBe(0);
      expect(r.results[1]).toMatchObject({ read9: 0x109, read3: 0x103 });
      expect(r.counters.contpte_unfolds).toBe(1);
    },
    report: (v, r) => {
      expect(v).toMatchObject({ cpu: 1, va: page(9) });
      expect(r.results[0]!.contAfterMprotect).toBe(ALL & ~(1 << 9));
    },
  }));

  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 3, trials: 10, noiseShift: NOISE_LEVELS.low, arch: Arch.Arm64 }, {
    exercised: (r) => {
      expect(r.counters.contpte_unfolds).toBeGreaterThan(0);
      expect(r.counters.contpte_folds).toBeGreaterThan(0);
      expect(r.counters.cont_tlb_hits).toBeGreaterThan(0);
    },
  }));
});
