/*
 * The hardware page walker with arm64 stage-1 semantics, 4 KiB granule (Arm ARM D8: the VMSAv8-64
 * translation table walk, D8.4 descriptors, D8.5 the access flag and dirty state with FEAT_HAFDBS,
 * D8.6.1 the contiguous bit). Descriptors are pte-arm64.ts's 32-bit encoding. Same exported
 * signatures as walker.ts; cpu.ts chooses between them by its arch, on the miss path only.
 *
 * What differs from x86 (walker.ts), and what the kernel relies on:
 *  - Table descriptors (bits 1:0 = 0b11 above the last level) are never written: no access flag
 *    on tables without FEAT_HAFT. A block (0b01) at the PMD level is a 2 MiB leaf; 0b01 at the
 *    last level, or a block above the PMD level, is invalid (translation fault).
 *  - A leaf needs VALID, and USER (AP[1]) for a user access.
 *  - Access flag: with FEAT_HAFDBS (cpu.hw.hafdbs) the walker sets AF by compareExchange against
 *    the value it read (never resurrecting an entry another CPU changed); without it a leaf with
 *    AF clear raises an access-flag fault and is not cached.
 *  - Dirty state is RDONLY (AP[2]) cleared on a DBM (= PTE_WRITE) entry. A write to a RDONLY
 *    leaf with DBM clears RDONLY by compareExchange (and sets AF) with FEAT_HAFDBS; a write to
 *    RDONLY without DBM, or any write to RDONLY without FEAT_HAFDBS, is a permission fault.
 *  - TLB flags: WRITE = !RDONLY, or DBM with FEAT_HAFDBS (the write permission; the store then
 *    re-walks to clear RDONLY, as x86 does to set D); DIRTY = !RDONLY; USER = AP[1]; NX = UXN;
 *    GLOBAL = !nG.
 *  - A leaf with PTE_CONT at the last level fills the contiguous TLB (tlb-layout.ts) with the
 *    16-page block the walked descriptor implies, and installs the 4 KiB piece for the page
 *    walked, flagged TLBF_CONT; lookupContTlb serves a later 4 KiB miss in the block from it.
 *    PTE_CONT on a block descriptor is ignored (a plain 2 MiB block).
 *  - A speculative walk may set AF (FEAT_HAFDBS), never dirties, never faults; without FEAT_HAFDBS
 *    it does not cache a leaf whose AF is clear.
 *
 * As in walker.ts: the walk starts at the deepest walk-cache hit and fills the walk cache for the
 * tables it passes (walker.ts walkStart; a walk from a cached pointer into another mm's table
 * fills with that mm's epoch, the foreign-translation oracle's case); every cached pointer and
 * TLB entry records its frame's generation (the freed-table-walk and use-after-free oracles); each fill is checked for a TLB conflict first
 * (check/oracle.ts, contiguous entries included); a successful compareExchange on a leaf is
 * traced and recorded for the lost-bit oracle (check/lost-bits.ts) as the hardware A/D state it
 * added (HWAD_ACCESSED, HWAD_DIRTY).
 */
import type { MachineViews } from './memory.ts';
import { FRAME_META_WORDS, FrameKind, META_KIND } from './phys-layout.ts';
import { G_TRACE_SEQ } from './globals-layout.ts';
import { CONT_PTES, PTE_AF, PTE_CONT, PTE_DBM, PTE_NG, PTE_RDONLY, PTE_TABLE_BIT, PTE_TYPE_MASK, PTE_USER, PTE_UXN, PTE_VALID, hwAdState, ptePfn } from './pte-arm64.ts';
import { PMD_LEVEL, PTE_LEVEL, entryWord, tableIndex } from './pagetable.ts';
import {
  TLBE_FLAGS, TLBE_GEN, TLBE_PFN, TLBF_CONT_WALKED, TLBF_CONT_WALKED_SHIFT, TLBF_DIRTY, TLBF_FILE, TLBF_GLOBAL,
  TLBF_NX, TLBF_USER, TLBF_WRITE,
} from './tlb-layout.ts';
import { checkContTlbFill, checkHugeTlbFill, checkPteTlbFill } from '../check/oracle.ts';
import { ctlbFill, ctlbLookup, htlbFill, pscFill, tlbBase, tlbFill, tlbFillContPiece } from './tlb.ts';
import { FAULT_NOT_PRESENT, FAULT_PROTECTION, fillHugePiece, genOf, hwUpdateLeaf, walkFrom, walkStart } from './walker.ts';
import { COUNTER_STRIDE, Counter } from '../trace/counters.ts';
import { Ev, traceEvent } from '../trace/events.ts';

export { FAULT_NOT_PRESENT, FAULT_PROTECTION, fillHugePiece, lookupHugeTlb } from './walker.ts';

