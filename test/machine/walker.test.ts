import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, allocFrame, frameGen, freeFrame, initFrames } from '../../src/machine/frames.ts';
import { FrameKind, PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import {
  PGD_LEVEL, PMD_LEVEL, PTE_LEVEL, PUD_LEVEL, entryWord, pgdAlloc, pteAlloc, ptepGet, setPte, tableIndex,
  tablesOnPathNoSideEffects, vpnOf,
} from '../../src/machine/pagetable.ts';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW,
  _PAGE_SOFTW1, _PAGE_USER, mkPte,
} from '../../src/machine/pte-x86.ts';
import { PSCE_GEN, PSCE_TABLE } from '../../src/machine/tlb-layout.ts';
import { dumpHugeTlb, htlbLookup, pscLookup, readTlbEntry, tlbBase, tlbEntriesForVpn, tlbLookup } from '../../src/machine/tlb.ts';
import {
  FAULT_NOT_PRESENT, FAULT_PROTECTION, fillHugePiece, lookupHugeTlb, walkForRead, walkForWrite, walkSpeculative,
} from '../../src/machine/walker.ts';
import { COUNTER_STRIDE, Counter } from '../../src/trace/counters.ts';

const CPU = 0;
const PCID = 1;
const VICTIM = 0;
const OWNER = 1;
const VPN = vpnOf(0x5a3_4567_8000); // every table index on the way is non-zero
const USER_RW = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;
const USER_RO = _PAGE_PRESENT | _PAGE_USER;

type Walk = (v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number) => number;
const USER_WALKS: [string, Walk][] = [['read', walkForRead], ['write', walkForWrite]];
const WALKS: [string, Walk][] = [...USER_WALKS, ['speculative', walkSpeculative]];

interface Mm {
  v: MachineViews;
  pgd: number;
}

function machine(nrFrames = 64): Mm {
  const v = viewsOf(createMachineMemory(2, nrFrames));
  initFrames(v);
  return { v, pgd: pgdAlloc(v, CONTROL_CPU, OWNER) };
}

/** Builds the tables down to `vpn`'s PTE and stores `pte` there; returns the PTE's word index. */
function setUserPte(mm: Mm, vpn: number, pte: number): number {
  const ptep = pteAlloc(mm.v, CONTROL_CPU, mm.pgd, vpn * PAGE_SIZE, OWNER);
  setPte(mm.v, ptep, pte);
  return ptep;
}

/** Maps `vpn` to a fresh data frame with `flags`. */
function mapPage(mm: Mm, vpn: number, flags: number): { ptep: number; pfn: number } {
  const pfn = allocFrame(mm.v, CONTROL_CPU, FrameKind.Anon, OWNER, vpn, true);
  return { ptep: setUserPte(mm, vpn, mkPte(pfn, flags)), pfn };
}

/** The table frames on the way to `vpn`, indexed by level. */
function pathOf(mm: Mm, vpn: number): Int32Array {
  const out = new Int32Array(PGD_LEVEL + 1);
  tablesOnPathNoSideEffects(mm.v, mm.pgd, vpn * PAGE_SIZE, out);
  return out;
}

/** Word indices of the upper-level entries (PGD, PUD, PMD) on the way to `vpn`. */
function upperEntries(mm: Mm, vpn: number): number[] {
  const path = pathOf(mm, vpn);
  return [PGD_LEVEL, PUD_LEVEL, PMD_LEVEL].map((level) => entryWord(path[level], tableIndex(vpn, level)));
}

const walk = (mm: Mm, fn: Walk, vpn = VPN, pcid = PCID) => fn(mm.v, CPU, mm.pgd, pcid, vpn, VICTIM);
const counter = (mm: Mm, c: Counter) => mm.v.counters[CPU * COUNTER_STRIDE + c];
const entriesFor = (mm: Mm, vpn = VPN) => tlbEntriesForVpn(mm.v.tlb, CPU, vpn);

