import { describe, expect, it } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import type { DemoCpuResult, DemoOptions } from '../../src/scenario/demo-workload.ts';

// more CPU threads than the 2 cores CI has: preemption lands inside flushes
const CPUS = 5;
const machine = useMachine({ cpus: CPUS });
const demo = { url: new URL('../../src/scenario/demo-workload.ts', import.meta.url).href };

describe('the flush postcondition under real concurrency', () => {
  it.each([11, 12])('holds after every one of 600 flushes while 4 CPUs load and store (seed %i)', async (seed) => {
    const flushes = 600;
    const run = await machine().run<unknown, DemoCpuResult, DemoOptions>(demo, { flushes }, { seed });
    expect(run.results.flatMap((r) => r.violations)).toEqual([]);
    expect(run.results[0].shootdownUs).toHaveLength(flushes);
    // every CPU had the mm loaded and none was lazy: every flush IPIed all the others
    expect(run.counters.nr_tlb_remote_flush).toBe(flushes);
    expect(run.counters.nr_tlb_remote_flush_received).toBe(flushes * (CPUS - 1));
    expect(run.counters.ipis_received).toBe(run.counters.ipis_sent);
    // the accessors really ran against the changing PTEs
    for (const r of run.results.slice(1)) {
      expect(r.accesses).toBeGreaterThan(0);
      expect(r.faults).toBeGreaterThan(0);
    }
  });
});
