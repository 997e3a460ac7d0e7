import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE } from '../fixtures/flush-workloads.ts';

const machine = useMachine({ cpus: 2 });
const quiet = { seed: 5, speculationShift: -1 };

describe('the use-after-free oracle', () => {
  it('catches a load through a TLB entry whose frame was freed and reused without a flush', async () => {
    const run = await machine().run<unknown, number | null, object>(fixtureUrl('flush-workloads', 'freeThenAccess'), { flush: false }, quiet);
    // the stale translation reads the new owner's data
    expect(run.results[1]).toBe(0x5ec7e7);
    expect(run.violationCount).toBe(1);
    expect(run.violations[0]).toMatchObject({ kind: 'use-after-free', cpu: 1, va: BASE });
  });

  it('sees nothing when the flush comes before the free: the access faults instead', async () => {
    const run = await machine().run<unknown, number | null, object>(fixtureUrl('flush-workloads', 'freeThenAccess'), { flush: true }, quiet);
    expect(run.results[1]).toBeNaN();
    expect(run.violationCount).toBe(0);
  });
});