/**
 * An access-flag fault: a valid leaf with AF clear, without FEAT_HAFDBS. The kernel handles it as
 * a fault on a present PTE (handle_pte_fault's pte_mkyoung, ptep_set_access_flags).
 */
export const FAULT_ACCESS_FLAG = -3;

const enum Access {
  Read = 0,
  Write = 1,
  Speculative = 2,
}

/** One walk of `vpn` from `cr3`; `hafdbs`: the CPU implements FEAT_HAFDBS (cpu.hw.hafdbs). */
function rawWalk(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, access: Access, victim: number, epoch: number, hafdbs: boolean): number {
  const { phys, tlb } = v;
  if (!walkStart(v, cpu, cr3, pcid, vpn, access === Access.Speculative, epoch)) return FAULT_NOT_PRESENT;
  let level = walkFrom.level;
  let table = walkFrom.table;
  epoch = walkFrom.epoch;

  for (; level > PTE_LEVEL; level--) {
    const slot = entryWord(table, tableIndex(vpn, level));
    // table descriptors are read, never written
    const e = Atomics.load(phys, slot);
    if ((e & PTE_VALID) === 0) return FAULT_NOT_PRESENT;
    if ((e & PTE_TYPE_MASK) === PTE_VALID) {
      // a block: a 2 MiB leaf at the PMD level, invalid above it
      if (level !== PMD_LEVEL) return FAULT_NOT_PRESENT;
      return fillLeaf(v, cpu, pcid, vpn, slot, access, victim, level, epoch, hafdbs);
    }
    const next = ptePfn(e);
    pscFill(tlb, cpu, level - 1, vpn >>> (9 * (level - 1)), pcid, next, genOf(v, next));
    table = next;
  }
  return fillLeaf(v, cpu, pcid, vpn, entryWord(table, tableIndex(vpn, PTE_LEVEL)), access, victim, PTE_LEVEL, epoch, hafdbs);
}

/**
 * Checks and updates the leaf at `slot` (a page at PTE_LEVEL, a block at PMD_LEVEL), then fills
 * the TLB: the 4 KiB entry for `vpn`; for a block the 2 MiB entry and its piece; for a page with
 * PTE_CONT the contiguous entry and its piece. Returns the 4 KiB entry, or a fault code.
 */
function fillLeaf(v: MachineViews, cpu: number, pcid: number, vpn: number, slot: number, access: Access, victim: number, level: number, epoch: number, hafdbs: boolean): number {
  const { phys, tlb } = v;
  for (;;) {
    const e = Atomics.load(phys, slot);
    if ((e & PTE_VALID) === 0) return FAULT_NOT_PRESENT;
    // a page descriptor at the last level has bits 1:0 = 0b11; 0b01 there is reserved
    if (level === PTE_LEVEL && (e & PTE_TABLE_BIT) === 0) return FAULT_NOT_PRESENT;
    let want = e;
    if (access !== Access.Speculative) {
      if ((e & PTE_USER) === 0) return FAULT_PROTECTION;
      if (access === Access.Write && (e & PTE_RDONLY) !== 0) {
        // dirty state by hardware: DBM lets the walker clear RDONLY; otherwise a permission fault
        if (!hafdbs || (e & PTE_DBM) === 0) return FAULT_PROTECTION;
        want &= ~PTE_RDONLY;
      }
    }
    if ((e & PTE_AF) === 0) {
      if (!hafdbs) return access === Access.Speculative ? FAULT_NOT_PRESENT : FAULT_ACCESS_FLAG;
      want |= PTE_AF;
    }
    // the frame, or for a block the first of its 512
    const pfn = ptePfn(e);
    // the generation is read while the entry maps the frame: the compareExchange (or the reload)
    // below proves the entry had not changed, so the frame could not yet have been freed
    const gen = genOf(v, pfn);
    if (!hwUpdateLeaf(v, cpu, slot, e, want, vpn, hwAdState)) continue;
    let flags = 0;
    if ((want & PTE_RDONLY) === 0 || (hafdbs && (want & PTE_DBM) !== 0)) flags |= TLBF_WRITE;
    if ((want & PTE_USER) !== 0) flags |= TLBF_USER;
    if ((want & PTE_RDONLY) === 0) flags |= TLBF_DIRTY;
    if ((want & PTE_NG) === 0) flags |= TLBF_GLOBAL;
    if ((want & PTE_UXN) !== 0) flags |= TLBF_NX;
    if (v.frameMeta[pfn * FRAME_META_WORDS + META_KIND] === FrameKind.File) flags |= TLBF_FILE;
    v.counters[cpu * COUNTER_STRIDE + Counter.TlbFills]++;
    // the fill's place in the global order, for the promise oracle
    const fillSeq = Atomics.load(v.globals, G_TRACE_SEQ);
    traceEvent(v, cpu, Ev.TlbFill, vpn, pfn, flags);
    if (level === PMD_LEVEL) {
      checkHugeTlbFill(v, cpu, vpn, pcid, pfn, flags);
      return fillHugePiece(v, cpu, htlbFill(tlb, cpu, vpn, pcid, pfn, flags, gen, victim, epoch, fillSeq), vpn, victim);
    }
    if ((want & PTE_CONT) === 0) {
      checkPteTlbFill(v, cpu, vpn, pcid, pfn, flags);
      return tlbFill(tlb, tlbBase(cpu), vpn, pcid, pfn, flags, gen, victim, epoch, fillSeq);
    }
    const basePfn = pfn - (vpn & (CONT_PTES - 1));
    checkContTlbFill(v, cpu, vpn, pcid, basePfn, flags);
    return fillContPiece(v, cpu, ctlbFill(tlb, cpu, vpn, pcid, basePfn, flags, gen, victim, epoch, fillSeq), vpn, victim);
  }
}

