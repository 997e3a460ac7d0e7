/*
 * madvise-batched-pending: the interleaving forced (batched-workloads madvisePending: kswapd's
 * batched flush held up by a reader with IRQs off while MADV_DONTNEED runs), then the scenario's
 * own programs. The reader's fault waits for the page lock, which kswapd holds across its
 * batched flush, so the free race is rarer than the window alone would make it: with the buggy
 * switch on top of fixed, 3 CPUs on 2 cores, noise low, 100 trials showed it 4, 3 and 8 times
 * (seeds 11-13; noise high fewer: 4, 1 and 2 in 60, seeds 9-11). The 400 trials here (about 10 s)
 * make a miss very unlikely, and the fixed kernel must stay clean over all of them.
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

  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 9, trials: 400, noiseShift: NOISE_LEVELS.low }, {
    exercised: (r) => expect(r.counters.nr_tlb_remote_flush).toBeGreaterThan(0),
  }));
});
