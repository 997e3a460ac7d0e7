import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { UnmapResult } from '../fixtures/kernel-workloads.ts';

const CPUS = 4;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('kernel-workloads', name);

describe('anonymous memory on several CPUs', () => {
  it('reads zero after MADV_DONTNEED and faults after munmap, on every CPU', async () => {
    const pages = 16;
    const rounds = 20;
    const run = await machine().run<unknown, UnmapResult, object>(workload('mapZapUnmap'), { pages, rounds }, { seed: 3 });
    for (const r of run.results) {
      expect(r.nonzeroAfterDontneed).toBe(0);
      expect(r.zeroAfterDontneed).toBe(pages * rounds);
      expect(r.faultsAfterMunmap).toBe(pages * rounds);
    }
    expect(run.counters.page_tables_freed).toBeGreaterThan(0);
  });

  it('frees every frame it allocated when the process exits', async () => {
    const before = await machine().run(workload('touchThenExit'), { pages: 0x30 }, { seed: 4 }).then(() => machine().freeFrames());
    // a fresh machine after reset has every frame but the null frame and init_mm's PGD free
    expect(before).toBe(machine().v.nrFrames - 2);
  });
});
