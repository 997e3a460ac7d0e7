import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, allocFrame, frameGen, initFrames } from '../../src/machine/frames.ts';
import { FRAME_META_WORDS, FrameKind, HWAD_ACCESSED, HWAD_DIRTY, HWAD_PTEP_SHIFT, META_HW_AD, PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { PMD_LEVEL, entryWord, pgdAlloc, pteAlloc, tableIndex, tablesOnPathNoSideEffects, vpnOf, PGD_LEVEL } from '../../src/machine/pagetable.ts';
import {
  CONT_PTES, PTE_AF, PTE_CONT, PTE_DBM, PTE_NG, PTE_RDONLY, PTE_TYPE_PAGE, PTE_USER, PTE_UXN, PTE_VALID,
} from '../../src/machine/pte-arm64.ts';
import { TLBE_FLAGS, TLBF_CONT, TLBF_DIRTY, TLBF_GLOBAL, TLBF_NX, TLBF_USER, TLBF_WRITE } from '../../src/machine/tlb-layout.ts';
import { ctlbLookup, dumpContTlb, readTlbEntry, tlbBase, tlbEntriesForVpn, tlbInvalidateOnFault, tlbLookup } from '../../src/machine/tlb.ts';
import {
  ARM64_WALKER_HAFDBS, ARM64_WALKER_NO_HAFDBS, FAULT_ACCESS_FLAG, FAULT_NOT_PRESENT, FAULT_PROTECTION, fillContPiece, lookupContTlb,
  type Arm64Walker,
} from '../../src/machine/walker-arm64.ts';
import { COUNTER_STRIDE, Counter } from '../../src/trace/counters.ts';
import { readViolations } from '../../src/check/oracle.ts';
import { describeViolation } from '../../src/check/describe.ts';
import { Cpu, FAULTED } from '../../src/cpu/cpu.ts';
import { Arch, DEFAULT_HARDWARE } from '../../src/arch/arch.ts';
import { defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { tlbiRange } from '../../src/machine/tlb.ts';

const CPU = 0;
const ASID = 3;
const OWNER = 1;
const VPN = vpnOf(0x5a3_4567_8000); // every table index on the way is non-zero
/** a user page, clean and writable (PAGE_SHARED: DBM with RDONLY), young */
const SHARED = PTE_TYPE_PAGE | PTE_USER | PTE_RDONLY | PTE_DBM | PTE_NG | PTE_UXN | PTE_AF;
const READONLY = PTE_TYPE_PAGE | PTE_USER | PTE_RDONLY | PTE_NG | PTE_UXN | PTE_AF;

interface Mm {
  v: MachineViews;
  pgd: number;
}

function machine(nrFrames = 64): Mm {
  const v = viewsOf(createMachineMemory(2, nrFrames));
  initFrames(v);
  return { v, pgd: pgdAlloc(v, CONTROL_CPU, OWNER) };
}

const desc = (pfn: number, attrs: number): number => (pfn << 12) | attrs;

/** Builds the tables down to `vpn` (table descriptors have bits 1:0 = 0b11) and stores `pte`; the PTE's word. */
function setDesc(mm: Mm, vpn: number, pte: number): number {
  const ptep = pteAlloc(mm.v, CONTROL_CPU, mm.pgd, vpn * PAGE_SIZE, OWNER);
  Atomics.store(mm.v.phys, ptep, pte);
  return ptep;
}

function mapPage(mm: Mm, vpn: number, attrs: number): { ptep: number; pfn: number } {
  const pfn = allocFrame(mm.v, CONTROL_CPU, FrameKind.Anon, OWNER, vpn, true);
  return { ptep: setDesc(mm, vpn, desc(pfn, attrs)), pfn };
}

const pte = (mm: Mm, ptep: number) => Atomics.load(mm.v.phys, ptep);
const counter = (mm: Mm, c: Counter) => mm.v.counters[CPU * COUNTER_STRIDE + c];
const read = (mm: Mm, w: Arm64Walker, vpn = VPN) => w.walkForRead(mm.v, CPU, mm.pgd, ASID, vpn, 0);
const write = (mm: Mm, w: Arm64Walker, vpn = VPN) => w.walkForWrite(mm.v, CPU, mm.pgd, ASID, vpn, 0);
const spec = (mm: Mm, w: Arm64Walker, vpn = VPN) => w.walkSpeculative(mm.v, CPU, mm.pgd, ASID, vpn, 0);
const H = ARM64_WALKER_HAFDBS;
const NO = ARM64_WALKER_NO_HAFDBS;

describe('arm64 walker with FEAT_HAFDBS', () => {
  it('sets AF by compareExchange on a read, and caches a clean writable page as writable but not dirty', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, SHARED & ~PTE_AF);
    const e = read(mm, H);
    expect(e).toBe(tlbLookup(mm.v.tlb, tlbBase(CPU), VPN, ASID));
    expect(pte(mm, ptep)).toBe(desc(pfn, SHARED));
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({ pfn, write: true, dirty: false, user: true, nx: true, global: false });
  });

  it('a write to DBM with RDONLY clears RDONLY (and sets AF) by compareExchange; the entry is dirty', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, SHARED & ~PTE_AF);
    const e = write(mm, H);
    expect(pte(mm, ptep)).toBe(desc(pfn, (SHARED | PTE_AF) & ~PTE_RDONLY));
    expect(mm.v.tlb[e + TLBE_FLAGS] & (TLBF_WRITE | TLBF_DIRTY)).toBe(TLBF_WRITE | TLBF_DIRTY);
  });

  it('records for the lost-bit oracle the accessed and dirty state it added, on the mapped frame', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, SHARED & ~PTE_AF);
    const record = () => mm.v.frameMeta[pfn * FRAME_META_WORDS + META_HW_AD];
    read(mm, H);
    expect(record()).toBe((ptep << HWAD_PTEP_SHIFT) | HWAD_ACCESSED);
    write(mm, H);
    expect(record()).toBe((ptep << HWAD_PTEP_SHIFT) | HWAD_ACCESSED | HWAD_DIRTY);
  });

  it('a write to RDONLY without DBM is a permission fault and leaves the descriptor as it was', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, READONLY);
    expect(write(mm, H)).toBe(FAULT_PROTECTION);
    expect(pte(mm, ptep)).toBe(desc(pfn, READONLY));
    expect(read(mm, H)).toBeGreaterThanOrEqual(0);
  });

  it('faults without USER (an EL0 access), on an invalid leaf, and on a reserved 0b01 page descriptor', () => {
    const mm = machine();
    mapPage(mm, VPN, SHARED & ~PTE_USER);
    expect(read(mm, H)).toBe(FAULT_PROTECTION);
    mapPage(mm, VPN + 1, SHARED & ~PTE_VALID);
    expect(read(mm, H, VPN + 1)).toBe(FAULT_NOT_PRESENT);
    mapPage(mm, VPN + 2, PTE_VALID | PTE_USER | PTE_AF | PTE_NG);
    expect(read(mm, H, VPN + 2)).toBe(FAULT_NOT_PRESENT);
  });

  it('never writes a table descriptor', () => {
    const mm = machine();
    mapPage(mm, VPN, SHARED & ~PTE_AF);
    const path = new Int32Array(PGD_LEVEL + 1);
    tablesOnPathNoSideEffects(mm.v, mm.pgd, VPN * PAGE_SIZE, path);
    const upper = [4, 3, 2].map((level) => entryWord(path[level], tableIndex(VPN, level)));
    const before = upper.map((w) => pte(mm, w));
    write(mm, H);
    expect(upper.map((w) => pte(mm, w))).toEqual(before);
  });

  it('a speculative walk may set AF but never dirties, and caches a global page as global', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, (SHARED & ~PTE_AF) & ~PTE_NG);
    const e = spec(mm, H);
    expect(pte(mm, ptep)).toBe(desc(pfn, SHARED & ~PTE_NG));
    expect(mm.v.tlb[e + TLBE_FLAGS] & (TLBF_DIRTY | TLBF_GLOBAL)).toBe(TLBF_GLOBAL);
  });

  it('a 2 MiB block at the PMD level fills the 2 MiB TLB and its piece', () => {
    const mm = machine(2048);
    mapPage(mm, VPN, SHARED); // builds the PMD table
    const HUGE_VPN = (VPN & ~511) + 512;
    const path = new Int32Array(PGD_LEVEL + 1);
    tablesOnPathNoSideEffects(mm.v, mm.pgd, VPN * PAGE_SIZE, path);
    const pmdEntry = entryWord(path[PMD_LEVEL], tableIndex(HUGE_VPN, PMD_LEVEL));
    Atomics.store(mm.v.phys, pmdEntry, desc(1024, (SHARED & ~PTE_TYPE_PAGE) | PTE_VALID));
    const e = read(mm, H, HUGE_VPN + 7);
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({ vpn: HUGE_VPN + 7, pfn: 1024 + 7, huge: true, write: true, dirty: false });
  });
});