describe('accessed and dirty bits', () => {
  it('sets A on a read fill and leaves D clear', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, USER_RW);
    expect(walk(mm, walkForRead)).toBeGreaterThanOrEqual(0);
    expect(ptepGet(mm.v, ptep)).toBe(mkPte(pfn, USER_RW | _PAGE_ACCESSED));
    expect(entriesFor(mm)[0].dirty).toBe(false);
  });

  it('sets A and D on a write walk, and the entry is filled dirty', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, USER_RW);
    expect(walk(mm, walkForWrite)).toBeGreaterThanOrEqual(0);
    expect(ptepGet(mm.v, ptep)).toBe(mkPte(pfn, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY));
    expect(entriesFor(mm)[0]).toMatchObject({ write: true, dirty: true });
  });

  it('re-walks a clean entry for the first write, replacing it with a dirty one', () => {
    const mm = machine();
    const { ptep } = mapPage(mm, VPN, USER_RW);
    const clean = walk(mm, walkForRead);
    expect(walk(mm, walkForWrite)).toBe(clean);
    expect(entriesFor(mm)).toHaveLength(1);
    expect(entriesFor(mm)[0].dirty).toBe(true);
    expect(ptepGet(mm.v, ptep) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
  });

  it('sets A in every upper-level entry it walks through', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    const uppers = upperEntries(mm, VPN);
    for (const e of uppers) setPte(mm.v, e, ptepGet(mm.v, e) & ~_PAGE_ACCESSED);
    walk(mm, walkForRead);
    expect(uppers.map((e) => ptepGet(mm.v, e) & _PAGE_ACCESSED)).toEqual([_PAGE_ACCESSED, _PAGE_ACCESSED, _PAGE_ACCESSED]);
  });
});

describe('faults', () => {
  it.each(WALKS)('a %s walk of an empty PTE faults not-present and leaves it 0', (_name, fn) => {
    const mm = machine();
    const ptep = setUserPte(mm, VPN, 0);
    expect(walk(mm, fn)).toBe(FAULT_NOT_PRESENT);
    expect(ptepGet(mm.v, ptep)).toBe(0);
    expect(entriesFor(mm)).toEqual([]);
  });

  it.each(WALKS)('a %s walk leaves a non-present PTE with other bits set unchanged', (_name, fn) => {
    const mm = machine();
    const pte = mkPte(0x1234, _PAGE_RW | _PAGE_USER | _PAGE_SOFTW1 | _PAGE_NX);
    const ptep = setUserPte(mm, VPN, pte);
    expect(walk(mm, fn)).toBe(FAULT_NOT_PRESENT);
    expect(ptepGet(mm.v, ptep)).toBe(pte);
    expect(entriesFor(mm)).toEqual([]);
  });

  it.each(WALKS)('a %s walk faults not-present on a missing upper-level table', (_name, fn) => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    const [pgdEntry] = upperEntries(mm, VPN);
    const pte = mkPte(0x77, _PAGE_SOFTW1);
    setPte(mm.v, pgdEntry, pte);
    expect(walk(mm, fn)).toBe(FAULT_NOT_PRESENT);
    expect(ptepGet(mm.v, pgdEntry)).toBe(pte);
  });

  it('faults with an empty page table root', () => {
    const mm = machine();
    expect(walkForRead(mm.v, CPU, 0, PCID, VPN, VICTIM)).toBe(FAULT_NOT_PRESENT);
  });

  it('faults on protection for a write to a read-only PTE, without setting D or filling', () => {
    const mm = machine();
    const { ptep } = mapPage(mm, VPN, USER_RO);
    expect(walk(mm, walkForWrite)).toBe(FAULT_PROTECTION);
    expect(ptepGet(mm.v, ptep) & _PAGE_DIRTY).toBe(0);
    expect(entriesFor(mm)).toEqual([]);
  });

  it.each(USER_WALKS)('faults on protection for a user %s of a supervisor PTE', (_name, fn) => {
    const mm = machine();
    const { ptep } = mapPage(mm, VPN, _PAGE_PRESENT | _PAGE_RW);
    expect(walk(mm, fn)).toBe(FAULT_PROTECTION);
    expect(ptepGet(mm.v, ptep) & _PAGE_DIRTY).toBe(0);
    expect(entriesFor(mm)).toEqual([]);
  });
});

