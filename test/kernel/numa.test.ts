import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { HintingResult, MigrateResult, PendingMigrationResult, ScanFilterResult } from '../fixtures/mprotect-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const CPUS = 4;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('mprotect-workloads', name);
const kernel = (...switches: string[]) => applySwitches(defaultKernelConfig(), switches);
/** handshake-ordered workloads: no speculative walk may refill a TLB entry behind the test's back */
const quiet = { speculationShift: -1 };

describe('NUMA hinting', () => {
  it('restores access on each hinting fault, records the faulting CPU\'s PID bit, and migrates pages once another CPU has faulted in the VMA', async () => {
    const pages = 8;
    const run = await machine().run<unknown, HintingResult, object>(workload('numaHintingTurns'), { pages }, { seed: 21 });
    const perCpu = pages / CPUS;
    run.results.forEach((r, cpu) => {
      expect(r, `CPU ${cpu}`).toMatchObject({ loadsOk: perCpu, storesOk: perCpu, wrongData: 0 });
    });
    const r0 = run.results[0];
    expect(r0.hinted).toBe(pages);
    expect(r0.protnoneAfterScan).toBe(pages);
    expect(r0.presentPages).toBe(pages);
    expect(r0.pidBits).toBe(0b1111);
    // CPU 0 faulted first and found no other CPU's bit; CPUs 1-3 each found CPU 0's
    expect(r0.movedPages).toEqual([1, 2, 3, 5, 6, 7]);
  });

  it('skips, with filterByPid, a VMA in which the scanning CPU never took a hinting fault', async () => {
    const pages = 6;
    const run = await machine().run<unknown, ScanFilterResult | null, object>(workload('numaScanFilter'), { pages }, { seed: 22 });
    const r0 = run.results[0]!;
    // scan 1 unfiltered: both VMAs; scan 2 by CPU 1: only P; scan 3 by CPU 0: only Q although
    // P was present again; scan 4 unfiltered: P, whose PTEs scan 3 had left alone
    expect(r0.scans).toEqual([2 * pages, pages, pages, pages]);
    expect(r0.pidsP).toBe(0b10);
    expect(r0.pidsQ).toBe(0b01);
    expect(run.results[1]!.readsOk).toBe(2 * pages);
  });
});

describe('page migration', () => {
  it('keeps every write, and shows readers no garbage, while CPUs read and write a page migrated again and again', async () => {
    const rounds = 100;
    const run = await machine().run<unknown, MigrateResult, object>(workload('migrateUnderAccess'), { rounds }, { seed: 23 });
    run.results.forEach((r, cpu) => {
      expect(r, `CPU ${cpu}`).toMatchObject({ failedStores: 0, lostWrites: 0, wentBack: 0, finalWrong: 0 });
    });
    expect(run.results[0].migrations).toBe(rounds);
    expect(run.results[0].pfnChanges).toBe(rounds);
  });

  it.each(['mmu-gather', 'flush-pending'])(
    'flushes before copying a PROT_NONE page whose deferred flush is still pending, so a CPU writing through its TLB loses nothing (mprotectBatching=%s)',
    async (batching) => {
      const run = await machine().run<unknown, PendingMigrationResult | null, object>(workload('migrateWhileFlushPending'), {}, { ...quiet, seed: 24, kernel: kernel(`mprotectBatching=${batching}`) });
      expect(run.results[0]).toEqual({ hinted: 1 });
      expect(run.results[1]).toEqual({ valueSeen: 111, migrated: true });
      expect(run.results[2]).toEqual({ stored: true, valueAfterFlush: 222 });
    },
  );

  it('loses the write when pte_accessible ignores the pending flush (pteAccessibleChecksPending=off)', async () => {
    const run = await machine().run<unknown, PendingMigrationResult | null, object>(workload('migrateWhileFlushPending'), {}, { ...quiet, seed: 25, kernel: kernel('pteAccessibleChecksPending=off') });
    expect(run.results[1]).toEqual({ valueSeen: 111, migrated: true });
    // the store went through the stale entry into the old frame, after the copy
    expect(run.results[2]).toEqual({ stored: true, valueAfterFlush: 111 });
  });
});
