import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { ConcurrentOptions, LazyResult, SwitchResult, SwitchedAwayResult, TakenFlushes } from '../fixtures/flush-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import type { FlushViolation } from '../../src/check/flush-postcondition.ts';
import { INIT_MM } from '../../src/kernel/mm-layout.ts';

const machine = useMachine({ cpus: 4 });
const workload = (name: string) => fixtureUrl('flush-workloads', name);
const quiet = { seed: 2, speculationShift: -1 };

describe('x86 flush_tlb_mm_range', () => {
  it('skips a lazy CPU when no tables were freed, and the CPU catches up when it comes back', async () => {
    const run = await machine().run<unknown, LazyResult | null, object>(workload('lazyTarget'), { flush: false }, quiet);
    const r = run.results[1]!;
    expect(r.ipisWhileLazy).toBe(0);
    expect(r.staleEntryKept).toBe(true);
    expect(r.inCpumaskAfterFlush).toBe(true);
    expect(r.valueAfterReturn).toBe(0x1234);
    expect(run.counters.ipis_sent).toBe(0);
  });

  // mainline leaves the CPU in mm_cpumask when it drops the mm (a later flush takes it out)
  it.each([
    ['lazy-cpumask', true],
    ['clear-at-switch', false],
  ])('IPIs a lazy CPU when tables were freed, and the CPU drops the mm for init_mm (lazyTlb=%s; still in mm_cpumask: %s)', async (mode, inMask) => {
    const run = await machine().run<unknown, LazyResult | null, object>(workload('lazyTarget'), { flush: true }, { ...quiet, kernel: applySwitches(defaultKernelConfig(), [`lazyTlb=${mode}`]) });
    const r = run.results[1]!;
    expect(r.ipisWhileLazy).toBe(1);
    expect(r.staleEntryKept).toBe(false);
    expect(r.loadedAfterFlush).toBe(INIT_MM);
    expect(r.inCpumaskAfterFlush).toBe(inMask);
    expect(r.valueAfterReturn).toBe(0x1234);
  });

  it('mainline (lazyTlb=lazy-cpumask): a CPU that switched away stays in mm_cpumask, a flush that freed no tables skips it (should_flush_tlb), one that freed tables reaches it and it leaves the mask', async () => {
    const run = await machine().run<unknown, SwitchedAwayResult | null, object>(workload('switchedAway'), {}, quiet);
    expect(run.results[1]).toEqual({ inMaskAfterSwitch: true, ipisPlainFlush: 0, inMaskAfterPlainFlush: true, ipisFreedTablesFlush: 1, inMaskAfterFreedTablesFlush: false });
  });

  it('lazyTlb=clear-at-switch: a CPU that switched away leaves mm_cpumask at once and no flush reaches it', async () => {
    const kernel = applySwitches(defaultKernelConfig(), ['lazyTlb=clear-at-switch']);
    const run = await machine().run<unknown, SwitchedAwayResult | null, object>(workload('switchedAway'), {}, { ...quiet, kernel });
    expect(run.results[1]).toEqual({ inMaskAfterSwitch: false, ipisPlainFlush: 0, inMaskAfterPlainFlush: false, ipisFreedTablesFlush: 0, inMaskAfterFreedTablesFlush: false });
  });

  it('does a full flush on switching back to an mm whose generation moved on meanwhile', async () => {
    const run = await machine().run<unknown, SwitchResult | null, object>(workload('switchAwayAndBack'), { flush: true }, quiet);
    const r = run.results[1]!;
    expect(r.entriesBefore).toBe(1);
    expect(r.entriesAfter).toBe(0);
    expect(r.value).toBe(0x5678);
    // CPU 1 had left the mm's cpumask: the flush needed no IPI
    expect(run.counters.ipis_sent).toBe(0);
  });

  it('keeps PCID-tagged entries across a switch away and back when no generation was missed', async () => {
    const run = await machine().run<unknown, SwitchResult | null, object>(workload('switchAwayAndBack'), { flush: false }, quiet);
    const r = run.results[1]!;
    expect(r.entriesBefore).toBe(1);
    expect(r.entriesAfter).toBe(1);
    expect(r.value).toBe(0);
  });

  it('the postcondition check catches a flush that never reached a CPU caching the page', async () => {
    const run = await machine().run<unknown, FlushViolation | null, object>(workload('localOnlyFlush'), {}, quiet);
    expect(run.results[0]).toMatchObject({ cpu: 1 });
    expect(run.results[0]!.what).toMatch(/behind the flush/);
  });
});

describe('flush ranges', () => {
  it.each([1, 33])('flushes %i pages page by page on every CPU of the mm', async (pages) => {
    const run = await machine().run(workload('oneRangedFlush'), { flushes: pages }, quiet);
    expect(run.counters.nr_tlb_remote_flush).toBe(1);
    expect(run.counters.nr_tlb_remote_flush_received).toBe(3);
    expect(run.counters.nr_tlb_local_flush_one).toBe(pages);
    expect(run.counters.nr_tlb_local_flush_all).toBe(0);
    expect(run.counters.TLB_REMOTE_SHOOTDOWN).toBe(3);
    expect(run.counters.TLB_LOCAL_MM_SHOOTDOWN).toBe(1);
  });

  it('turns a range of more than 33 pages into a full flush', async () => {
    const run = await machine().run(workload('oneRangedFlush'), { flushes: 34 }, quiet);
    expect(run.counters.nr_tlb_remote_flush).toBe(1);
    expect(run.counters.nr_tlb_remote_flush_received).toBe(3);
    expect(run.counters.nr_tlb_local_flush_one).toBe(0);
    expect(run.counters.nr_tlb_local_flush_all).toBe(1);
  });
});

/*
 * flush_tlb_func's rule (arch/x86/flush.ts, the example of its header): a request is applied as
 * a range only when it is the next generation and the newest (new == local + 1 == mm); otherwise
 * the target flushes everything and catches up, and the older request finds nothing left to do.
 * CPU 2 takes the requests of two flushes of one mm together.
 */
describe('two concurrent flushes of one mm', () => {
  const taken = async (flushers: number[]) => {
    const run = await machine().run<unknown, TakenFlushes | null, ConcurrentOptions>(workload('concurrentFlushes'), { flushers }, { seed: 61, speculationShift: -1 });
    return run.results[2]!;
  };

  it('one flush, the next and newest generation: page 1 is invalidated alone, pages 0, 2 and 3 stay cached', async () => {
    expect(await taken([1])).toEqual({ full: 0, ranged: 1, cached: [true, false, true, true] });
  });

  it('the newer request first (local 0, request 2): a full flush, and the older request then does nothing', async () => {
    expect(await taken([1, 0])).toEqual({ full: 1, ranged: 0, cached: [false, false, false, false] });
  });

  it('the older request first (request 1 = local + 1, but the mm is at 2): a full flush too, and the newer then does nothing', async () => {
    expect(await taken([0, 1])).toEqual({ full: 1, ranged: 0, cached: [false, false, false, false] });
  });
});

