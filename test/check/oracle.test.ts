import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE } from '../fixtures/flush-workloads.ts';
import { BASE as ORACLE_BASE } from '../fixtures/oracle-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

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

describe('the oracles against their races, interleavings forced', () => {
  const machine3 = useMachine({ cpus: 3 });
  const run = (name: string, switches: string[]) =>
    machine3().run<unknown, number | null, object>(fixtureUrl('oracle-workloads', name), {}, { ...quiet, kernel: applySwitches(defaultKernelConfig(), switches) });

  it('sees an access after MADV_DONTNEED returned when a nested gather does not force its flush', async () => {
    const r = await run('nestedDontneed', ['nestedForceFlush=off']);
    expect(r.results[2]).toBe(7);
    expect(r.violations[0]).toMatchObject({ kind: 'access-after-return', cpu: 2, va: ORACLE_BASE });
  });

  it('sees no access after MADV_DONTNEED returned when the nested gather forces its flush', async () => {
    const r = await run('nestedDontneed', []);
    // the access faults and maps a fresh zero page
    expect(r.results[2]).toBe(0);
    expect(r.violationCount).toBe(0);
  });

  it('sees the lost write when the rmap goes before the flush and writeback cleans the page meanwhile', async () => {
    const r = await run('dirtyWindow', ['delayedRmap=off']);
    expect(r.violations[0]).toMatchObject({ kind: 'lost-write', cpu: 1, va: ORACLE_BASE });
    // the disk holds the first store; the second landed on a page nobody will write back
    expect(r.results[2]).toBe(1);
  });

  it('sees no lost write with the delayed rmap: writeback waits for the flush and takes the store along', async () => {
    const r = await run('dirtyWindow', []);
    expect(r.violationCount).toBe(0);
    expect(r.results[2]).toBe(2);
  });

  it('sees a walk through a freed page table when a nested gather resets its range and skips the lazy CPU', async () => {
    const r = await run('lazyFreedTables', ['nestedRange=reset-range']);
    expect(r.violations[0]).toMatchObject({ kind: 'freed-table-walk', cpu: 1 });
  });

  it('sees no walk through a freed page table when the nested gather flushes everything with freed tables', async () => {
    const r = await run('lazyFreedTables', []);
    expect(r.violationCount).toBe(0);
  });
});
