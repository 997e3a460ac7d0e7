import { describe, expect, it } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { runTrials } from '../../src/campaign/trials.ts';
import scenario from '../../src/scenario/catalog/migrate-flush-pending.ts';

const url = new URL('../../src/scenario/catalog/migrate-flush-pending.ts', import.meta.url).href;
const machine = useMachine({ cpus: 4 });
const NOISE = 2;

describe('migrate-flush-pending', () => {
  // measured: the first trial for each of seeds 100-500; 10 trials is 10x that
  it.each([51, 52])('buggy (pte_accessible ignores the pending flush): a CPU stores into the frame migration freed, within 10 trials (seed %i)', async (seed) => {
    const r = await runTrials(machine(), { url, scenario, preset: 'buggy', seed, trials: 10, noiseShift: NOISE, stopOnFirst: true });
    expect(r.firstViolation).toMatchObject({ kind: 'use-after-free' });
    expect([2, 3]).toContain(r.firstViolation?.cpu);
  });

  it('fixed: no store lands in a migrated-away frame in 40 trials (seed 61)', async () => {
    const r = await runTrials(machine(), { url, scenario, preset: 'fixed', seed: 61, trials: 40, noiseShift: NOISE });
    expect(r.trials).toBe(40);
    expect(r.reports).toBe(0);
  });
});