describe('arm64 walker without FEAT_HAFDBS', () => {
  it('AF clear is an access-flag fault, and the descriptor is left alone; a speculative walk caches nothing', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, SHARED & ~PTE_AF);
    expect(read(mm, NO)).toBe(FAULT_ACCESS_FLAG);
    expect(spec(mm, NO)).toBeLessThan(0);
    expect(pte(mm, ptep)).toBe(desc(pfn, SHARED & ~PTE_AF));
    expect(tlbEntriesForVpn(mm.v.tlb, CPU, VPN)).toEqual([]);
  });

  it('any write to RDONLY is a permission fault, DBM or not; a clean writable page is cached read-only', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, SHARED);
    expect(write(mm, NO)).toBe(FAULT_PROTECTION);
    expect(pte(mm, ptep)).toBe(desc(pfn, SHARED));
    const e = read(mm, NO);
    expect(mm.v.tlb[e + TLBE_FLAGS] & (TLBF_WRITE | TLBF_DIRTY | TLBF_USER | TLBF_NX)).toBe(TLBF_USER | TLBF_NX);
    // the kernel made it dirty (pte_mkdirty clears RDONLY): now writable
    Atomics.store(mm.v.phys, ptep, desc(pfn, SHARED & ~PTE_RDONLY));
    expect(write(mm, NO)).toBeGreaterThanOrEqual(0);
  });
});

