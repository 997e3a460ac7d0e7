/*
 * Adversarial scenarios of the suite's own (test/fixtures/adversarial-*.ts): races' workloads
 * made harder, run under mainline, where no oracle may report anything, and in the same harness
 * with a buggy switch on top, where the scenario's forbidden outcome must appear (so that the
 * harness can fail at all).
 *
 *   dontneed-file-writeback   two zappers, a writer and a writeback loop on a shared file, the
 *                             data check on the synced file; buggy: delayedRmap=off
 *   discard-under-reclaim     MADV_FREE, MADV_DONTNEED and reclaim over recorded anonymous
 *                             stores, the data check read back; buggy: read-then-clear
 *
 * Measured on 4 CPUs over seeds 1-5 and 91 with the buggy switch: the first lost write in trial 1
 * every time (file); the first lost data in trial 6, 1, 14, 2, 4, 1 (anon). 40 trials keep a margin.
 */
import { describe } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import type { Scenario } from '../../src/scenario/scenario.ts';
import fileScenario from '../fixtures/adversarial-file.ts';
import anonScenario from '../fixtures/adversarial-anon.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 4 });

describe.each<[string, Scenario]>([
  ['adversarial-file', fileScenario],
  ['adversarial-anon', anonScenario],
])('%s', (fixture, scenario) => {
  const url = new URL(`../fixtures/${fixture}.ts`, import.meta.url).href;
  fixedAndMutation(scenario, freeRunning(machine, scenario, { url, seed: 91, trials: 40, noiseShift: NOISE_LEVELS.high }));
});