describe('the TLB entry a walk fills', () => {
  it('records pfn, permissions, dirty-as-filled and the frame generation at fill', () => {
    const mm = machine();
    const stale = allocFrame(mm.v, CONTROL_CPU, FrameKind.Anon, OWNER, 0, true);
    freeFrame(mm.v, CONTROL_CPU, stale); // the next allocation reuses it with a new generation
    const { pfn } = mapPage(mm, VPN, USER_RO | _PAGE_DIRTY | _PAGE_NX);
    expect(pfn).toBe(stale);
    expect(frameGen(mm.v, pfn)).toBe(2);

    const e = walk(mm, walkForRead);
    expect(e).toBe(tlbLookup(mm.v.tlb, tlbBase(CPU), VPN, PCID));
    expect(readTlbEntry(mm.v.tlb, e)).toEqual({
      vpn: VPN, pcid: PCID, pfn, gen: 2, write: false, user: true, dirty: true, global: false, nx: true, huge: false,
    });
  });

  it('keeps the generation it was filled under when the frame is freed later', () => {
    const mm = machine();
    const { pfn } = mapPage(mm, VPN, USER_RW);
    const e = walk(mm, walkForWrite);
    freeFrame(mm.v, CONTROL_CPU, pfn);
    expect(readTlbEntry(mm.v.tlb, e)?.gen).toBe(1);
    expect(frameGen(mm.v, pfn)).toBe(2);
  });

  it('marks a fill of a global PTE global, visible under every PCID', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW | _PAGE_GLOBAL);
    const e = walk(mm, walkForRead);
    expect(readTlbEntry(mm.v.tlb, e)?.global).toBe(true);
    expect(tlbLookup(mm.v.tlb, tlbBase(CPU), VPN, PCID + 5)).toBe(e);
  });

  it('fills only the walking CPU\'s TLB and counts the fill there', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    walk(mm, walkForRead);
    expect(tlbEntriesForVpn(mm.v.tlb, 1, VPN)).toEqual([]);
    expect([counter(mm, Counter.PageWalks), counter(mm, Counter.TlbFills)]).toEqual([1, 1]);
    expect(mm.v.counters[COUNTER_STRIDE + Counter.PageWalks]).toBe(0);
  });
});

describe('paging-structure caches', () => {
  it('caches the PUD, PMD and PTE tables with their generations on a walk', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    walk(mm, walkForRead);
    const path = pathOf(mm, VPN);
    for (const level of [PTE_LEVEL, PMD_LEVEL, PUD_LEVEL]) {
      const p = pscLookup(mm.v.tlb, CPU, level, VPN >>> (9 * level), PCID);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(mm.v.tlb[p + PSCE_TABLE]).toBe(path[level]);
      expect(mm.v.tlb[p + PSCE_GEN]).toBe(frameGen(mm.v, path[level]));
    }
    expect(pscLookup(mm.v.tlb, CPU, PTE_LEVEL, VPN >>> 9, PCID + 1)).toBe(-1);
  });

  it('starts a second walk from the PDE cache, touching no upper-level entry', () => {
    const mm = machine();
    const { ptep } = mapPage(mm, VPN, USER_RW);
    walk(mm, walkForRead);
    expect(counter(mm, Counter.PscHits)).toBe(0);

    const uppers = upperEntries(mm, VPN);
    for (const e of uppers) setPte(mm.v, e, ptepGet(mm.v, e) & ~_PAGE_ACCESSED);
    expect(walk(mm, walkForWrite)).toBeGreaterThanOrEqual(0);
    expect(counter(mm, Counter.PscHits)).toBe(1);
    expect(uppers.map((e) => ptepGet(mm.v, e) & _PAGE_ACCESSED)).toEqual([0, 0, 0]);
    expect(ptepGet(mm.v, ptep) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
  });

  it('starts from the deepest cached level: the PDPTE cache for another 2 MiB region', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    const other = VPN + 512; // same PMD table, another PTE table
    mapPage(mm, other, USER_RW);
    walk(mm, walkForRead);
    const [pgdEntry, pudEntry, pmdEntry] = upperEntries(mm, other);
    for (const e of [pgdEntry, pudEntry, pmdEntry]) setPte(mm.v, e, ptepGet(mm.v, e) & ~_PAGE_ACCESSED);

    expect(walk(mm, walkForRead, other)).toBeGreaterThanOrEqual(0);
    expect(counter(mm, Counter.PscHits)).toBe(1);
    expect([pgdEntry, pudEntry, pmdEntry].map((e) => ptepGet(mm.v, e) & _PAGE_ACCESSED)).toEqual([0, 0, _PAGE_ACCESSED]);
    expect(pscLookup(mm.v.tlb, CPU, PTE_LEVEL, other >>> 9, PCID)).toBeGreaterThanOrEqual(0);
  });

  it('does not share cached tables between PCIDs', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    walk(mm, walkForRead);
    walk(mm, walkForRead, VPN, PCID + 1);
    expect(counter(mm, Counter.PscHits)).toBe(0);
  });
});

