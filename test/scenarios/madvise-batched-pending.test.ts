import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, diskValue } from '../fixtures/batched-workloads.ts';
import scenario from '../../src/scenario/catalog/madvise-batched-pending.ts';
import { kernelFor, runTrials } from '../../src/campaign/trials.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';

// The race itself, forced: kswapd's batched flush is held up by a reader with IRQs off while
// MADV_DONTNEED runs; then the free-running scenario.
const machine = useMachine({ cpus: 3 });
const url = new URL('../../src/scenario/catalog/madvise-batched-pending.ts', import.meta.url).href;
const run = (preset: string) =>
  machine().run<unknown, number | null, object>(fixtureUrl('batched-workloads', 'madvisePending'), {}, { seed: 41, speculationShift: -1, kernel: kernelFor(scenario, preset) });

describe('madvise-batched-pending: MADV_DONTNEED against a batched, unflushed unmap by reclaim', () => {
  it('buggy: MADV_DONTNEED finds the PTE cleared, returns without flushing, and the reader still reads the page', async () => {
    const r = await run('buggy');
    expect(r.violations[0]).toMatchObject({ kind: scenario.forbidden, cpu: 1, va: BASE });
    // through the stale entry: the page's data, not a fault
    expect(r.results[1]).toBe(diskValue('x', 0));
  });

  it('fixed: flush_tlb_batched_pending under the PTL flushes the reader before MADV_DONTNEED returns', async () => {
    const r = await run('fixed');
    expect(r.violationCount).toBe(0);
    // the read came while MADV_DONTNEED still waited for the reader's acknowledgement
    expect(r.results[1]).toBe(diskValue('x', 0));
  });

  // measured: the first trial, for each of seeds 1-5 (trials to first violation: 1, 1, 1, 1, 1)
  it.each([7, 8])('buggy: the free-running scenario reproduces within 10 trials (seed %i)', async (seed) => {
    const r = await runTrials(machine(), { url, scenario, preset: 'buggy', seed, trials: 10, noiseShift: NOISE_LEVELS.high, stopOnFirst: true });
    expect(r.firstViolation).toMatchObject({ kind: 'access-after-return', va: expect.any(Number) });
    expect(r.violations).toBe(1);
  });

  it('fixed: no access after MADV_DONTNEED returned over 60 free-running trials (seed 9)', async () => {
    const r = await runTrials(machine(), { url, scenario, preset: 'fixed', seed: 9, trials: 60, noiseShift: NOISE_LEVELS.high });
    expect(r.trials).toBe(60);
    expect(r.reports).toBe(0);
    expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0);
  });
});
