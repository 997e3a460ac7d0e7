/*
 * handle_pte_fault's end (kernel/fault.ts handlePtePresent) with ptep_set_access_flags, on arm64
 * CPUs without FEAT_HAFDBS, where every first access to an old PTE and every first write to a
 * writable-clean one faults; and the fault-loop oracle (cpu/cpu.ts, check/oracle.ts): shown to
 * fire on a handler that reports faults resolved without changing the PTE, and to stay silent on
 * mainline's handler.
 */
import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, type FaultLoopResult, type SoftwareAdResult } from '../fixtures/access-flags-workloads.ts';
import { Arch } from '../../src/arch/arch.ts';
import { FAULT_LOOP_ROUNDS } from '../../src/check/oracle.ts';
import { SIGSEGV } from '../../src/cpu/cpu.ts';
import { PTE_AF, PTE_DIRTY, PTE_RDONLY, PTE_WRITE } from '../../src/machine/pte-arm64.ts';
import { FAULT_PROTECTION } from '../../src/machine/walker.ts';
import { FAULT_ACCESS_FLAG } from '../../src/machine/walker-arm64.ts';

const machine = useMachine({ cpus: 3 });
const workload = (name: string) => fixtureUrl('access-flags-workloads', name);
const ARM64_NO_HAFDBS = { arch: Arch.Arm64, hardware: { hafdbs: false } };

describe('ptep_set_access_flags on arm64 without FEAT_HAFDBS', () => {
  it('three CPUs racing over old and clean pages get every access through, the kernel making the PTEs young and dirty', async () => {
    const run = await machine().run<unknown, SoftwareAdResult, object>(workload('softwareAd'), { pages: 32, rounds: 6 }, { seed: 21, ...ARM64_NO_HAFDBS });
    expect(run.violations).toEqual([]);
    for (const r of run.results) expect(r).toEqual({ failed: 0, wrong: 0 });
    // after each MADV_FREE (5 rounds) every page's first write faults for dirty, and in the 3
    // read-first ones among them its first read for AF (the first round maps the pages dirty)
    expect(run.counters.pte_set_access_flags_dirty).toBeGreaterThanOrEqual(32 * 5);
    expect(run.counters.pte_set_access_flags_young).toBeGreaterThanOrEqual(32 * 3);
  });

  it('with FEAT_HAFDBS the walker makes the same accesses without faulting for AF or dirty', async () => {
    const run = await machine().run<unknown, SoftwareAdResult, object>(workload('softwareAd'), { pages: 32, rounds: 6 }, { seed: 21, arch: Arch.Arm64 });
    expect(run.violations).toEqual([]);
    for (const r of run.results) expect(r).toEqual({ failed: 0, wrong: 0 });
    // only a fault that raced with another CPU's mapping of the page can find a present PTE
    expect(run.counters.pte_set_access_flags_young + run.counters.pte_set_access_flags_dirty).toBeLessThan(32);
  });

  it('on x86 the same workload runs clean', async () => {
    const run = await machine().run<unknown, SoftwareAdResult, object>(workload('softwareAd'), { pages: 32, rounds: 6 }, { seed: 21 });
    expect(run.violations).toEqual([]);
    for (const r of run.results) expect(r).toEqual({ failed: 0, wrong: 0 });
  });
});

describe('the fault-loop oracle', () => {
  it('reports a handler that says a write fault on a writable-clean PTE is resolved and changes nothing, then fails the store', async () => {
    const run = await machine().run<unknown, FaultLoopResult | null, object>(workload('faultLoop'), { kernel: false }, { seed: 22, ...ARM64_NO_HAFDBS });
    const r = run.results[0] as FaultLoopResult;
    expect(r.loaded).toBe(true);
    expect(r.pteBefore & (PTE_WRITE | PTE_RDONLY | PTE_AF)).toBe(PTE_WRITE | PTE_RDONLY | PTE_AF);
    expect(r).toMatchObject({ stored: false, lastSignal: SIGSEGV, pteAfter: r.pteBefore });
    expect(run.violations.map((v) => [v.kind, v.cpu, v.va])).toEqual([['fault-loop', 0, BASE]]);
    const [pte, , code, write, rounds] = run.violations[0].details;
    expect([pte, code, write, rounds]).toEqual([r.pteBefore, FAULT_PROTECTION, 1, FAULT_LOOP_ROUNDS]);
    // the read's fault; the store's first fault (whose PTE the oracle did not read), one per
    // round, and the one that is reported
    expect(run.counters.page_faults).toBe(1 + 1 + FAULT_LOOP_ROUNDS + 1);
  });

  it('reports the same for a load from an old page: an access-flag fault the handler never fixes', async () => {
    const run = await machine().run<unknown, FaultLoopResult | null, object>(workload('faultLoop'), { kernel: false, read: true }, { seed: 23, ...ARM64_NO_HAFDBS });
    const r = run.results[0] as FaultLoopResult;
    expect(r.pteBefore & PTE_AF).toBe(0);
    expect(r).toMatchObject({ loaded: true, stored: false, lastSignal: SIGSEGV, pteAfter: r.pteBefore });
    expect(run.violations.map((v) => [v.kind, v.cpu, v.va, v.details[2], v.details[3]])).toEqual([['fault-loop', 0, BASE, FAULT_ACCESS_FLAG, 0]]);
  });

  it('stays silent on the kernel\'s handler: the store faults once and ptep_set_access_flags makes the PTE dirty', async () => {
    const run = await machine().run<unknown, FaultLoopResult | null, object>(workload('faultLoop'), { kernel: true }, { seed: 22, ...ARM64_NO_HAFDBS });
    const r = run.results[0] as FaultLoopResult;
    expect(run.violations).toEqual([]);
    expect(r).toMatchObject({ loaded: true, stored: true, lastSignal: 0 });
    expect(r.pteAfter & (PTE_WRITE | PTE_RDONLY | PTE_DIRTY)).toBe(PTE_WRITE | PTE_DIRTY);
    expect(run.counters.pte_set_access_flags_dirty).toBe(1);
    const read = await machine().run<unknown, FaultLoopResult | null, object>(workload('faultLoop'), { kernel: true, read: true }, { seed: 23, ...ARM64_NO_HAFDBS });
    expect(read.violations).toEqual([]);
    expect(read.results[0]).toMatchObject({ loaded: true, stored: true, lastSignal: 0 });
    expect(read.counters.pte_set_access_flags_young).toBe(1);
  });

  it('stays silent where the hardware dirties the PTE itself: the do-nothing handler is never called', async () => {
    for (const opts of [{ arch: Arch.Arm64 }, {}]) {
      const run = await machine().run<unknown, FaultLoopResult | null, object>(workload('faultLoop'), { kernel: false }, { seed: 22, ...opts });
      expect(run.violations).toEqual([]);
      expect(run.results[0]).toMatchObject({ loaded: true, stored: true, lastSignal: 0 });
    }
  });
});
