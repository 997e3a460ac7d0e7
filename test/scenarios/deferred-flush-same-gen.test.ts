import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, diskValue } from '../fixtures/batched-workloads.ts';
import scenario from '../../src/scenario/catalog/deferred-flush-same-gen.ts';
import { kernelFor, runTrials } from '../../src/campaign/trials.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';

const machine = useMachine({ cpus: 3 });
const url = new URL('../../src/scenario/catalog/deferred-flush-same-gen.ts', import.meta.url).href;
const forced = (preset: string) =>
  machine().run<unknown, number | null, object>(fixtureUrl('batched-workloads', 'switchBack'), {}, { seed: 43, speculationShift: -1, kernel: kernelFor(scenario, preset) });

describe('deferred-flush-same-gen: a CPU switches back to an mm whose pages reclaim unmapped while it was away', () => {
  it('buggy (reuse): switch_mm finds the generation unchanged, keeps the PCID entries, and reads the freed frame', async () => {
    const r = await forced('buggy');
    expect(r.results[2]).toBe(1);
    expect(r.violations[0]).toMatchObject({ kind: scenario.forbidden, cpu: 1, va: BASE });
  });

  it('fixed (bump): switch_mm sees a newer generation, flushes, and the read faults the page back in', async () => {
    const r = await forced('fixed');
    expect(r.results[2]).toBe(1);
    expect(r.violationCount).toBe(0);
    expect(r.results[1]).toBe(diskValue('x', 0));
  });

  // measured: the first trial, for each of seeds 1-5 (trials to first violation: 1, 1, 1, 1, 1)
  it.each([7, 8])('buggy: the free-running scenario reproduces within 10 trials (seed %i)', async (seed) => {
    const r = await runTrials(machine(), { url, scenario, preset: 'buggy', seed, trials: 10, noiseShift: NOISE_LEVELS.high, stopOnFirst: true });
    expect(r.firstViolation).toMatchObject({ kind: 'use-after-free', va: expect.any(Number) });
    expect(r.violations).toBe(1);
  });

  it('fixed: no use after free over 40 free-running trials (seed 9)', async () => {
    const r = await runTrials(machine(), { url, scenario, preset: 'fixed', seed: 9, trials: 40, noiseShift: NOISE_LEVELS.high });
    expect(r.trials).toBe(40);
    expect(r.reports).toBe(0);
    expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0);
  });
});
