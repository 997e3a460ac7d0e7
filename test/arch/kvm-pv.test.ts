import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { FlushSide, Options, SyncSide, TargetSide } from '../fixtures/kvm-pv-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import type { DemoCpuResult, DemoOptions } from '../../src/scenario/demo-workload.ts';
import { scheduleSpec } from '../../src/campaign/trials.ts';
import { FIRST_HORIZON } from '../../src/schedule/control.ts';

const machine = useMachine({ cpus: 2 });
const workload = (name: string) => fixtureUrl('kvm-pv-workloads', name);
const kvmPv = (...more: string[]) => applySwitches(defaultKernelConfig(), ['x86TlbFlush=kvm-pv', ...more]);
const quiet = { seed: 3, speculationShift: -1 };

describe('KVM paravirt flush (x86TlbFlush=kvm-pv)', () => {
  it('leaves a preempted vCPU to the host: no IPI, the host flushes its TLB before it runs, and it reads the new page', async () => {
    const run = await machine().run<unknown, FlushSide | TargetSide | null, Options>(workload('flushWhilePreempted'), { preempt: true }, { ...quiet, kernel: kvmPv() });
    const [flusher, target] = run.results as [FlushSide, TargetSide];
    expect(flusher).toEqual({ ipisSent: 0, deferred: 1, postconditionAtReturn: null, postconditionAfterResume: null });
    expect(target).toEqual({ entriesAtResume: 0, value: 0x1234, ipisReceived: 0 });
    expect(run.counters.pv_tlb_flushes_deferred).toBe(1);
    expect(run.counters.host_preemptions).toBe(1);
    expect(run.counters.host_tlb_flushes).toBe(1);
    expect(run.violations).toEqual([]);
  });

  it('IPIs a vCPU that runs, as the native flush does', async () => {
    const run = await machine().run<unknown, FlushSide | TargetSide | null, Options>(workload('flushWhilePreempted'), { preempt: false }, { ...quiet, kernel: kvmPv() });
    const [flusher, target] = run.results as [FlushSide, TargetSide];
    expect(flusher).toEqual({ ipisSent: 1, deferred: 0, postconditionAtReturn: null, postconditionAfterResume: null });
    expect(target).toEqual({ entriesAtResume: 0, value: 0x1234, ipisReceived: 1 });
    expect(run.counters.host_tlb_flushes).toBe(0);
    expect(run.violations).toEqual([]);
  });

  // seed 001: the sync IPI is skipped only after a flush that interrupted everyone; the PV one did not
  it.each([
    ['always', true, 1],
    ['skip-after-ipi-flush', true, 1],
    ['skip-after-any-flush', false, 0],
  ])('syncIpi=%s: tlb_remove_table_sync_one waits for a vCPU preempted with IRQs off (%s)', async (syncIpi, waited, syncs) => {
    const run = await machine().run<unknown, SyncSide | null, Options>(workload('syncIpiWhilePreempted'), {}, { ...quiet, kernel: kvmPv(`syncIpi=${syncIpi}`) });
    expect(run.results[0]).toEqual({ walkerRanBeforeSyncReturned: waited, deferred: 1 });
    expect(run.counters.tlb_remove_table_sync_one).toBe(syncs);
  });

  it('skip-after-ipi-flush skips the sync IPI after a native flush (x86TlbFlush=ipi), and the walker is still waited for by the flush', async () => {
    const kernel = applySwitches(defaultKernelConfig(), ['syncIpi=skip-after-ipi-flush']);
    const run = await machine().run<unknown, SyncSide | null, Options>(workload('syncIpiWhilePreempted'), {}, { ...quiet, kernel });
    // no host: the "preemption" is CPU 1 with IRQs off, which the flush IPI wakes and then waits for
    expect(run.results[0]).toEqual({ walkerRanBeforeSyncReturned: true, deferred: 0 });
    expect(run.counters.tlb_remove_table_sync_one).toBe(0);
    expect(run.counters.host_preemptions).toBe(0);
  });
});

describe('the demo under x86TlbFlush=kvm-pv, the host preempting vCPUs', () => {
  const demo = { url: new URL('../../src/scenario/demo-workload.ts', import.meta.url).href };
  it('keeps the flush postcondition and every oracle clean while flushes are left to the host (seed 5, noise high)', async () => {
    const run = await machine().run<unknown, DemoCpuResult, DemoOptions>(demo, { flushes: 3000 }, { seed: 5, noiseShift: 2, kernel: kvmPv() });
    expect(run.results.flatMap((r) => r.violations)).toEqual([]);
    expect(run.violations).toEqual([]);
    expect(run.counters.host_preemptions).toBeGreaterThan(0);
    expect(run.counters.pv_tlb_flushes_deferred).toBeGreaterThan(0);
    expect(run.counters.host_tlb_flushes).toBeGreaterThan(0);
  });

  it('in a controlled run the host preempts as the schedule says: the same seed, the same preemptions and deferred flushes', async () => {
    const mode = { strategy: 'random', depth: 0, parallel: 1 } as const;
    const once = () => machine().run<unknown, DemoCpuResult, DemoOptions>(demo, { flushes: 300 }, { seed: 9, kernel: kvmPv(), schedule: scheduleSpec(mode, 9, FIRST_HORIZON, undefined) });
    const a = await once();
    const b = await once();
    expect(a.counters.host_preemptions).toBeGreaterThan(0);
    expect(a.counters.pv_tlb_flushes_deferred).toBeGreaterThan(0);
    expect(b.counters).toEqual(a.counters);
    expect(a.results.flatMap((r) => r.violations)).toEqual([]);
    expect(a.violations).toEqual([]);
  });
});
