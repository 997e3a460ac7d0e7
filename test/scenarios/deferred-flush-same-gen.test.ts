/*
 * deferred-flush-same-gen: the interleaving forced (batched-workloads switchBack), then the
 * scenario's own programs. With the buggy switch on top of fixed the free-running harness shows
 * the race in its first trial (measured, noise high, 3 CPUs on 2 cores: the first trial for each
 * of seeds 1-13); the 40 trials the fixed kernel must stay clean over are far above that.
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, diskValue } from '../fixtures/batched-workloads.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import scenario from '../../src/scenario/catalog/deferred-flush-same-gen.ts';
import { fixedAndMutation, forced, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 3 });

describe('deferred-flush-same-gen: a CPU switches back to an mm whose pages reclaim unmapped while it was away', () => {
  // fixed: switch_mm sees a newer generation, flushes, and the read faults the page back in;
  // with the generation reused it keeps the PCID entries and reads the freed frame
  fixedAndMutation(scenario, forced<number | null>(machine, scenario, fixtureUrl('batched-workloads', 'switchBack'), { seed: 43 }, {
    exercised: (r) => {
      expect(r.results[2]).toBe(1);
      expect(r.results[1]).toBe(diskValue('x', 0));
    },
    report: (v, r) => {
      expect(r.results[2]).toBe(1);
      expect(v).toMatchObject({ cpu: 1, va: BASE });
    },
  }));

  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 9, trials: 40, noiseShift: NOISE_LEVELS.high }, {
    exercised: (r) => expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0),
  }));
});
