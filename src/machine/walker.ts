/*
 * The hardware page walker, with x86 semantics (SDM vol. 3, 4.8 and 4.10). It is x86 hardware:
 * it reads entries with the x86 codec (pte-x86.ts) directly, not through machine/pte.ts.
 *
 * Invariants the kernel relies on, and that this walker keeps:
 *  - A fill sets A in every entry it passes through, atomically (compareExchange against the value
 *    it read, so that it never resurrects an entry another CPU cleared meanwhile).
 *  - The first write through a TLB entry whose cached D is clear re-walks and sets D with
 *    compareExchange, and only if the PTE is still present and writable; otherwise it faults.
 *  - A non-present entry is never modified.
 *  - A walk is one instruction: no interrupt is taken in the middle of it.
 *  - A speculative walk may fill the TLB and the paging-structure caches at any moment for the
 *    loaded page tables (also in lazy-TLB mode); it sets A but never D, and never faults.
 *
 * Upper-level entries of user page tables always grant RW and US (_PAGE_TABLE, as Linux's do),
 * so permissions are those of the leaf. A 2 MiB leaf at the PMD level (PS) fills the 2 MiB TLB,
 * then the 4 KiB piece for the page walked (tlb-layout.ts); lookupHugeTlb and fillHugePiece serve
 * a later 4 KiB miss in the same 2 MiB from that entry without a walk.
 *
 * Each fill is checked for a TLB conflict first (check/oracle.ts): a 2 MiB entry entering the
 * TLB beside 4 KiB entries of its range that translate differently, or a 4 KiB entry from a PTE
 * beside a 2 MiB translation of its page that differs.
 *
 * The walk starts at the deepest paging-structure-cache hit (PDE, then PDPTE, then PML4E cache)
 * and fills those caches for the tables it passes. Every cached pointer and every TLB entry
 * records the generation of the frame it points at, read while the entry still mapped it; a walk
 * that starts from a cached pointer to a table freed since is reported (check/oracle.ts).
 * When the compareExchange on a leaf sets A or D, the walker records it on the mapped frame, for
 * the lost-bit oracle (check/lost-bits.ts): "set by the hardware, not yet seen by the kernel".
 * `epoch` is the mm's promise count, kept in the TLB entry for the promise oracle. A walk that
 * starts from a cached pointer into another mm's table (a walk cache of an ASID that two mms
 * hold) fills with that mm's word instead: the entry translates through its tables, and the
 * access reports it as a foreign translation (cpu/cpu.ts checkHit).
 * A fill and the A/D update of a leaf are logged on the CPU's ring (trace/events.ts); a TLB hit
 * never comes here and logs nothing.
 */
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import type { MachineViews } from './memory.ts';
import { FRAME_META_WORDS, FrameKind, META_GEN, META_KIND, META_OWNER } from './phys-layout.ts';
import { MM_PROMISE_COUNT, MM_WORDS, promiseEpochMm } from '../kernel/mm-layout.ts';
import { G_TRACE_SEQ } from './globals-layout.ts';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW,
  _PAGE_USER, hwAdState, ptePfn,
} from './pte-x86.ts';
import { PGD_LEVEL, PTE_LEVEL, entryWord, tableIndex, tracePteChange } from './pagetable.ts';
import {
  HPAGE_VPNS, PSCE_GEN, PSCE_TABLE, TLBE_FLAGS, TLBE_GEN, TLBE_PFN, TLBF_DIRTY, TLBF_FILE, TLBF_GLOBAL, TLBF_NX, TLBF_USER,
  TLBF_WRITE,
} from './tlb-layout.ts';
import { ViolationKind, checkHugeTlbFill, checkPteTlbFill, reportViolation } from '../check/oracle.ts';
import { hwSetAccessFlags } from '../check/lost-bits.ts';
import { htlbFill, htlbLookup, pscFill, pscLookup, tlbBase, tlbFill, tlbFillHugePiece } from './tlb.ts';
import { COUNTER_STRIDE, Counter } from '../trace/counters.ts';
import { Ev, PteOp, traceEvent } from '../trace/events.ts';

/** Walk results below zero are faults. */
export const FAULT_NOT_PRESENT = -1;
export const FAULT_PROTECTION = -2;

const enum Access {
  Read = 0,
  Write = 1,
  Speculative = 2,
}

/** Frame `pfn`'s allocation generation now. */
export function genOf(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, pfn * FRAME_META_WORDS + META_GEN);
}

/**
 * Sets A (and D for a write) in the entry at `slot` if it still holds `e`. Returns the entry as
 * written, or 0 when it changed under us (the caller re-reads it).
 */
function markAccessed(phys: Int32Array, slot: number, e: number, bits: number): number {
  const want = e | bits;
  if (want === e) return e;
  return Atomics.compareExchange(phys, slot, e, want) === e ? want : 0;
}