describe('contiguous entries', () => {
  const BLOCK = (VPN & ~(CONT_PTES - 1)) + CONT_PTES; // a 16-page block in the same PTE table
  const BASE_PFN = 32;

  /** The 16 descriptors of BLOCK mapping BASE_PFN.., with `attrs`; returns their words. */
  function mapBlock(mm: Mm, attrs: number): number[] {
    mapPage(mm, VPN, SHARED); // builds the PTE table
    const out: number[] = [];
    for (let i = 0; i < CONT_PTES; i++) out.push(setDesc(mm, BLOCK + i, desc(BASE_PFN + i, attrs)));
    return out;
  }

  it('a walk of a CONT leaf fills one 16-page entry from the walked descriptor, and the piece for the page', () => {
    const mm = machine(128);
    const pteps = mapBlock(mm, SHARED | PTE_CONT);
    // the walked sub-PTE is dirty, the others are not: the entry takes the walked one's state
    Atomics.store(mm.v.phys, pteps[5], desc(BASE_PFN + 5, (SHARED | PTE_CONT) & ~PTE_RDONLY));
    const e = read(mm, H, BLOCK + 5);
    expect(dumpContTlb(mm.v.tlb, CPU)).toEqual([expect.objectContaining({ vpn: BLOCK, pfn: BASE_PFN, pcid: ASID, write: true, dirty: true })]);
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({ vpn: BLOCK + 5, pfn: BASE_PFN + 5, gen: frameGen(mm.v, BASE_PFN + 5) });
    expect(mm.v.tlb[e + TLBE_FLAGS] & TLBF_CONT).toBe(TLBF_CONT);
  });

  it('a 4 KiB miss in the block is served by the contiguous TLB, without a walk', () => {
    const mm = machine(128);
    mapBlock(mm, SHARED | PTE_CONT);
    read(mm, H, BLOCK + 2);
    const walks = counter(mm, Counter.PageWalks);
    const c = lookupContTlb(mm.v, CPU, ASID, BLOCK + 9, false);
    expect(c).toBeGreaterThanOrEqual(0);
    // the entry is clean: a store walks (to clear RDONLY) instead
    expect(lookupContTlb(mm.v, CPU, ASID, BLOCK + 9, true)).toBe(-1);
    const e = fillContPiece(mm.v, CPU, c, BLOCK + 9, 0);
    expect(readTlbEntry(mm.v.tlb, e)).toMatchObject({ vpn: BLOCK + 9, pfn: BASE_PFN + 9, gen: frameGen(mm.v, BASE_PFN + 9) });
    expect(counter(mm, Counter.ContTlbHits)).toBe(1);
    expect(counter(mm, Counter.PageWalks)).toBe(walks);
  });

  it('a fault in the block drops the contiguous entry and its pieces', () => {
    const mm = machine(128);
    mapBlock(mm, SHARED | PTE_CONT);
    read(mm, H, BLOCK);
    fillContPiece(mm.v, CPU, ctlbLookup(mm.v.tlb, CPU, BLOCK + 3, ASID), BLOCK + 3, 0);
    tlbInvalidateOnFault(mm.v.tlb, CPU, BLOCK + 7, ASID);
    expect(dumpContTlb(mm.v.tlb, CPU)).toEqual([]);
    expect(tlbEntriesForVpn(mm.v.tlb, CPU, BLOCK)).toEqual([]);
    expect(tlbEntriesForVpn(mm.v.tlb, CPU, BLOCK + 3)).toEqual([]);
  });

  describe('the TLB-conflict oracle', () => {
    const conflicts = (mm: Mm) => readViolations(mm.v).filter((r) => r.kind === 'tlb-conflict');

    it('reports a 4 KiB fill from the one descriptor of a block without PTE_CONT, beside the contiguous entry', () => {
      const mm = machine(128);
      const pteps = mapBlock(mm, SHARED | PTE_CONT);
      Atomics.store(mm.v.phys, pteps[6], desc(BASE_PFN + 6, SHARED));
      read(mm, H, BLOCK + 1);
      expect(conflicts(mm)).toEqual([]);
      read(mm, H, BLOCK + 6);
      // the same frame and permissions both ways: a translation of the other size is the conflict
      expect(conflicts(mm)).toEqual([expect.objectContaining({ va: (BLOCK + 6) * PAGE_SIZE, details: [BASE_PFN + 6, BASE_PFN + 6, 12, 0, 16] })]);
      expect(describeViolation(conflicts(mm)[0]).fields).toMatchObject({ entryFilled: '4 KiB', pfnViaContiguous: `0x${(BASE_PFN + 6).toString(16)}` });
    });

    it('reports a contiguous fill beside a 4 KiB entry of its block from the descriptor without PTE_CONT', () => {
      const mm = machine(128);
      const pteps = mapBlock(mm, SHARED | PTE_CONT);
      Atomics.store(mm.v.phys, pteps[6], desc(BASE_PFN + 6, SHARED));
      read(mm, H, BLOCK + 6);
      read(mm, H, BLOCK + 1);
      expect(conflicts(mm)).toEqual([expect.objectContaining({ va: (BLOCK + 6) * PAGE_SIZE, details: [BASE_PFN + 6, BASE_PFN + 6, 16, 0, 16] })]);
    });

    it('reports a contiguous fill beside pieces of its block that map other frames (refolded without BBM)', () => {
      const mm = machine(128);
      const pteps = mapBlock(mm, SHARED | PTE_CONT);
      read(mm, H, BLOCK + 3);
      for (let i = 0; i < CONT_PTES; i++) Atomics.store(mm.v.phys, pteps[i], desc(BASE_PFN + 16 + i, SHARED | PTE_CONT));
      // a store through the clean entry walks again, into the refolded block
      write(mm, H, BLOCK + 3);
      expect(conflicts(mm)).toEqual([expect.objectContaining({ va: (BLOCK + 3) * PAGE_SIZE, details: [BASE_PFN + 3, BASE_PFN + 19, 16, 0, 16] })]);
    });

    it('is silent on a clean block: every page read and written, sub-PTEs dirtied one by one', () => {
      const mm = machine(128);
      mapBlock(mm, SHARED | PTE_CONT);
      for (let i = 0; i < CONT_PTES; i++) read(mm, H, BLOCK + i);
      for (let i = 0; i < CONT_PTES; i += 3) write(mm, H, BLOCK + i);
      for (let i = 0; i < CONT_PTES; i++) read(mm, H, BLOCK + i);
      expect(conflicts(mm)).toEqual([]);
    });

    it('is silent when the block is unfolded with break-before-make, and reports the same unfold without the TLBI', () => {
      for (const bbm of [true, false]) {
        const mm = machine(128);
        const pteps = mapBlock(mm, SHARED | PTE_CONT);
        read(mm, H, BLOCK + 4);
        // contpte_convert: clear the 16, flush the range (leaf only), then write them without PTE_CONT
        pteps.forEach((p) => Atomics.store(mm.v.phys, p, 0));
        if (bbm) tlbiRange(mm.v.tlb, CPU, BLOCK, BLOCK + CONT_PTES, ASID, true);
        pteps.forEach((p, i) => Atomics.store(mm.v.phys, p, desc(BASE_PFN + i, SHARED)));
        write(mm, H, BLOCK + 4);
        read(mm, H, BLOCK + 5);
        // without it both 4 KiB fills enter beside the stale contiguous entry
        expect(conflicts(mm)).toHaveLength(bbm ? 0 : 2);
      }
    });
  });
});

