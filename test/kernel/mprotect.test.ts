import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { SubrangeResult, ToggleResult } from '../fixtures/mprotect-workloads.ts';
import { pteNeedsFlush, type MprotectFlushMode } from '../../src/kernel/mprotect.ts';
import { _PAGE_PROTNONE } from '../../src/machine/pte-x86.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PRESENT, _PAGE_RW, _PAGE_SOFTW2, _PAGE_USER, mkPte, ptePfn } from '../../src/machine/pte-x86.ts';

const P = _PAGE_PRESENT;
const RW = _PAGE_RW;
const US = _PAGE_USER;
const A = _PAGE_ACCESSED;
const D = _PAGE_DIRTY;
const RO = mkPte(0x10, P | US | A);
const pte = (flags: number) => mkPte(0x10, flags);
/** x86 PROT_NONE: P and US cleared, PROTNONE set, PFN, A and D kept (pte_modify to PAGE_NONE) */
const protnone = (flags: number) => mkPte(0x10, (flags & ~(P | US | RW)) | _PAGE_PROTNONE);

// [what changes, old PTE, new PTE, always, skip-promotions, rfc-condition, mainline]
const TABLE: [string, number, number, boolean, boolean, boolean, boolean][] = [
  ['write-protect of a clean PTE', pte(P | US | A | RW), RO, true, false, false, true],
  ['write-protect of a dirty PTE', pte(P | US | A | RW | D), pte(P | US | A | D), true, true, true, true],
  ['promotion to writable', RO, pte(P | US | A | RW), true, false, false, true],
  ['promotion of a dirty read-only PTE (the mprotect toggle)', pte(P | US | A | D), pte(P | US | A | D | RW), true, false, false, true],
  ['PROT_NONE (mprotect or NUMA hinting) of a writable dirty PTE', pte(P | US | A | RW | D), protnone(P | US | A | RW | D), true, true, true, true],
  ['new PFN', RO, mkPte(0x11, P | US | A), true, true, true, true],
  ['cleared PTE', RO, 0, true, true, true, true],
  ['user access taken away', RO, pte(P | A), true, true, true, true],
  ['execute taken away (NX set)', RO, pte(P | US | A | _PAGE_NX), true, true, true, true],
  ['execute granted (NX cleared)', pte(P | US | A | _PAGE_NX), RO, true, false, false, true],
  ['global bit cleared', pte(P | US | A | _PAGE_GLOBAL), RO, true, true, true, true],
  ['accessed bit cleared (aging only, as ptep_clear_flush_young)', RO, pte(P | US), true, false, false, false],
  ['software bit changed', RO, pte(P | US | A | _PAGE_SOFTW2), true, false, false, false],
  // where the posted condition differs from the corrected one: it flushes, the corrected one does not
  ['read-only dirty PTE cleaned', pte(P | US | A | D), RO, true, false, true, true],
  ['read-only dirty PTE made writable and clean', pte(P | US | A | D), pte(P | US | A | RW), true, false, true, true],
  ['PROT_NONE back to writable (old PTE not present)', protnone(P | US | A | D), pte(P | US | A | D | RW), true, false, true, false],
];

describe('pteNeedsFlush', () => {
  const rows = TABLE.map(([what, oldPte, newPte, always, skip, rfc, mainline]) => ({ what, oldPte, newPte, always, skip, rfc, mainline }));
  it.each(rows)('$what: always=$always skip-promotions=$skip rfc-condition=$rfc mainline=$mainline', ({ oldPte, newPte, always, skip, rfc, mainline }) => {
    expect(pteNeedsFlush('always', oldPte, newPte)).toBe(always);
    expect(pteNeedsFlush('skip-promotions', oldPte, newPte)).toBe(skip);
    expect(pteNeedsFlush('rfc-condition', oldPte, newPte)).toBe(rfc);
    expect(pteNeedsFlush('mainline', oldPte, newPte)).toBe(mainline);
  });

  /*
   * The safety of the difference on x86: the posted early exit, !(dirty || !write), only covers a
   * clean AND writable old PTE; the corrected one, !dirty || !write, also covers read-only ones.
   * So wherever the two disagree the posted condition flushes and the corrected one does not, and
   * what it flushes is a read-only or non-present entry, through which no write can pass (a store
   * through a read-only entry faults and x86 refetches the PTE; a non-present PTE is never
   * cached). The operator bug costs flushes on x86, it skips none a write could slip through.
   */
  const flagSets: number[] = [];
  const bits = [P, RW, US, A, D, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PROTNONE];
  for (let m = 0; m < 1 << bits.length; m++) {
    const flags = bits.reduce((acc, bit, i) => (m & (1 << i) ? acc | bit : acc), 0);
    flagSets.push(mkPte(0x10, flags), mkPte(0x11, flags));
  }

  it('rfc-condition flushes every change that skip-promotions flushes', () => {
    const missed: string[] = [];
    for (const oldPte of flagSets) {
      for (const newPte of flagSets) {
        if (pteNeedsFlush('skip-promotions', oldPte, newPte) && !pteNeedsFlush('rfc-condition', oldPte, newPte)) missed.push(`${oldPte} -> ${newPte}`);
      }
    }
    expect(missed).toEqual([]);
  });

  it.each<MprotectFlushMode>(['skip-promotions', 'rfc-condition'])('%s flushes every change that takes write access from a dirty writable PTE', (mode) => {
    const skipped: string[] = [];
    for (const oldPte of flagSets) {
      if ((oldPte & (P | RW | D)) !== (P | RW | D)) continue;
      for (const newPte of flagSets) {
        const stillWritable = (newPte & (P | RW)) === (P | RW) && ptePfn(newPte) === ptePfn(oldPte);
        if (!stillWritable && !pteNeedsFlush(mode, oldPte, newPte)) skipped.push(`${oldPte} -> ${newPte}`);
      }
    }
    expect(skipped).toEqual([]);
  });
});

