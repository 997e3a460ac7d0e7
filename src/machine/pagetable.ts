/*
 * Four-level page tables (PGD, PUD, PMD, PTE) whose tables are frames, and the primitives that
 * read and write live entries (arch/x86/include/asm/pgtable.h, include/linux/pgtable.h).
 *
 * Every access to a live entry is atomic, because the hardware walker on other CPUs reads entries
 * and sets their A and D bits concurrently:
 *
 *   ptepGet                 Atomics.load
 *   setPte                  set_pte: a plain store in the kernel, Atomics.exchange here so that
 *                           the lost-bit oracle knows what it overwrote (check/lost-bits.ts)
 *   setPtes                 set_ptes: `nr` consecutive entries mapping consecutive frames, one
 *                           setPte each (arm64 will make it contpte_set_ptes)
 *   ptepGetAndClear         Atomics.exchange: returns the entry with whatever A/D bit a walker
 *                           set up to the instant it was cleared
 *   ptepTestAndClearYoung   compareExchange loop of pte_mkold
 *   ptepSetWrprotect        compareExchange loop of pte_wrprotect (arm64 __ptep_set_wrprotect;
 *                           on x86 the same as clearing RW atomically)
 *   ptepGetNoSideEffects    Atomics.load for checkers and dumps: not the kernel's look
 *
 * The lost-bit oracle rides on these primitives (check/lost-bits.ts): the ones that return an
 * entry to the kernel mark its A and D bits seen, and setPte reports an A or D bit it wipes that
 * the walker set and nobody saw. Each thread runs one CPU (workers/cpu.ts), which bindPteCpu
 * names; the thread also remembers the last entry it read or wrote (`known` in lost-bits.ts).
 * Upper-level entries (table pointers) go through the same primitives; the walker records bits
 * for leaves only (a PTE, or a 2 MiB leaf at the PMD level), so nothing is pending for pointers.
 *
 * Every write here is a scheduling point of a controlled run (schedule/baton.ts).
 *
 * Every change an entry goes through here is logged on this thread's CPU's ring (trace/events.ts
 * Ev.PteChange: the primitive, the mm, the VPN, the level, the old and the new entry), and so is
 * the walker's A/D update (machine/walker.ts); a table frame keeps the first VPN it maps
 * (META_TABLE_VPN) so that an entry's VPN is known from its word index. The control plane's
 * changes (set-up on the main thread) have no ring and are not logged.
 *
 * Entries are addressed by their word index in physical memory (`ptep`), as the kernel passes a
 * pte_t pointer. User virtual addresses are below USER_VA_LIMIT (2^43, so that a VPN fits in 31
 * bits); the walk is still the full four-level one.
 */
import type { MachineViews } from './memory.ts';
import { allocFrame, frameMetaIndex, freeFrame } from './frames.ts';
import { FrameKind, META_INDEX, META_OWNER, META_TABLE_VPN, PAGE_SIZE, PTRS_PER_TABLE, WORDS_PER_FRAME } from './phys-layout.ts';
import { Ev, PteOp, traceEvent } from '../trace/events.ts';
import { hwAdState, pfnPte, pmdLeaf, pmdTableEntry, pteMkold, ptePfn, ptePgprot, ptePresent, pteWrprotect, pteYoung } from './pte.ts';
import { checkPteOverwrite, kernelSawHwBits, kernelSawPte } from '../check/lost-bits.ts';
import { HWAD_ACCESSED } from './phys-layout.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';

export const USER_VA_LIMIT = 2 ** 43;
export const PMD_SIZE = PAGE_SIZE * PTRS_PER_TABLE;
export const PMD_SHIFT = 21;

/** Page-table levels as the walker counts them: the PTE table is level 1, the PGD level 4. */
export const PTE_LEVEL = 1;
export const PMD_LEVEL = 2;
export const PUD_LEVEL = 3;
export const PGD_LEVEL = 4;

