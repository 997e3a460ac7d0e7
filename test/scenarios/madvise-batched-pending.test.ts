/*
 * madvise-batched-pending: the interleaving forced (batched-workloads madvisePending: kswapd's
 * batched flush held up by a reader with IRQs off while MADV_DONTNEED runs), then the scenario's
 * own programs. With the buggy switch on top of fixed the free-running harness shows the race
 * within 5 trials (measured, noise high, 3 CPUs on 2 cores: the first trial for each of seeds
 * 1-8, then 2, 2, 5, 1, 1 for seeds 9-13); the 60 trials the fixed kernel must stay clean over are
 * far above that.
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, diskValue } from '../fixtures/batched-workloads.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import scenario from '../../src/scenario/catalog/madvise-batched-pending.ts';
import { fixedAndMutation, forced, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 3 });

describe('madvise-batched-pending: MADV_DONTNEED against a batched, unflushed unmap by reclaim', () => {
  // fixed: flush_tlb_batched_pending under the PTL flushes the reader before MADV_DONTNEED
  // returns (the read came while MADV_DONTNEED still waited for its acknowledgement); without
  // it, MADV_DONTNEED finds the PTE cleared, returns without flushing, and the reader still reads
  // the page through the stale entry
  fixedAndMutation(scenario, forced<number | null>(machine, scenario, fixtureUrl('batched-workloads', 'madvisePending'), { seed: 41 }, {
    exercised: (r) => expect(r.results[1]).toBe(diskValue('x', 0)),
    report: (v, r) => {
      expect(v).toMatchObject({ cpu: 1, va: BASE });
      expect(r.results[1]).toBe(diskValue('x', 0));
    },
  }));

  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 9, trials: 60, noiseShift: NOISE_LEVELS.high }, {
    exercised: (r) => expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0),
  }));
});