const CPUS = 4;
const ROUNDS = 12;
const PAGES = 8;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('mprotect-workloads', name);
const kernel = (...switches: string[]) => applySwitches(defaultKernelConfig(), switches);

async function toggle(switches: string[], seed: number) {
  const run = await machine().run<unknown, ToggleResult, object>(workload('protectToggle'), { pages: PAGES, rounds: ROUNDS }, { seed, kernel: kernel(...switches) });
  run.results.forEach((r, cpu) => {
    expect(r, `CPU ${cpu}`).toEqual({ writesAfterDemotion: 0, failedWritesAfterPromotion: 0, wrongReads: 0, roPhasesChecked: ROUNDS, rwPhasesChecked: ROUNDS + 1 });
  });
  return run.counters;
}

describe('mprotect on 4 CPUs', () => {
  it('after PROT_READ returns a write faults on every CPU while loads still see the data, and after PROT_READ|PROT_WRITE writes succeed again', async () => {
    await toggle([], 11);
  });

  it.each(['always', 'rfc-condition', 'skip-promotions'])('never lets a write through a demoted translation with mprotectFlush=%s', async (mode) => {
    await toggle([`mprotectFlush=${mode}`], 12);
  });

  it('flushes only the demotions with skip-promotions, where always flushes every change', async () => {
    const skip = await toggle(['mprotectFlush=skip-promotions'], 13);
    const always = await toggle(['mprotectFlush=always'], 13);
    // every CPU has the mm loaded: each flush is one remote flush and one local mm shootdown
    expect(skip.nr_tlb_remote_flush).toBe(ROUNDS);
    expect(always.nr_tlb_remote_flush).toBe(2 * ROUNDS);
    expect(skip.TLB_LOCAL_MM_SHOOTDOWN).toBe(ROUNDS);
    expect(always.TLB_LOCAL_MM_SHOOTDOWN).toBe(2 * ROUNDS);
  });

  it('flushes promotions too with mainline\'s pte_needs_flush, sparing the spurious faults', async () => {
    const mainline = await toggle([], 15);
    expect(mainline.nr_tlb_remote_flush).toBe(2 * ROUNDS);
  });

  it('keeps every guarantee with the pre-5.19 inc/dec_tlb_flush_pending batching, one flush per demotion', async () => {
    const counters = await toggle(['mprotectBatching=flush-pending', 'mprotectFlush=skip-promotions'], 14);
    expect(counters.nr_tlb_remote_flush).toBe(ROUNDS);
  });

  it('changes only the part of a mapping it is given, and refuses unmapped, misaligned and unknown arguments', async () => {
    const half = PAGES / 2;
    const run = await machine().run<unknown, SubrangeResult, object>(workload('protectSubrange'), { pages: PAGES }, { seed: 15 });
    run.results.forEach((r, cpu) => {
      expect(r, `CPU ${cpu}`).toMatchObject({ lowerReadable: half, upperFaulted: half, upperReadable: half, upperStoresFailed: half, upperStoresDone: half });
    });
    expect(run.results[0].vmas).toBe(2);
    expect(run.results[0].errors).toEqual([-12, -22, -22]);
  });
});
