import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import scenario from '../../src/scenario/catalog/reclaim-global-asid.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const machine = useMachine({ cpus: 5 });

describe('reclaim-global-asid: reclaim\'s batched flush under INVLPGB', () => {
  // measured: the buggy preset reports in the first trial (24 and 27 use-after-free reports in
  // it, two runs); fixed ran 78 trials in 60 s with a global ASID in each and no report
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 5, trials: 6, noiseShift: NOISE_LEVELS.low }, {
    // the mm got its global ASID and reclaim flushed by broadcast
    exercised: (r) => {
      expect(r.counters.global_asids_assigned).toBeGreaterThan(0);
      expect(r.counters.invlpgb).toBeGreaterThan(0);
    },
    report: (v) => expect(v.cpu).toBeLessThan(4),
  }));
});