/**
 * The epoch a walk from a cached pointer to `table` fills with: the loaded mm's `epoch`, or, when
 * the table is another mm's, that mm's promise word (kernel/mm-layout.ts), so that the fill is
 * seen as that mm's. An `epoch` of 0 is a walk outside any mm's accounting (tests): left alone.
 */
function tableEpoch(v: MachineViews, table: number, epoch: number): number {
  const owner = v.frameMeta[table * FRAME_META_WORDS + META_OWNER];
  if (epoch === 0 || owner === promiseEpochMm(epoch)) return epoch;
  return Atomics.load(v.mm, owner * MM_WORDS + MM_PROMISE_COUNT);
}

/** walkStart's answer: the table a walk starts at, its level, and the epoch its fill takes. */
export const walkFrom = { table: 0, level: 0, epoch: 0 };

/**
 * A walk's start, for either architecture's walker: counts it, and finds where it begins, the
 * deepest walk-cache (paging-structure-cache) hit or the root `cr3`, into walkFrom. A cached
 * pointer is checked against its table frame's generation (the freed-table-walk oracle); one that
 * holds gives the walk the epoch of the table's mm (tableEpoch). False with no root loaded.
 */
export function walkStart(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, speculative: boolean, epoch: number): boolean {
  // a walk sets A and D where another CPU may be changing the entry: a scheduling point
  schedPoint(Point.Walk);
  const { tlb } = v;
  const counters = cpu * COUNTER_STRIDE;
  v.counters[counters + (speculative ? Counter.SpeculativeWalks : Counter.PageWalks)]++;
  if (cr3 === 0) return false;
  walkFrom.table = cr3;
  walkFrom.level = PGD_LEVEL;
  walkFrom.epoch = epoch;
  for (let l = PTE_LEVEL; l < PGD_LEVEL; l++) {
    const p = pscLookup(tlb, cpu, l, vpn >>> (9 * l), pcid);
    if (p >= 0) {
      v.counters[counters + Counter.PscHits]++;
      const table = tlb[p + PSCE_TABLE];
      walkFrom.table = table;
      walkFrom.level = l;
      // the oracle: the cached pointer leads to a table frame freed since it was cached
      if (tlb[p + PSCE_GEN] !== genOf(v, table)) reportViolation(v, cpu, ViolationKind.FreedTableWalk, vpn, table, tlb[p + PSCE_GEN], genOf(v, table), l);
      else walkFrom.epoch = tableEpoch(v, table, epoch);
      break;
    }
  }
  return true;
}

function rawWalk(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, access: Access, victim: number, epoch: number): number {
  const { phys, tlb } = v;
  if (!walkStart(v, cpu, cr3, pcid, vpn, access === Access.Speculative, epoch)) return FAULT_NOT_PRESENT;
  let level = walkFrom.level;
  let table = walkFrom.table;
  epoch = walkFrom.epoch;

  for (; level > PTE_LEVEL; level--) {
    const slot = entryWord(table, tableIndex(vpn, level));
    let e: number;
    do {
      e = Atomics.load(phys, slot);
      if ((e & _PAGE_PRESENT) === 0) return FAULT_NOT_PRESENT;
      if ((e & _PAGE_PSE) !== 0) break; // a huge leaf: checked and marked below
      e = markAccessed(phys, slot, e, _PAGE_ACCESSED);
    } while (e === 0);
    // a 2 MiB leaf at the PMD level: checked, marked and cached below
    if ((e & _PAGE_PSE) !== 0) return fillLeaf(v, cpu, pcid, vpn, slot, access, victim, true, epoch);
    const next = ptePfn(e);
    pscFill(tlb, cpu, level - 1, vpn >>> (9 * (level - 1)), pcid, next, genOf(v, next));
    table = next;
  }
  return fillLeaf(v, cpu, pcid, vpn, entryWord(table, tableIndex(vpn, PTE_LEVEL)), access, victim, false, epoch);
}

/**
 * A walk's update of the leaf at `slot`, read as `e`, to `want`: by compareExchange, traced, and
 * recorded for the lost-bit oracle as the accessed and dirty state it added (`hwAdState`, the
 * walker's codec's), the kernel not having seen it yet; when there is nothing to set, a reload
 * that proves `e` still stands. False when the entry changed under the walk (it reads it again).
 */
export function hwUpdateLeaf(v: MachineViews, cpu: number, slot: number, e: number, want: number, vpn: number, hwAdState: (pte: number) => number): boolean {
  if (want === e) return Atomics.load(v.phys, slot) === e;
  if (Atomics.compareExchange(v.phys, slot, e, want) !== e) return false;
  tracePteChange(v, cpu, PteOp.HwSetAccessFlags, slot, e, want);
  hwSetAccessFlags(v, slot, want, hwAdState(want) & ~hwAdState(e), vpn);
  return true;
}

/**
 * Checks and marks the leaf at `slot`, then fills the TLB: the 4 KiB entry for `vpn`, or for a
 * 2 MiB leaf (`huge`) the 2 MiB entry and its piece for `vpn`. Returns the 4 KiB entry.
 */
