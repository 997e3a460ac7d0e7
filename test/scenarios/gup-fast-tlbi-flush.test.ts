/*
 * gup-fast-tlbi-flush: the scenario's programs under PCT (parallel 1, deterministic), as the main
 * job runs a rare race: with the buggy switch the first trial shows the freed-table walk (seeds 1
 * and 2); the fixed kernel sends the sync IPI after the collapse's TLBI flush and stays clean.
 */
import { describe, expect } from 'vitest';
import { useMachine } from '../fixtures/machine.ts';
import { Arch } from '../../src/arch/arch.ts';
import { NOISE_LEVELS } from '../../src/campaign/noise.ts';
import { parseScheduleMode } from '../../src/schedule/control.ts';
import scenario from '../../src/scenario/catalog/gup-fast-tlbi-flush.ts';
import { fixedAndMutation, freeRunning } from './harness.ts';

const CPUS = scenario.cpus;
const machine = useMachine({ cpus: CPUS });
const pct = parseScheduleMode('pct', '1', CPUS);

describe('gup-fast-tlbi-flush: khugepaged skips the sync IPI after a TLBI flush on arm64', () => {
  fixedAndMutation(scenario, freeRunning(machine, scenario, { seed: 1, trials: 10, noiseShift: NOISE_LEVELS.low, schedule: pct, arch: Arch.Arm64 }, {
    // the collapse flushed by TLBI and DSB (no flush IPI), sent the sync IPI, and freed tables
    exercised: (r) => {
      expect(r.counters.ipis_sent).toBeGreaterThan(0);
      expect(r.counters.tlb_remove_table_sync_one).toBeGreaterThan(0);
      expect(r.counters.page_tables_freed).toBeGreaterThan(0);
    },
    report: (v) => expect(v.cpu).toBeGreaterThan(0),
  }));
});
