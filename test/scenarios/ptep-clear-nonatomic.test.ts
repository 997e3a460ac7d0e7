import { describe, expect, it } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { runTrials } from '../../src/campaign/trials.ts';
import scenario from '../../src/scenario/catalog/ptep-clear-nonatomic.ts';

const url = new URL('../../src/scenario/catalog/ptep-clear-nonatomic.ts', import.meta.url).href;
const machine = useMachine({ cpus: 4 });
// race windows stretched at about one visit in 4 (--noise high)
const NOISE = 2;

describe('ptep-clear-nonatomic', () => {
  // measured: 1 or 2 trials for seeds 1-5, 11, 12; 10 trials is 5x the worst
  it.each([11, 12])('buggy (read-then-clear): reclaim discards a page written after MADV_FREE, within 10 trials (seed %i)', async (seed) => {
    const r = await runTrials(machine(), { url, scenario, preset: 'buggy', seed, trials: 10, noiseShift: NOISE, stopOnFirst: true });
    expect(r.firstViolation).toMatchObject({ kind: 'lost-write' });
    expect([1, 2]).toContain(r.firstViolation?.cpu);
  });

  it('fixed (xchg): no write is lost in 60 trials of 20 rounds (seed 21)', async () => {
    const r = await runTrials(machine(), { url, scenario, preset: 'fixed', seed: 21, trials: 60, noiseShift: NOISE });
    expect(r.trials).toBe(60);
    expect(r.reports).toBe(0);
    // MADV_FREE and reclaim really flushed other CPUs' TLBs while the writers ran
    expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0);
  });
});
