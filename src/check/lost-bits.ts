/*
 * The lost accessed/dirty-bit oracle: a kernel store over a PTE must not wipe an A or D bit that
 * the hardware set and that the kernel never saw. On x86 the D bit of a PTE is the only record that
 * an anonymous page was written since it was last clean (MADV_FREE, reclaim, writeback decide on
 * it), and A is what reclaim ages pages by; that is why ptep_get_and_clear is an xchg
 * (native_ptep_get_and_clear) and why every other primitive that takes bits away is a cmpxchg loop.
 *
 * Hardware truth, three halves:
 *
 *   the walker    when its compareExchange sets A or D in a leaf PTE (walker.ts fillLeaf), it
 *                 records that on the mapped frame (phys-layout.ts META_HW_AD: the PTE's word
 *                 index and the bits), "set by the hardware, not yet seen by the kernel"
 *                 (hwSetAccessFlags);
 *   the kernel    every primitive that returns a PTE value to the kernel (ptep_get, the xchg of
 *                 ptep_get_and_clear, test-and-clear-young's cmpxchg for A) clears from the record
 *                 the bits the value it returned carries: the kernel has seen them (kernelSawPte);
 *   a store       a plain store over a PTE (set_pte, and the store of the racy read-then-clear) is
 *                 an exchange inside the primitive, so it knows what it overwrote: a bit the old
 *                 value had, the new one has not, the record says the hardware set and nobody saw,
 *                 and this CPU's own last read of the PTE did not have either, is lost. Reported on
 *                 the storing CPU, at the store (checkPteOverwrite).
 *
 * The bit is judged lost only if it is also missing from this CPU's last look at that PTE
 * (pagetable.ts keeps it per thread): the record is written just after the walker's
 * compareExchange, so a kernel read in between sees the bit before the record exists. The walker
 * closes the same gap for a PTE that changed meanwhile by reading the PTE again after recording,
 * and withdrawing its bits when the PTE no longer holds what it wrote (a missed report at worst,
 * never a false one).
 *
 * The oracles' own reads (ptepGetNoSideEffects) mark nothing seen: the oracle is not the kernel.
 *
 * The oracle compares states, not bits: hwAdState (machine/pte.ts) says whether an entry is
 * accessed and whether it is dirty (HWAD_ACCESSED, HWAD_DIRTY). On x86 those are A and D, bits the
 * walker sets. On arm64 the walker sets AF, but marks a DBM entry dirty by clearing RDONLY, and the
 * kernel keeps dirtiness it moves out of that encoding in the software PTE_DIRTY (pte_wrprotect,
 * pte_modify); a store wipes dirtiness when hwAdState(old) has it and hwAdState(new) has not.
 *
 * Why mainline never gets there: every x86 primitive that stores over a PTE the walker may be
 * updating either returns the old value atomically (ptep_get_and_clear's xchg, the cmpxchg loops
 * of ptep_test_and_clear_young and ptep_set_wrprotect, ptep_modify_prot_start) or stores over an
 * entry the walker cannot touch (not present, or one it has just read and cleared itself), and the
 * caller carries the bits it got back to the page (folio_mark_dirty, folio_mark_accessed).

 *
 *   CPU A (kernel, read-then-clear)      CPU B (user store through a clean writable entry)
 *   old = ptep_get(ptep)   (no D)
 *                                        walker: cmpxchg(ptep, old, old | D)   succeeds
 *                                        record (ptep, D) on the frame
 *   set_pte(ptep, 0)       overwrites D: record says unseen, `old` has no D: lost-dirty-bit on A
 */
import type { MachineViews } from '../machine/memory.ts';
import {
  FRAME_META_WORDS, HWAD_DIRTY, HWAD_PTEP_SHIFT, META_HW_AD, META_HW_AD_VPN,
} from '../machine/phys-layout.ts';
import { hwAdState, ptePfn } from '../machine/pte.ts';
import { ViolationKind, reportViolation } from './oracle.ts';

const recordPtep = (r: number): number => r >>> HWAD_PTEP_SHIFT;
const BITS_MASK = (1 << HWAD_PTEP_SHIFT) - 1;

/**
 * Removes record bits `bits` from frame `pfn`'s record if it is about `ptep`; returns the bits it
 * removed. The record goes to 0 when no bit is left.
 */
