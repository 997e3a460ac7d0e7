import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { GupBasics, GupRace } from '../fixtures/gup-workloads.ts';

const machine = useMachine({ cpus: 4 });
const workload = (name: string) => fixtureUrl('gup-workloads', name);

describe('GUP-fast', () => {
  it('pins exactly the frames the PTEs map, and unpinning gives back the pins and references', async () => {
    const run = await machine().run<unknown, GupBasics | null, object>(workload('gupBasics'), {}, { seed: 1 });
    const r = run.results[0]!;
    expect(r.ptePfns.every((pfn) => pfn > 0)).toBe(true);
    expect(r.pinned).toEqual(r.ptePfns);
    expect(r.refsBefore).toEqual(Array(12).fill(1));
    expect(r.pinsDuring).toEqual(Array(12).fill(1));
    expect(r.refsDuring).toEqual(Array(12).fill(2));
    expect(r.pinsAfter).toEqual(Array(12).fill(0));
    expect(r.refsAfter).toEqual(Array(12).fill(1));
    expect(r.walkedFreedTable).toBe(false);
  });

  it('stops at the first page it cannot pin: a hole, an unmapped range, a read-only PTE for a write', async () => {
    const run = await machine().run<unknown, GupBasics | null, object>(workload('gupBasics'), {}, { seed: 2 });
    const r = run.results[0]!;
    expect(r.overHole).toBe(12);
    expect(r.onHole).toBe(0);
    expect(r.unmapped).toBe(0);
    expect(r.writeOnReadOnly).toBe(0);
    expect(r.readOnReadOnly).toBe(4);
  });

  it('racing munmap on another CPU, pins only live pages of the round that was mapped, and leaks nothing', async () => {
    const pages = 16;
    const rounds = 30;
    const run = await machine().run<unknown, GupRace | null, object>(workload('gupVsMunmap'), { pages, rounds }, { seed: 3 });
    for (const r of run.results.slice(1)) {
      expect(r!.first).toEqual([]);
      expect(r!.count).toBe(0);
      // each walker pinned every round whole at least once before CPU 0 unmapped it
      expect(r!.pinned).toBeGreaterThanOrEqual(pages * rounds);
    }
    expect(run.counters.page_tables_freed).toBeGreaterThanOrEqual(rounds);
    expect(machine().freeFrames()).toBe(machine().v.nrFrames - 2);
  });
});