function fillLeaf(v: MachineViews, cpu: number, pcid: number, vpn: number, slot: number, access: Access, victim: number, huge: boolean, epoch: number): number {
  const { phys, tlb } = v;
  for (;;) {
    const e = Atomics.load(phys, slot);
    if ((e & _PAGE_PRESENT) === 0) return FAULT_NOT_PRESENT;
    if (access !== Access.Speculative && ((e & _PAGE_USER) === 0 || (access === Access.Write && (e & _PAGE_RW) === 0))) {
      return FAULT_PROTECTION;
    }
    // the frame, or for a 2 MiB leaf the first of its 512
    const pfn = ptePfn(e);
    // the generation is read while the entry maps the frame: the compareExchange (or the reload)
    // below proves the entry had not changed, so the frame could not yet have been freed
    const gen = genOf(v, pfn);
    const bits = access === Access.Write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
    const want = e | bits;
    if (!hwUpdateLeaf(v, cpu, slot, e, want, vpn, hwAdState)) continue;
    let flags = 0;
    if ((want & _PAGE_RW) !== 0) flags |= TLBF_WRITE;
    if ((want & _PAGE_USER) !== 0) flags |= TLBF_USER;
    if ((want & _PAGE_DIRTY) !== 0) flags |= TLBF_DIRTY;
    if ((want & _PAGE_GLOBAL) !== 0) flags |= TLBF_GLOBAL;
    if ((want & _PAGE_NX) !== 0) flags |= TLBF_NX;
    if (v.frameMeta[pfn * FRAME_META_WORDS + META_KIND] === FrameKind.File) flags |= TLBF_FILE;
    v.counters[cpu * COUNTER_STRIDE + Counter.TlbFills]++;
    // the fill's place in the global order, for the promise oracle
    const fillSeq = Atomics.load(v.globals, G_TRACE_SEQ);
    traceEvent(v, cpu, Ev.TlbFill, vpn, pfn, flags);
    if (!huge) {
      checkPteTlbFill(v, cpu, vpn, pcid, pfn, flags);
      return tlbFill(tlb, tlbBase(cpu), vpn, pcid, pfn, flags, gen, victim, epoch, fillSeq);
    }
    checkHugeTlbFill(v, cpu, vpn, pcid, pfn, flags);
    return fillHugePiece(v, cpu, htlbFill(tlb, cpu, vpn, pcid, pfn, flags, gen, victim, epoch, fillSeq), vpn, victim);
  }
}

/**
 * The piece of 2 MiB entry `h` for `vpn`, installed in the 4 KiB TLB. Its generation is that
 * frame's at the 2 MiB fill: the frame's now, less what the first frame's moved since the entry
 * recorded it. A huge page is freed whole, so a piece of an entry that outlived the free carries
 * a stale generation, and the use-after-free oracle sees the access through it.
 */
export function fillHugePiece(v: MachineViews, cpu: number, h: number, vpn: number, victim: number): number {
  const { tlb } = v;
  const base = tlb[h + TLBE_PFN];
  const gen = genOf(v, base + (vpn & (HPAGE_VPNS - 1))) - (genOf(v, base) - tlb[h + TLBE_GEN]);
  return tlbFillHugePiece(tlb, cpu, h, vpn, gen, victim);
}

/**
 * A 4 KiB miss that the 2 MiB TLB may serve: the 2 MiB entry covering `vpn` when it grants the
 * access (a write needs RW and the cached D), for fillHugePiece; else -1 and the caller walks
 * (which sets D, or faults).
 */
export function lookupHugeTlb(v: MachineViews, cpu: number, pcid: number, vpn: number, write: boolean): number {
  const h = htlbLookup(v.tlb, cpu, vpn, pcid);
  if (h < 0) return -1;
  const need = write ? TLBF_USER | TLBF_WRITE | TLBF_DIRTY : TLBF_USER;
  if ((v.tlb[h + TLBE_FLAGS] & need) !== need) return -1;
  v.counters[cpu * COUNTER_STRIDE + Counter.HugeTlbHits]++;
  return h;
}

/** A walk for a user load: the TLB entry's word index, or a fault code. */
export function walkForRead(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch = 0): number {
  return rawWalk(v, cpu, cr3, pcid, vpn, Access.Read, victim, epoch);
}

/**
 * A walk for a user store, also the re-walk that sets D on the first write through a clean
 * entry: the TLB entry's word index, or a fault code.
 */
export function walkForWrite(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch = 0): number {
  return rawWalk(v, cpu, cr3, pcid, vpn, Access.Write, victim, epoch);
}

/** A speculative walk: fills when the translation is present, does nothing otherwise. */
export function walkSpeculative(v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch = 0): number {
  return rawWalk(v, cpu, cr3, pcid, vpn, Access.Speculative, victim, epoch);
}
