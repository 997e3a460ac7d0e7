import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { LazyResult, SwitchResult } from '../fixtures/flush-workloads.ts';
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

  it('IPIs a lazy CPU when tables were freed, and the CPU drops the mm for init_mm', async () => {
    const run = await machine().run<unknown, LazyResult | null, object>(workload('lazyTarget'), { flush: true }, quiet);
    const r = run.results[1]!;
    expect(r.ipisWhileLazy).toBe(1);
    expect(r.staleEntryKept).toBe(false);
    expect(r.loadedAfterFlush).toBe(INIT_MM);
    expect(r.inCpumaskAfterFlush).toBe(false);
    expect(r.valueAfterReturn).toBe(0x1234);
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
