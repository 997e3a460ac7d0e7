/*
 * The measurements of src/scenario/measure under compare: exact counts where the workload is
 * deterministic, and the comparisons the seed threads are about, with every oracle on.
 */
import { describe, expect, it } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { runTrials } from '../../src/campaign/trials.ts';
import { resolveScenario } from '../../src/campaign/stress.ts';
import { runCompare, type CompareRequest } from '../../src/campaign/compare.ts';
import { DEFAULT_COST_MODEL } from '../../src/cost/model.ts';
import type { CompareRow } from '../../src/campaign/compare-report.ts';
import type { Options as FanoutOptions } from '../../src/scenario/measure/fanout-sweep.ts';

const TARGETS = 3;
const machine = useMachine({ cpus: TARGETS + 1 });

async function fanout(options: Partial<FanoutOptions>) {
  const { scenario, url } = await resolveScenario('fanout-sweep');
  const flushes = 50;
  const r = await runTrials(machine(), { url, scenario, preset: 'mainline', seed: 3, trials: 1, options: { ...(scenario.trialOptions as FanoutOptions), flushes, ...options } });
  return { c: r.counters, flushes, reports: r.reports };
}

async function compare(name: string, kernels: string[], cpus: number[], variants = ['']): Promise<CompareRow[]> {
  const req: CompareRequest = { resolved: await resolveScenario(name), kernels, set: [], variants, cpus, seed: 11, trials: 1, noiseShift: -1, costModel: DEFAULT_COST_MODEL };
  return (await runCompare(req)).rows;
}

const row = (rows: CompareRow[], kernel: string, cpus: number) => rows.find((r) => r.kernel === kernel && r.cpus === cpus)!;

describe('fanout-sweep: one initiator, exact counts', () => {
  it('a ranged flush of k <= 33 pages to n busy CPUs: one nr_tlb_remote_flush, n received, k INVLPGs on each CPU', async () => {
    const k = 8;
    const { c, flushes, reports } = await fanout({ targets: 'busy', pages: k });
    expect(c.workload_ops).toBe(flushes);
    expect(c.nr_tlb_remote_flush).toBe(flushes);
    expect(c.nr_tlb_remote_flush_received).toBe(flushes * TARGETS);
    expect(c.ipis_sent).toBe(flushes * TARGETS);
    expect(c.tlb_flushes_ranged).toBe(flushes * (TARGETS + 1));
    expect(c.invlpg).toBe(flushes * k * (TARGETS + 1));
    expect(c.nr_tlb_local_flush_one).toBe(flushes * k);
    expect(c.tlb_flushes_full).toBe(0);
    expect(reports).toBe(0);
  });

  it('more than 33 pages: a full flush on every CPU instead, no INVLPG', async () => {
    const { c, flushes } = await fanout({ targets: 'busy', pages: 34 });
    expect(c.nr_tlb_remote_flush).toBe(flushes);
    expect(c.tlb_flushes_full).toBe(flushes * (TARGETS + 1));
    expect(c.nr_tlb_local_flush_all).toBe(flushes);
    expect(c.invlpg).toBe(0);
    expect(c.tlb_flushes_ranged).toBe(0);
  });

  it('lazy (idle) targets are not IPIed: only the local flush is made', async () => {
    const k = 8;
    const { c, flushes } = await fanout({ targets: 'idle', pages: k });
    expect(c.ipis_sent).toBe(0);
    expect(c.nr_tlb_remote_flush_received).toBe(0);
    expect(c.invlpg).toBe(flushes * k);
  });

  // mainline's lazy mm_cpumask: dropping the mm leaves the CPU in the mask; the next flush with
  // freed tables reaches it once more, and it leaves the mask (flush_tlb_func)
  it('unless page tables were freed: then each lazy target is IPIed twice, to switch to init_mm and to leave mm_cpumask, and is skipped after', async () => {
    const { c } = await fanout({ targets: 'idle', pages: 8, freedTables: true });
    expect(c.ipis_sent).toBe(2 * TARGETS);
    expect(c.nr_tlb_remote_flush_received).toBe(2 * TARGETS);
  });
});

describe('compare: the flush schemes of the seed threads', () => {
  it('mprotect-toggle: the corrected pte_may_need_flush makes half the flushes and IPIs of always-flush, with no violation', async () => {
    const rows = await compare('mprotect-toggle', ['always-flush', 'skip-promotions'], [3]);
    const always = row(rows, 'always-flush', 3);
    const skip = row(rows, 'skip-promotions', 3);
    expect(always.operations).toBe(50);
    expect(always.shootdowns).toBe(2 * always.operations);
    expect(skip.shootdowns).toBe(skip.operations);
    expect(skip.ipis).toBe(always.ipis / 2);
    expect(always.violations + skip.violations).toBe(0);
  });

  it.each(['on-mm', 'off-mm'])('khugepaged-collapse (%s): skip-redundant-sync sends no sync IPI, one per collapse fewer than fixed, with no violation', async (variant) => {
    const rows = await compare('khugepaged-collapse', ['fixed', 'skip-redundant-sync'], [3], [variant]);
    const fixed = row(rows, 'fixed', 3);
    const skip = row(rows, 'skip-redundant-sync', 3);
    expect(skip.syncIpis).toBe(0);
    // one per collapse: munmap frees its table through RCU, with no sync IPI
    expect(fixed.syncIpis).toBe(fixed.operations);
    expect(skip.ipis).toBe(fixed.ipis - fixed.syncIpis * 2);
    expect(fixed.violations + skip.violations).toBe(0);
  });

  it('numa-scan: without the PID filter every scan changes every VMA; with it, only the first two do', async () => {
    const cpus = 3;
    const rows = await compare('numa-scan', ['mainline', 'no-pid-filter'], [cpus]);
    const filtered = row(rows, 'mainline', cpus);
    const all = row(rows, 'no-pid-filter', cpus);
    const [scans, pages] = [10, 16];
    expect(all.counters.numa_pte_updates).toBe(scans * cpus * pages);
    expect(filtered.counters.numa_pte_updates).toBe(2 * cpus * pages + (scans - 2) * pages);
    // one flush per VMA changed, to every other CPU
    expect(all.ipis).toBe(scans * cpus * (cpus - 1));
    expect(filtered.ipis).toBe((2 * cpus + scans - 2) * (cpus - 1));
    expect(filtered.violations + all.violations).toBe(0);
  });

  it('reclaim-storm: the completed generation skips only flushes already covered, with no violation', async () => {
    const rows = await compare('reclaim-storm', ['mainline', 'completed-gen'], [3]);
    const mainline = row(rows, 'mainline', 3);
    const skipping = row(rows, 'completed-gen', 3);
    expect(mainline.counters.deferred_flushes_skipped).toBe(0);
    expect(skipping.counters.deferred_flushes_skipped).toBe(skipping.counters.deferred_flushes_redundant);
    expect(mainline.operations).toBeGreaterThan(40);
    expect(mainline.violations + skipping.violations).toBe(0);
  });
});