/** pmd_addr_end: the next PMD boundary above `addr`, or `end` if that comes first. */
export function pmdAddrEnd(addr: number, end: number): number {
  return Math.min(end, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
}

/** Bytes one entry of a table at `level` maps: a page at PTE_LEVEL, 2 MiB at PMD_LEVEL, ... */
export function entrySpan(level: number): number {
  // a multiplication, not PTRS_PER_TABLE ** (level - 1): V8's pow of a variable costs tens of ns
  return PAGE_SIZE * (1 << (9 * (level - 1)));
}

export function vpnOf(va: number): number {
  return (va / PAGE_SIZE) | 0;
}

/** Index of the entry for `vpn` in the table at `level`. */
export function tableIndex(vpn: number, level: number): number {
  return (vpn >>> (9 * (level - 1))) & (PTRS_PER_TABLE - 1);
}

/** Word index in physical memory of entry `index` of table frame `table`. */
export function entryWord(table: number, index: number): number {
  return table * WORDS_PER_FRAME + index;
}

/** The CPU this thread runs, for reports from the primitives; -1 on the control plane. */
let pteCpu = -1;
/** The entry this thread last read from or wrote to (its word index, and the value). */
let knownPtep = -1;
let knownPte = 0;

/** Names the CPU this thread runs (one per worker thread). */
export function bindPteCpu(cpu: number): void {
  pteCpu = cpu;
  knownPtep = -1;
}

/**
 * Logs a change of the entry at `ptep` on `cpu`'s ring (nothing on the control plane): the mm and
 * level of its table, and the VPN it maps, from the table frame's metadata.
 */
export function tracePteChange(v: MachineViews, cpu: number, op: PteOp, ptep: number, old: number, pte: number): void {
  if (cpu < 0) return;
  const table = Math.floor(ptep / WORDS_PER_FRAME);
  traceEvent(v, cpu, Ev.PteChange, op, ptepOwner(v, ptep), ptepVpn(v, ptep), v.frameMeta[frameMetaIndex(table, META_INDEX)], old, pte);
}

/** The mm whose page table holds the entry at `ptep` (its table frame's owner). */
export function ptepOwner(v: MachineViews, ptep: number): number {
  return v.frameMeta[frameMetaIndex(Math.floor(ptep / WORDS_PER_FRAME), META_OWNER)];
}

/** The first VPN the entry at `ptep` maps, from its table frame's first VPN and level. */
export function ptepVpn(v: MachineViews, ptep: number): number {
  const table = Math.floor(ptep / WORDS_PER_FRAME);
  const m = v.frameMeta;
  const level = m[frameMetaIndex(table, META_INDEX)];
  return m[frameMetaIndex(table, META_TABLE_VPN)] + (ptep - table * WORDS_PER_FRAME) * 2 ** (9 * (level - 1));
}

/** ptep_get: the kernel's look at an entry; the A and D bits it returns are seen. */
export function ptepGet(v: MachineViews, ptep: number): number {
  const pte = Atomics.load(v.phys, ptep);
  knownPtep = ptep;
  knownPte = pte;
  if (hwAdState(pte) !== 0) kernelSawPte(v, ptep, pte);
  return pte;
}

/** A look at an entry for checkers and dumps: marks nothing seen (check/lost-bits.ts). */
export function ptepGetNoSideEffects(v: MachineViews, ptep: number): number {
  return Atomics.load(v.phys, ptep);
}

/**
 * set_pte. The kernel's is a plain store; this one is an exchange so that it knows what it
 * overwrote: an A or D bit the walker set that the kernel never saw, and that `pte` does not keep,
 * is reported as lost, on `cpu` (this thread's CPU unless given).
 */
export function setPte(v: MachineViews, ptep: number, pte: number, cpu = pteCpu): void {
  schedPoint(Point.PteWrite);
  // publishes the new entry to walkers; a walker that reads it reads the frame's contents after it
  const old = Atomics.exchange(v.phys, ptep, pte);
  tracePteChange(v, cpu, PteOp.SetPte, ptep, old, pte);
  const known = knownPtep === ptep ? knownPte : 0;
  knownPtep = ptep;
  knownPte = pte;
  if ((hwAdState(old) & ~hwAdState(pte) & ~hwAdState(known)) !== 0) checkPteOverwrite(v, cpu, ptep, old, pte, known);
}

/**
 * set_ptes: maps `nr` consecutive frames from `pte`'s with `nr` consecutive entries from `ptep`
 * (one PTE table: the caller holds its lock), each as setPte writes one, with its scheduling point:
 * a walker may see some of the entries set and not yet the others. The generic set_ptes loop
 * (include/linux/pgtable.h), pte_advance_pfn between entries.
 */
export function setPtes(v: MachineViews, ptep: number, pte: number, nr: number, cpu = pteCpu): void {
  const pfn = ptePfn(pte);
  const prot = ptePgprot(pte);
  for (let i = 0; i < nr; i++) setPte(v, ptep + i, i === 0 ? pte : pfnPte(pfn + i, prot), cpu);
}

/** ptep_get_and_clear: one atomic exchange, so no A/D bit a walker sets can be lost. */
export function ptepGetAndClear(v: MachineViews, ptep: number): number {
  schedPoint(Point.PteWrite);
  const pte = Atomics.exchange(v.phys, ptep, 0);
  tracePteChange(v, pteCpu, PteOp.GetAndClear, ptep, pte, 0);
  knownPtep = ptep;
  knownPte = pte;
  if (hwAdState(pte) !== 0) kernelSawPte(v, ptep, pte);
  return pte;
}

/** ptep_test_and_clear_young: pte_mkold if young; returns whether it was (A is then seen). */
export function ptepTestAndClearYoung(v: MachineViews, ptep: number): boolean {
  schedPoint(Point.PteWrite);
  if (knownPtep === ptep) knownPtep = -1;
  for (;;) {
    const old = Atomics.load(v.phys, ptep);
    if (!pteYoung(old)) return false;
    const pte = pteMkold(old);
    // races with a walker setting A or D: retry with what it wrote
    if (Atomics.compareExchange(v.phys, ptep, old, pte) === old) {
      tracePteChange(v, pteCpu, PteOp.ClearYoung, ptep, old, pte);
      // the caller learns A, not D: only A is seen
      kernelSawHwBits(v, ptep, ptePfn(old), HWAD_ACCESSED);
      return true;
    }
  }
}

/**
 * ptep_set_wrprotect: pte_wrprotect without losing a dirty bit set concurrently (arm64's moves a
 * hardware dirty state into PTE_DIRTY); nothing is seen.
 */
export function ptepSetWrprotect(v: MachineViews, ptep: number): void {
  schedPoint(Point.PteWrite);
  if (knownPtep === ptep) knownPtep = -1;
  for (;;) {
    const old = Atomics.load(v.phys, ptep);
    const pte = pteWrprotect(old);
    if (Atomics.compareExchange(v.phys, ptep, old, pte) === old) {
      tracePteChange(v, pteCpu, PteOp.SetWrprotect, ptep, old, pte);
      return;
    }
  }
}

/** Allocates a zeroed PGD for an mm. Returns its PFN, 0 when memory is out. */
export function pgdAlloc(v: MachineViews, cpu: number, owner: number): number {
  const pgd = allocFrame(v, cpu, FrameKind.PageTable, owner, PGD_LEVEL, true);
  if (pgd !== 0) v.frameMeta[frameMetaIndex(pgd, META_TABLE_VPN)] = 0;
  return pgd;
}

/**
 * The entry for `va` at `level` under `pgd`, without allocating: its word index, or -1 when a
 * table on the way is missing or a 2 MiB leaf stands above it (pmd_offset and friends).
 */
export function entryOffset(v: MachineViews, pgd: number, va: number, level: number): number {
  const vpn = vpnOf(va);
  let table = pgd;
  for (let l = PGD_LEVEL; l > level; l--) {
    const e = Atomics.load(v.phys, entryWord(table, tableIndex(vpn, l)));
    if (!ptePresent(e) || pmdLeaf(e)) return -1;
    table = ptePfn(e);
    // an oracle's look may race with a table being freed and reused: never leave physical memory
    if (table >= v.nrFrames) return -1;
  }
  return entryWord(table, tableIndex(vpn, level));
}

/** pte_offset: the PTE for `va` under `pgd`, or -1 (see entryOffset). */
export function pteOffset(v: MachineViews, pgd: number, va: number): number {
  return entryOffset(v, pgd, va, PTE_LEVEL);
}

/** The PTE for `va` under `pgd` as it is now, 0 where no PTE table covers it: a checker's look. */
export function pteAtNoSideEffects(v: MachineViews, pgd: number, va: number): number {
  const ptep = pteOffset(v, pgd, va);
  return ptep < 0 ? 0 : ptepGetNoSideEffects(v, ptep);
}

/**
 * Finds the PTE for `va`, allocating the missing tables on the way (__pte_alloc and friends).
 * Two CPUs may race to populate one entry: each installs its table with compareExchange against
 * an empty entry, and the loser frees its table, as pmd_populate under the lock does.
 * Returns the word index of the PTE, or -1 when memory is out or a 2 MiB leaf maps `va`.
 */
export function pteAlloc(v: MachineViews, cpu: number, pgd: number, va: number, owner: number): number {
  return entryAlloc(v, cpu, pgd, va, owner, PTE_LEVEL);
}

/**
 * The PMD entry for `va`, allocating the PUD and PMD tables on the way but no PTE table
 * (pmd_alloc, as mremap's alloc_new_pmd needs it): -1 when memory is out or a 1 GiB leaf is there.
 */
export function pmdAlloc(v: MachineViews, cpu: number, pgd: number, va: number, owner: number): number {
  return entryAlloc(v, cpu, pgd, va, owner, PMD_LEVEL);
}

/** The entry for `va` at `target`, allocating the missing tables above it (pteAlloc, pmdAlloc). */
function entryAlloc(v: MachineViews, cpu: number, pgd: number, va: number, owner: number, target: number): number {
  const vpn = vpnOf(va);
  let table = pgd;
  for (let level = PGD_LEVEL; level > target; level--) {
    const slot = entryWord(table, tableIndex(vpn, level));
    let e = Atomics.load(v.phys, slot);
    if (!ptePresent(e)) {
      const fresh = allocFrame(v, cpu, FrameKind.PageTable, owner, level - 1, true);
      if (fresh === 0) return -1;
      // the first VPN the new table maps: `vpn` without the bits its entries index
      v.frameMeta[frameMetaIndex(fresh, META_TABLE_VPN)] = vpn - (vpn % 2 ** (9 * (level - 1)));
      const want = pmdTableEntry(fresh);
      schedPoint(Point.PteWrite);
      // pairs with the walker's load of this entry: the zeroed table is visible before the pointer
      const seen = Atomics.compareExchange(v.phys, slot, e, want);
      if (seen === e) {
        e = want;
        tracePteChange(v, cpu, PteOp.Populate, slot, seen, want);
      } else {
        freeFrame(v, cpu, fresh);
        e = seen;
      }
    }
    if (pmdLeaf(e)) return -1;
    table = ptePfn(e);
  }
  return entryWord(table, tableIndex(vpn, target));
}

/**
 * The table frames on the path to `va`, from the PGD down (for checks and page-table freeing):
 * fills `out[level]` with the PFN of the table at that level, 0 where missing.
 */
export function tablesOnPathNoSideEffects(v: MachineViews, pgd: number, va: number, out: Int32Array): void {
  const vpn = vpnOf(va);
  out.fill(0);
  let table = pgd;
  for (let level = PGD_LEVEL; level >= PTE_LEVEL; level--) {
    out[level] = table;
    if (level === PTE_LEVEL) break;
    const e = Atomics.load(v.phys, entryWord(table, tableIndex(vpn, level)));
    if (!ptePresent(e) || pmdLeaf(e)) break;
    table = ptePfn(e);
  }
}
