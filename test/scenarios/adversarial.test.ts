/*
 * Adversarial scenarios of the suite's own (test/fixtures/adversarial-*.ts): races' workloads
 * made harder, run under mainline, where no oracle may report anything.
 *
 *   dontneed-file-writeback   two zappers, a writer and a writeback loop on a shared file, the
 *                             data check on the synced file. The same harness with its buggy
 *                             switch (delayedRmap=off) on top shows the lost write: the first one
 *                             came in trial 1 on 4 CPUs for seeds 1-5 and 91.
 *   discard-under-reclaim     MADV_FREE, MADV_DONTNEED and reclaim over recorded anonymous
 *                             stores, the data check read back. Its buggy switch (read-then-clear)
 *                             loses data in about 3 trials of 100 (seed 91, 4 CPUs): a loss counts
 *                             only after the page's last MADV_FREE, and CPU 0 frees the pages every
 *                             round. Too rare for the suite; `npx shootdown stress
 *                             test/fixtures/adversarial-anon.ts --cpus 4 --noise high --trials 200`
 *                             shows it. What it relies on, that the data check finds a store a
 *                             discard took, is tested deterministically in test/check/data.test.ts.
 */
import { describe, it } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import fileScenario from '../fixtures/adversarial-file.ts';
import anonScenario from '../fixtures/adversarial-anon.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 4 });
const fixture = (name: string) => new URL(`../fixtures/${name}.ts`, import.meta.url).href;
const o = { seed: 91, trials: 40, noiseShift: NOISE_LEVELS.high };

describe('adversarial-file', () => {
  fixedAndMutation(fileScenario, freeRunning(machine, fileScenario, { ...o, url: fixture('adversarial-file') }));
});

describe('adversarial-anon', () => {
  const h = freeRunning(machine, anonScenario, { ...o, url: fixture('adversarial-anon') });
  it(`fixed: ${h.what}, no report`, async () => h.expectClean(await h.run('fixed')));
});
