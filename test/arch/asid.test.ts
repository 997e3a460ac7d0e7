/*
 * The arm64 ASID allocator (arch/arm64/context.ts) on real CPU threads, in arm64 runs with 3-bit
 * ASIDs (switch_mm is check_and_switch_context): CPUs switching among twelve mms never give one
 * ASID to two live mms in a generation nor translate through another mm's entries; and the
 * rollover race that a8ffaaa060b8 closed, forced with handshakes, under the fast path before it
 * (xchg) and under mainline's (cmpxchg).
 */
import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, type RolloverRace, type Switching } from '../fixtures/asid-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { Arch } from '../../src/arch/arch.ts';

const machine = useMachine({ cpus: 3 });
const workload = (name: string) => fixtureUrl('asid-workloads', name);
const kernel = (fastPath: string) => applySwitches(defaultKernelConfig(), [`arm64AsidFastPath=${fastPath}`], Arch.Arm64);
/** an arm64 run with 3-bit ASIDs */
const arm64 = (seed: number, fastPath: string) => ({ seed, kernel: kernel(fastPath), arch: Arch.Arm64, hardware: { asidBits: 3 } });

describe('the arm64 ASID allocator', () => {
  it('under cmpxchg: three CPUs switching among twelve mms with 3-bit ASIDs roll over often, never share an ASID between live mms, never translate through another mm\'s entry', async () => {
    const run = await machine().run<unknown, Switching, object>(workload('switching'), { mms: 12, rounds: 1500 }, arm64(11, 'cmpxchg'));
    expect(run.violations).toEqual([]);
    for (const r of run.results) expect(r).toMatchObject({ switches: 1500, wrong: 0, shared: 0, firstShared: null });
    expect(run.counters.asid_rollovers).toBeGreaterThan(50);
    expect(run.counters.asid_fast_path).toBeGreaterThan(0);
    expect(run.counters.asid_slow_path).toBeGreaterThan(run.counters.asid_rollovers);
    // every CPU flushes once per generation it switches in
    expect(run.counters.local_flush_all).toBeGreaterThan(run.counters.asid_rollovers);
    expect(run.counters.asid_fast_path + run.counters.asid_slow_path).toBe(3 * 1500);
  });

  it('under xchg, the forced interleaving leaves two live mms with one ASID in one generation, and T2 reads through T1\'s TLB entry (foreign-translation)', async () => {
    const run = await machine().run<unknown, RolloverRace | null, object>(workload('rolloverRace'), {}, arm64(12, 'xchg'));
    const [p1, p2] = run.results as RolloverRace[];
    expect(p2.rollovers).toBe(2);
    expect(p2.shared).toHaveLength(1);
    expect(p1).toMatchObject({ asidT1: 1, asidT2: 1, sameContextId: true });
    expect(p1.readAsT2).toBe(p1.t1Marker);
    const foreign = run.violations.filter((v) => v.kind === 'foreign-translation');
    expect(foreign.map((v) => [v.cpu, v.va])).toEqual([[0, BASE]]);
    expect(run.violations.map((v) => v.kind)).toEqual(['foreign-translation']);
  });

  it('under cmpxchg, the same handshakes leave every live mm its own ASID, and T2 reads its own page', async () => {
    const run = await machine().run<unknown, RolloverRace | null, object>(workload('rolloverRace'), {}, arm64(12, 'cmpxchg'));
    const [p1, p2] = run.results as RolloverRace[];
    expect(p2.rollovers).toBe(2);
    expect(p2.shared).toEqual([]);
    expect(p1.sameContextId).toBe(false);
    expect(p1.asidT1).not.toBe(p1.asidT2);
    expect(p1.readAsT2).toBe(p1.t2Marker);
    expect(run.violations).toEqual([]);
  });
});
