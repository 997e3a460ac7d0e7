/*
 * asid-rollover-active: the fast path of check_and_switch_context with a rollover on another CPU
 * between its generation check and its exchange, and a second one before it takes the lock. The
 * harness forces the interleaving (asid-workloads rolloverRace, an arm64 run with 3-bit ASIDs),
 * and runs the scenario's own programs free with noise high, which stretches both windows often
 * enough (with the default noise, low, the race needs both windows stretched at once and is
 * seen about once in several hundred trials).
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE as FIXTURE_BASE, type RolloverRace } from '../fixtures/asid-workloads.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import scenario, { BASE } from '../../src/scenario/catalog/asid-rollover-active.ts';
import { fixedAndMutation, forced, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 3 });

describe('asid-rollover-active: a rollover between the ASID fast path\'s check and its exchange', () => {
  // xchg leaves T1's old ASID in active_asids[0]; the second rollover reserves it beside T2's,
  // both keep ASID 1, and CPU 0 switching from T1 to T2 reads T1's page. cmpxchg stores nothing
  // on the 0, T1 gets a new ASID, and T2 reads its own page.
  fixedAndMutation(scenario, forced<RolloverRace | null>(machine, scenario, fixtureUrl('asid-workloads', 'rolloverRace'), { seed: 12 }, {
    exercised: (r) => {
      const [p1, p2] = r.results as RolloverRace[];
      expect(p2.rollovers).toBe(2);
      expect(p2.shared).toEqual([]);
      expect(p1.asidT1).not.toBe(p1.asidT2);
      expect(p1.readAsT2).toBe(p1.t2Marker);
    },
    report: (v, r) => {
      const [p1, p2] = r.results as RolloverRace[];
      expect(v).toMatchObject({ cpu: 0, va: FIXTURE_BASE });
      expect(p2.shared).toHaveLength(1);
      expect(p1).toMatchObject({ asidT1: 1, asidT2: 1, sameContextId: true });
      expect(p1.readAsT2).toBe(p1.t1Marker);
    },
  }));

  // the scenario's programs, noise high (both windows stretched on a quarter of the passes):
  // under mainline thousands of rollovers leave no alias; under xchg measured free-running, 3
  // CPUs, noise high: the first report in trial 1 or 2 for each of seeds 1-6, so 24 trials leave
  // a wide margin
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 101, trials: 24, noiseShift: NOISE_LEVELS.high }, {
    exercised: (r) => {
      expect(r.counters.asid_rollovers).toBeGreaterThan(1000);
      expect(r.counters.asid_fast_path).toBeGreaterThan(0);
      expect(r.counters.local_flush_all).toBeGreaterThan(r.counters.asid_rollovers);
    },
    report: (v) => {
      expect(v.va).toBeGreaterThanOrEqual(BASE);
      expect(v.va).toBeLessThan(BASE + 2 * PAGE_SIZE);
    },
  }));
});
