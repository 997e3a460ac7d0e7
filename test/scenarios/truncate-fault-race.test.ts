/*
 * truncate-fault-race: forced, the fault held between its page-cache lookup and its page lock for
 * the whole truncate. Free running, `stress --kernel buggy --stop-on-first` found it after 4 to 287
 * trials (0.3 to 6.7 s, seeds 1-10, 3 CPUs on 2 cores): too spread for a bounded test; the forced
 * run meets the window every time, on each architecture.
 */
import { describe, expect } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { Arch, archName } from '../../src/arch/arch.ts';
import scenario from '../../src/scenario/catalog/truncate-fault-race.ts';
import { SIGBUS, type FaultRaceResult } from '../fixtures/truncate-workloads.ts';
import { fixedAndMutation, forced } from './harness.ts';

const machine = useMachine({ cpus: 3 });

for (const arch of [Arch.X86, Arch.Arm64]) describe(`truncate-fault-race on ${archName(arch)}: a read fault that found its page before a truncate removed it`, () => {
  fixedAndMutation(scenario, forced<FaultRaceResult | number | null>(machine, scenario, fixtureUrl('truncate-workloads', 'truncateDuringFault'), { seed: 1, arch }, {
    // the fault looked again under the page lock, found the page gone and past i_size: SIGBUS
    exercised: (r) => {
      expect(r.results[0]).toEqual({ faulting: SIGBUS, after: SIGBUS });
      expect(r.results[1]).toBe(0);
    },
    // the load after the truncate returned read the dangling page, on the faulting CPU
    report: (v) => expect(v.cpu).toBe(0),
  }));
});
