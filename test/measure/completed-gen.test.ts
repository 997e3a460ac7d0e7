import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { CoveredResult } from '../fixtures/completed-gen-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const machine = useMachine({ cpus: 3 });
const workload = fixtureUrl('completed-gen-workloads', 'coveredBatchedFlush');
const run = (switches: string[]) =>
  machine().run<unknown, CoveredResult, object>(workload, {}, { seed: 5, kernel: applySwitches(defaultKernelConfig(), switches) });

describe('completed TLB generation (completedGen, seed 000 patches 08, 15, 17)', () => {
  it('off: a batched flush that a later completed flush covers is counted redundant and still made', async () => {
    const r = await run([]);
    expect(r.counters.deferred_flushes_redundant).toBe(1);
    expect(r.counters.deferred_flushes_skipped).toBe(0);
    // CPU 2's shootdown of Y, then kswapd's batched flush to CPUs 1 and 2
    expect(r.counters.nr_tlb_remote_flush).toBe(2);
    expect(Number.isNaN(r.results[1].reload)).toBe(true);
    expect(r.violationCount).toBe(0);
  });

  it('skip-completed: the covered flush is skipped, and the freed frame is out of every TLB all the same', async () => {
    const r = await run(['completedGen=skip-completed']);
    expect(r.counters.deferred_flushes_skipped).toBe(1);
    expect(r.counters.nr_tlb_remote_flush).toBe(1);
    // CPU 1 was two generations behind CPU 2's flush: it flushed everything, X included
    expect(Number.isNaN(r.results[1].reload)).toBe(true);
    expect(r.violationCount).toBe(0);
  });

  it('skip-completed with a reused deferred generation skips a flush nothing covered: the oracle sees the freed frame used', async () => {
    const r = await run(['completedGen=skip-completed', 'deferredFlushGen=reuse']);
    expect(r.counters.deferred_flushes_skipped).toBe(1);
    expect(r.violations.map((v) => v.kind)).toContain('use-after-free');
  });
});
