import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { IrqsOff, Reuse, Transition } from '../fixtures/invlpgb-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { MAX_ASID_AVAILABLE, TLB_NR_DYN_ASIDS } from '../../src/arch/x86/tlbstate-layout.ts';

const CPUS = 5;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('invlpgb-workloads', name);
const kernel = (value: string) => applySwitches(defaultKernelConfig(), [`x86TlbFlush=${value}`]);

describe('broadcast TLB invalidation (x86TlbFlush=invlpgb)', () => {
  it('gives an mm that five CPUs run a global ASID, then flushes it by INVLPGB with no IPI; no CPU reads a stale page meanwhile', async () => {
    const run = await machine().run<unknown, Transition | number, object>(workload('transition'), { flushes: 300 }, { seed: 3, kernel: kernel('invlpgb') });
    const r = run.results[0] as Transition;
    expect(r.violation).toBeNull();
    expect(r.assignedAfter).toBeGreaterThan(0);
    expect(r.globalAsid).toBeGreaterThanOrEqual(TLB_NR_DYN_ASIDS);
    expect(r.ipisBefore).toBeGreaterThan(0);
    // the transition's IPIs at most once per CPU still on its own ASID, then none
    expect(r.silentFlushes).toBeGreaterThan(300 - r.assignedAfter - CPUS);
    for (const wrong of run.results.slice(1)) expect(wrong).toBe(0);
    expect(run.counters.global_asids_assigned).toBe(1);
    expect(run.counters.invlpgb).toBeGreaterThanOrEqual(300 - r.assignedAfter);
    expect(run.counters.tlbsync).toBeGreaterThanOrEqual(300 - r.assignedAfter);
    expect(run.violations).toEqual([]);
  });

  it('x86TlbFlush=ipi: the same mm never gets a global ASID, and every flush IPIs', async () => {
    const run = await machine().run<unknown, Transition | number, object>(workload('transition'), { flushes: 100 }, { seed: 3, kernel: kernel('ipi') });
    const r = run.results[0] as Transition;
    expect(r).toMatchObject({ assignedAfter: 0, globalAsid: 0, violation: null });
    expect(run.violations).toEqual([]);
    expect(r.ipisBefore).toBe(100 * (CPUS - 1));
    expect(run.counters.invlpgb).toBe(0);
  });

  it('takes effect on a CPU with IRQs off, and the initiator returns only once it has (TLBSYNC)', async () => {
    const run = await machine().run<unknown, IrqsOff | null, object>(workload('irqsOffTarget'), {}, { seed: 4, speculationShift: -1, kernel: kernel('invlpgb') });
    expect(run.results[1]).toEqual({ cachedBefore: true, cachedAfterFlush: false, ipisReceived: 0, irqsOnThroughout: false });
    expect(run.counters.ipis_sent).toBe(0);
    expect(run.counters.invlpgb).toBe(1);
    expect(run.counters.tlbsync).toBe(1);
  });

  it('reuses a freed global ASID only after the allocator wrapped and flushed every non-global entry', async () => {
    const run = await machine().run<unknown, Reuse | null, object>(workload('asidReuse'), { flushes: 2000 }, { seed: 5, kernel: kernel('invlpgb') });
    expect(run.results[0]).toEqual({ first: MAX_ASID_AVAILABLE - 1, second: MAX_ASID_AVAILABLE - 1 });
    expect(run.counters.global_asids_assigned).toBe(2);
    expect(run.counters.global_asid_space_resets).toBe(1);
    expect(run.violations).toEqual([]);
  });
});