describe('speculative walks', () => {
  it('fill the TLB and set A, but never D, even for a writable PTE', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, USER_RW);
    const e = walk(mm, walkSpeculative);
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({ pfn, write: true, dirty: false });
    expect(ptepGet(mm.v, ptep)).toBe(mkPte(pfn, USER_RW | _PAGE_ACCESSED));
    expect([counter(mm, Counter.SpeculativeWalks), counter(mm, Counter.PageWalks)]).toEqual([1, 0]);
  });

  it('fill the paging-structure caches', () => {
    const mm = machine();
    mapPage(mm, VPN, USER_RW);
    walk(mm, walkSpeculative);
    expect(pscLookup(mm.v.tlb, CPU, PTE_LEVEL, VPN >>> 9, PCID)).toBeGreaterThanOrEqual(0);
  });
});

describe('2 MiB leaves', () => {
  const HUGE_VPN = (VPN & ~511) + 512; // the 2 MiB region after VPN's, in the same PMD table
  const HUGE_PFN = 1024;

  /** A PMD entry mapping HUGE_VPN's 2 MiB to frames HUGE_PFN..HUGE_PFN + 511. */
  function mapHuge(flags: number): { mm: Mm; pmdEntry: number } {
    const mm = machine(2048);
    mapPage(mm, VPN, USER_RW); // builds the PMD table
    const pmdEntry = entryWord(pathOf(mm, VPN)[PMD_LEVEL], tableIndex(HUGE_VPN, PMD_LEVEL));
    setPte(mm.v, pmdEntry, mkPte(HUGE_PFN, flags | _PAGE_PSE));
    return { mm, pmdEntry };
  }

  it.each([0, 5, 511])('fill the 4 KiB piece at index %i with base + index, flagged huge', (index) => {
    const { mm } = mapHuge(USER_RW);
    const e = walk(mm, walkForRead, HUGE_VPN + index);
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({
      vpn: HUGE_VPN + index, pfn: HUGE_PFN + index, gen: frameGen(mm.v, HUGE_PFN + index), huge: true, write: true,
    });
  });

  it('set A on a read and D on a write in the PMD entry', () => {
    const { mm, pmdEntry } = mapHuge(USER_RW);
    walk(mm, walkForRead, HUGE_VPN + 3);
    expect(ptepGet(mm.v, pmdEntry)).toBe(mkPte(HUGE_PFN, USER_RW | _PAGE_PSE | _PAGE_ACCESSED));
    walk(mm, walkForWrite, HUGE_VPN + 3);
    expect(ptepGet(mm.v, pmdEntry)).toBe(mkPte(HUGE_PFN, USER_RW | _PAGE_PSE | _PAGE_ACCESSED | _PAGE_DIRTY));
  });

  it('fault on protection for a write to a read-only 2 MiB leaf', () => {
    const { mm, pmdEntry } = mapHuge(USER_RO);
    expect(walk(mm, walkForWrite, HUGE_VPN)).toBe(FAULT_PROTECTION);
    expect(ptepGet(mm.v, pmdEntry) & _PAGE_DIRTY).toBe(0);
  });

  it('are not cached in the PDE cache as if they pointed to a PTE table', () => {
    const { mm } = mapHuge(USER_RW);
    walk(mm, walkForRead, HUGE_VPN);
    expect(pscLookup(mm.v.tlb, CPU, PTE_LEVEL, HUGE_VPN >>> 9, PCID)).toBe(-1);
  });

  it('fill one 2 MiB entry with the aligned base, the first frame and its generation, counted as one fill', () => {
    const { mm } = mapHuge(USER_RW | _PAGE_NX);
    walk(mm, walkForWrite, HUGE_VPN + 7);
    expect(dumpHugeTlb(mm.v.tlb, CPU)).toEqual([{
      vpn: HUGE_VPN, pcid: PCID, pfn: HUGE_PFN, gen: frameGen(mm.v, HUGE_PFN), write: true, user: true, dirty: true, global: false, nx: true, huge: false,
    }]);
    expect(counter(mm, Counter.TlbFills)).toBe(1);
  });

  it('serve a later 4 KiB miss in the same 2 MiB from the 2 MiB entry, without a walk', () => {
    const { mm } = mapHuge(USER_RW);
    walk(mm, walkForRead, HUGE_VPN);
    const h = lookupHugeTlb(mm.v, CPU, PCID, HUGE_VPN + 300, false);
    expect(h).toBe(htlbLookup(mm.v.tlb, CPU, HUGE_VPN, PCID));
    const e = fillHugePiece(mm.v, CPU, h, HUGE_VPN + 300, VICTIM);
    expect(e).toBe(tlbLookup(mm.v.tlb, tlbBase(CPU), HUGE_VPN + 300, PCID));
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({ pfn: HUGE_PFN + 300, gen: frameGen(mm.v, HUGE_PFN + 300), huge: true, dirty: false });
    expect([counter(mm, Counter.PageWalks), counter(mm, Counter.HugeTlbHits)]).toEqual([1, 1]);
  });

  it('leave to a walk a write through a clean 2 MiB entry, another PCID, and another 2 MiB region', () => {
    const { mm } = mapHuge(USER_RW);
    walk(mm, walkForRead, HUGE_VPN);
    expect(lookupHugeTlb(mm.v, CPU, PCID, HUGE_VPN + 1, true)).toBe(-1);
    expect(lookupHugeTlb(mm.v, CPU, PCID + 1, HUGE_VPN + 1, false)).toBe(-1);
    expect(lookupHugeTlb(mm.v, CPU, PCID, HUGE_VPN + 512, false)).toBe(-1);
    walk(mm, walkForWrite, HUGE_VPN);
    expect(lookupHugeTlb(mm.v, CPU, PCID, HUGE_VPN + 1, true)).toBeGreaterThanOrEqual(0);
  });

  it('give a piece of an entry whose huge page was freed since the fill a stale generation', () => {
    const { mm } = mapHuge(USER_RW);
    walk(mm, walkForRead, HUGE_VPN);
    const h = htlbLookup(mm.v.tlb, CPU, HUGE_VPN, PCID);
    // a huge page is freed whole; two of its frames stand for it (only their generations matter)
    for (const pfn of [HUGE_PFN, HUGE_PFN + 9]) freeFrame(mm.v, CONTROL_CPU, pfn);
    const e = fillHugePiece(mm.v, CPU, h, HUGE_VPN + 9, VICTIM);
    expect(readTlbEntry(mm.v.tlb, e)?.gen).not.toBe(frameGen(mm.v, HUGE_PFN + 9));
  });
});