/**
 * The piece of contiguous entry `c` for `vpn`, installed in the 4 KiB TLB. Its generation is that
 * frame's at the contiguous fill: the frame's now, less what the walked frame's moved since the
 * entry recorded it (a contiguous block is one folio, freed whole), so a piece of an entry that
 * outlived the free carries a stale generation and the use-after-free oracle sees the access.
 */
export function fillContPiece(v: MachineViews, cpu: number, c: number, vpn: number, victim: number): number {
  const { tlb } = v;
  const base = tlb[c + TLBE_PFN];
  const pfn = base + (vpn & (CONT_PTES - 1));
  const walked = base + ((tlb[c + TLBE_FLAGS] & TLBF_CONT_WALKED) >>> TLBF_CONT_WALKED_SHIFT);
  const gen = genOf(v, pfn) - (genOf(v, walked) - tlb[c + TLBE_GEN]);
  const file = v.frameMeta[pfn * FRAME_META_WORDS + META_KIND] === FrameKind.File ? TLBF_FILE : 0;
  return tlbFillContPiece(tlb, cpu, c, vpn, gen, file, victim);
}

/**
 * A 4 KiB miss that the contiguous TLB may serve: the contiguous entry covering `vpn` when it
 * grants the access (a write needs WRITE and the cached dirty state), for fillContPiece; else -1
 * and the caller walks (which clears RDONLY, or faults).
 */
export function lookupContTlb(v: MachineViews, cpu: number, pcid: number, vpn: number, write: boolean): number {
  const c = ctlbLookup(v.tlb, cpu, vpn, pcid);
  if (c < 0) return -1;
  const need = write ? TLBF_USER | TLBF_WRITE | TLBF_DIRTY : TLBF_USER;
  if ((v.tlb[c + TLBE_FLAGS] & need) !== need) return -1;
  v.counters[cpu * COUNTER_STRIDE + Counter.ContTlbHits]++;
  return c;
}

/**
 * The walk functions of a CPU with or without FEAT_HAFDBS: walker.ts's signatures, for cpu.ts to
 * call on its miss path.
 */
export interface Arm64Walker {
  walkForRead(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch?: number): number;
  walkForWrite(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch?: number): number;
  walkSpeculative(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch?: number): number;
}

function walkerWith(hafdbs: boolean): Arm64Walker {
  return {
    walkForRead: (v, cpu, cr3, pcid, vpn, victim, epoch = 0) => rawWalk(v, cpu, cr3, pcid, vpn, Access.Read, victim, epoch, hafdbs),
    walkForWrite: (v, cpu, cr3, pcid, vpn, victim, epoch = 0) => rawWalk(v, cpu, cr3, pcid, vpn, Access.Write, victim, epoch, hafdbs),
    walkSpeculative: (v, cpu, cr3, pcid, vpn, victim, epoch = 0) => rawWalk(v, cpu, cr3, pcid, vpn, Access.Speculative, victim, epoch, hafdbs),
  };
}

/** The walker of a CPU with FEAT_HAFDBS (the default hardware), and of one without it. */
export const ARM64_WALKER_HAFDBS: Arm64Walker = walkerWith(true);
export const ARM64_WALKER_NO_HAFDBS: Arm64Walker = walkerWith(false);

/** A walk for a user load, FEAT_HAFDBS on: the TLB entry's word index, or a fault code. */
export const walkForRead = ARM64_WALKER_HAFDBS.walkForRead;
/** A walk for a user store (also the re-walk that clears RDONLY on a DBM entry), FEAT_HAFDBS on. */
export const walkForWrite = ARM64_WALKER_HAFDBS.walkForWrite;
/** A speculative walk, FEAT_HAFDBS on: fills when the translation is valid, does nothing otherwise. */
export const walkSpeculative = ARM64_WALKER_HAFDBS.walkSpeculative;
