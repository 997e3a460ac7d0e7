/*
 * fault-scaling under compare: exact fault counts (the workload is deterministic in them), every
 * fault under the VMA lock with perVmaLock=on and none with off, and its own columns in the table.
 */
import { describe, expect, it } from 'vitest';
import { resolveScenario } from '../../src/campaign/stress.ts';
import { columnValue, formatCompare, runCompare } from '../../src/campaign/compare.ts';
import { DEFAULT_COST_MODEL } from '../../src/cost/model.ts';

const ROUNDS = 4;
const WARMUP = 1;
const VMAS = 3;
const PAGES = 8;
const CPUS = 2;
const SCRATCH_PAGES = 4;

describe('fault-scaling', () => {
  it('counts every fault of the timed passes, all under the VMA lock with perVmaLock=on and none with off, and reports its own columns', async () => {
    const report = await runCompare({
      resolved: await resolveScenario('fault-scaling'),
      kernels: ['perVmaLock=on', 'perVmaLock=off'],
      set: [],
      variants: [''],
      params: [`rounds=${ROUNDS}`, `warmup=${WARMUP}`, `vmas=${VMAS}`, `pages=${PAGES}`],
      cpus: [CPUS],
      seed: 5,
      trials: 1,
      noiseShift: -1,
      costModel: DEFAULT_COST_MODEL,
    });
    const [on, off] = report.rows;
    // every page of every VMA, and the scratch pages, once a pass, on every CPU
    const faults = CPUS * (ROUNDS + WARMUP) * (VMAS * PAGES + SCRATCH_PAGES);
    for (const row of [on, off]) {
      expect(row.operations).toBe(CPUS * ROUNDS * VMAS * PAGES);
      expect(row.counters.page_faults).toBe(faults);
      expect(row.violations).toBe(0);
      // a CPU unmaps only its own scratch range: no fault finds a VMA detached under it
      expect(row.counters.vma_lock_miss).toBe(0);
    }
    expect(on.counters.vma_lock_success).toBe(faults);
    expect(on.counters.vma_lock_abort).toBe(0);
    // no fault took the mmap_lock, so none waited for it
    expect(on.counters.mmap_lock_fault_waits).toBe(0);
    expect(on.counters.mmap_lock_fault_wait_us).toBe(0);
    expect(off.counters.vma_lock_success).toBe(0);
    expect(off.counters.vma_lock_abort).toBe(0);

    const headers = (report.columns ?? []).map((c) => c.header);
    expect(headers).toContain('faults/s');
    expect(headers).toContain('fault waits');
    const col = (h: string) => report.columns!.find((c) => c.header === h)!;
    expect(columnValue(col('faults/s'), on)).toBeGreaterThan(0);
    expect(columnValue(col('VMA-locked %'), on)).toBe(100);
    expect(columnValue(col('VMA-locked %'), off)).toBe(0);
    const text = formatCompare(report);
    expect(text).toMatch(/kernel\s+cpus\s+ops\s+faults\/s\s+faults\s+VMA-locked %/);
    expect(text).not.toMatch(/CPUs\/shootdown/);
  });
});
