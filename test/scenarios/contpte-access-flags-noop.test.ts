/*
 * contpte-access-flags-noop: the order forced (contpte-access-flags-workloads noopForced: CPU 0
 * maps a folded block writable and clean, a device with HTTU dirties page 5 alone, then CPU 0
 * writes page 2; or, `read`, the block is old and the device's write makes page 5 young, then CPU
 * 0 reads page 2), then the scenario's own programs free running. Free running, buggy reported
 * the loop in every trial measured (40 of 40 from seed 1, 100 of 100 from seed 1000, 2 CPUs, noise
 * low, the second beside another run): the device's write lands before CPU 0's store in some
 * block of a trial's 8 rounds of 4; `stress --duration 20s --stop-on-first` stopped at 0.59 s, in
 * trial 1. Fixed: 200 trials from seed 1 clean (6400 block updates); `stress --kernel fixed
 * --duration 200s`: 16433 trials, 525856 folio faults and as many block updates, no report.
 */
import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { DMA_PAGE, CPU_PAGE, page, type DirectResult, type NoopResult } from '../fixtures/contpte-access-flags-workloads.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { Arch } from '../../src/arch/arch.ts';
import { PTE_AF, PTE_CONT, PTE_RDONLY } from '../../src/machine/pte-arm64.ts';
import scenario from '../../src/scenario/catalog/contpte-access-flags-noop.ts';
import { fixedAndMutation, forced, freeRunning } from './harness.ts';
import { kernelFor } from '../../src/campaign/trials.ts';

const machine = useMachine({ cpus: 2 });
const ALL = 0xffff;
const mask = (ptes: number[], bit: number): number => ptes.reduce((m, pte, i) => ((pte & bit) !== 0 ? m | (1 << i) : m), 0);

describe('contpte-access-flags-noop: a fault on a folded block one of whose pages a device dirtied', () => {
  // fixed: sub-PTE 2 still has PTE_RDONLY, so contpte_ptep_set_access_flags updates all 16;
  // gathered: ptep_get is dirty (sub-PTE 5), equal to the entry, and the store faults forever
  fixedAndMutation(scenario, forced<NoopResult | boolean | null>(machine, scenario, fixtureUrl('contpte-access-flags-workloads', 'noopForced'), { seed: 5, arch: Arch.Arm64 }, {
    exercised: (r) => {
      const r0 = r.results[0] as NoopResult;
      expect(r.results[1]).toBe(true);
      expect(mask(r0.ptesAfterDma, PTE_CONT)).toBe(ALL);
      expect(mask(r0.ptesAfterDma, PTE_RDONLY)).toBe(ALL & ~(1 << DMA_PAGE));
      expect(r0).toMatchObject({ accessed: true, value: 0x2002 });
      expect(mask(r0.ptesAfter, PTE_RDONLY)).toBe(0);
      expect(mask(r0.ptesAfter, PTE_CONT)).toBe(ALL);
    },
    report: (v, r) => {
      expect(v).toMatchObject({ cpu: 0, va: page(CPU_PAGE) });
      const r0 = r.results[0] as NoopResult;
      expect(r0.accessed).toBe(false);
      expect(mask(r0.ptesAfter, PTE_RDONLY)).toBe(ALL & ~(1 << DMA_PAGE));
    },
  }));

  // the read-fault form: sub-PTE 2 lacks PTE_AF while the device made sub-PTE 5 young
  fixedAndMutation(scenario, forced<NoopResult | boolean | null>(machine, scenario, fixtureUrl('contpte-access-flags-workloads', 'noopForced'), { seed: 5, arch: Arch.Arm64, options: { read: true } }, {
    exercised: (r) => {
      const r0 = r.results[0] as NoopResult;
      expect(mask(r0.ptesAfterDma, PTE_CONT)).toBe(ALL);
      expect(mask(r0.ptesAfterDma, PTE_AF)).toBe(1 << DMA_PAGE);
      expect(r0.accessed).toBe(true);
      expect(mask(r0.ptesAfter, PTE_AF)).toBe(ALL);
    },
    report: (v) => expect(v).toMatchObject({ cpu: 0, va: page(CPU_PAGE) }),
  }));

  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 3, trials: 6, noiseShift: NOISE_LEVELS.low, arch: Arch.Arm64 }, {
    exercised: (r) => {
      expect(r.counters.mthp_anon_fault_alloc).toBeGreaterThan(0);
      expect(r.counters.pte_set_access_flags_dirty).toBeGreaterThan(0);
    },
  }));
});

describe('contpte_ptep_set_access_flags when the write bit changes', () => {
  it.each(['per-subpte', 'gathered'])('contpteAccessFlags=%s: unfolds the read-only block and makes page 3 alone writable; the same entry again is nothing to do', async (value) => {
    const r = await machine().run<unknown, DirectResult | null, object>(fixtureUrl('contpte-access-flags-workloads', 'writeBitChange'), {}, {
      seed: 1,
      arch: Arch.Arm64,
      hardware: { hafdbs: false },
      kernel: kernelFor(scenario, 'fixed', [`contpteAccessFlags=${value}`], Arch.Arm64),
    });
    expect(r.violations).toEqual([]);
    expect(r.results[0]).toEqual({ contBefore: ALL, changed: true, contAfter: 0, writableAfter: 1 << 3, again: false });
    expect(r.counters.contpte_unfolds).toBeGreaterThan(0);
  });
});