describe('the miss path of a CPU configured for arm64 (cpu.ts)', () => {
  /** A CPU of `mm`'s machine configured for arm64, running `mm` on ASID. */
  function arm64Cpu(mm: Mm, hafdbs = true): Cpu {
    const cpu = new Cpu(mm.v, CPU, [], [], () => {});
    cpu.configure({ csdLockTimeoutMs: 5000, noiseShift: -1, speculationShift: -1, seed: 1, config: defaultKernelConfig(), arch: Arch.Arm64, hardware: { ...DEFAULT_HARDWARE, hafdbs } });
    cpu.cr3 = mm.pgd;
    cpu.pcid = ASID;
    return cpu;
  }

  it('walks with the arm64 walker: a load sets AF, a store clears RDONLY on the re-walk of a clean entry', () => {
    const mm = machine();
    const { ptep, pfn } = mapPage(mm, VPN, SHARED & ~PTE_AF);
    const cpu = arm64Cpu(mm);
    expect(cpu.load(VPN * PAGE_SIZE)).toBe(0);
    expect(pte(mm, ptep)).toBe(desc(pfn, SHARED));
    expect(cpu.store(VPN * PAGE_SIZE, 7)).toBe(true);
    expect(pte(mm, ptep)).toBe(desc(pfn, SHARED & ~PTE_RDONLY));
    expect(counter(mm, Counter.DirtyBitWalks)).toBe(1);
    expect(cpu.load(VPN * PAGE_SIZE)).toBe(7);
  });

  it('serves a miss in a contiguous block from the contiguous TLB', () => {
    const mm = machine(128);
    mapPage(mm, VPN, SHARED);
    const block = (VPN & ~(CONT_PTES - 1)) + CONT_PTES;
    for (let i = 0; i < CONT_PTES; i++) setDesc(mm, block + i, desc(32 + i, SHARED | PTE_CONT));
    const cpu = arm64Cpu(mm);
    for (let i = 0; i < CONT_PTES; i++) cpu.load((block + i) * PAGE_SIZE);
    expect(counter(mm, Counter.PageWalks)).toBe(1);
    expect(counter(mm, Counter.ContTlbHits)).toBe(CONT_PTES - 1);
  });

  it('without FEAT_HAFDBS, a load of a page whose AF is clear faults (no handler: the load fails)', () => {
    const mm = machine();
    mapPage(mm, VPN, SHARED & ~PTE_AF);
    expect(arm64Cpu(mm, false).load(VPN * PAGE_SIZE)).toBe(FAULTED);
    expect(counter(mm, Counter.PageFaults)).toBe(1);
  });
});