function clearRecordBits(fm: Int32Array, pfn: number, ptep: number, bits: number): number {
  const i = pfn * FRAME_META_WORDS + META_HW_AD;
  for (;;) {
    const r = Atomics.load(fm, i);
    if (r === 0 || recordPtep(r) !== ptep || (r & bits) === 0) return 0;
    const left = r & BITS_MASK & ~bits;
    // races with walkers adding bits and other CPUs clearing them: retry with what they wrote
    if (Atomics.compareExchange(fm, i, r, left === 0 ? 0 : (r & ~bits)) === r) return r & bits;
  }
}

/**
 * The walker made the leaf PTE at `ptep` accessed and/or dirty, `set` (HWAD_ACCESSED,
 * HWAD_DIRTY: hwAdState(new) & ~hwAdState(old)); it now holds `pte` (mapping the frame the record
 * goes to), for the translation of `vpn`. Called right after the walker's successful
 * compareExchange.
 */
export function hwSetAccessFlags(v: MachineViews, ptep: number, pte: number, set: number, vpn: number): void {
  const fm = v.frameMeta;
  const pfn = ptePfn(pte);
  const i = pfn * FRAME_META_WORDS + META_HW_AD;
  const bits = set;
  for (;;) {
    const r = Atomics.load(fm, i);
    // the same PTE: add to its bits; another PTE of the frame: take the record over
    const next = (r !== 0 && recordPtep(r) === ptep ? r : ptep << HWAD_PTEP_SHIFT) | bits;
    if (next === r) break;
    if (Atomics.compareExchange(fm, i, r, next) === r) break;
  }
  Atomics.store(fm, pfn * FRAME_META_WORDS + META_HW_AD_VPN, vpn);
  // pairs with the kernel primitives' seen-marking: if the PTE changed since our compareExchange,
  // a primitive may have returned our bits before the record above existed; withdraw them
  if (Atomics.load(v.phys, ptep) !== pte) clearRecordBits(fm, pfn, ptep, bits);
}

/** A kernel primitive returned `pte`, read from `ptep`: the accessed and dirty state it carries is seen. */
export function kernelSawPte(v: MachineViews, ptep: number, pte: number): void {
  kernelSawHwBits(v, ptep, ptePfn(pte), hwAdState(pte));
}

/** A kernel primitive told its caller `bits` (HWAD_*) of the PTE at `ptep`, which maps `pfn`. */
export function kernelSawHwBits(v: MachineViews, ptep: number, pfn: number, bits: number): void {
  if (bits === 0) return;
  clearRecordBits(v.frameMeta, pfn, ptep, bits);
}

/**
 * A kernel store on `cpu` replaced `old` by `pte` at `ptep`; `known` is the value this CPU last
 * read from or wrote to that PTE (0 if none). Reports the accessed or dirty state the store wiped
 * that the hardware set and no kernel primitive returned: one report, lost-dirty-bit when dirty is
 * among them. States, not bits: arm64's hardware dirty is a RDONLY bit cleared (hwAdState).
 */
export function checkPteOverwrite(v: MachineViews, cpu: number, ptep: number, old: number, pte: number, known: number): void {
  const wiped = hwAdState(old) & ~hwAdState(pte) & ~hwAdState(known);
  if (wiped === 0) return;
  const pfn = ptePfn(old);
  const lost = clearRecordBits(v.frameMeta, pfn, ptep, wiped);
  if (lost === 0) return;
  const kind = (lost & HWAD_DIRTY) !== 0 ? ViolationKind.LostDirtyBit : ViolationKind.LostAccessedBit;
  const vpn = Atomics.load(v.frameMeta, pfn * FRAME_META_WORDS + META_HW_AD_VPN);
  reportViolation(v, cpu, kind, vpn, pfn, old, pte, ptep);
}

/** What the record of frame `pfn` holds for `ptep` (HWAD_ACCESSED, HWAD_DIRTY), for tests and dumps. */
export function pendingHwBitsNoSideEffects(v: MachineViews, pfn: number, ptep: number): number {
  const r = Atomics.load(v.frameMeta, pfn * FRAME_META_WORDS + META_HW_AD);
  return r !== 0 && recordPtep(r) === ptep ? r & BITS_MASK : 0;
}
