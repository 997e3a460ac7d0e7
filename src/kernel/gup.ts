/*
 * GUP-fast: pinning user pages without taking a lock (mm/gup.c: gup_fast, gup_fast_pgd_range ..
 * gup_fast_pte_range, the lockless half of pin_user_pages_fast), and unpin_user_pages.
 *
 * The invariant it relies on: a page table is freed only after an RCU grace period
 * (MMU_GATHER_RCU_TABLE_FREE, mmu-gather.ts, kernel/rcu.ts) or, where khugepaged reuses one at
 * once, after tlb_remove_table_sync_one's IPI to every CPU; a page that a PTE mapped is freed
 * only after the TLB flush IPI to the CPUs of mm_cpumask (arch/x86/flush.ts flushTlbMmRange).
 * GUP-fast keeps IRQs off from its first page-table read to its last: that is an RCU read-side
 * section, and no IPI can be taken in it, so no table it reads from and no page it finds mapped
 * can be freed under it. It takes no lock at all.
 *
 * What it does not rely on: that the entries stay put. munmap, madvise and khugepaged clear
 * entries under their own locks while the walk runs, so each entry is read once (READ_ONCE;
 * pmdp_get_lockless at the PMD level) and every decision is made on that copy. A page is taken
 * with a try-get that fails on a page whose last reference is going (try_grab_folio), then pinned,
 * and then the PMD and the PTE are read again: if either changed, the page may already be on its
 * way out of this mapping (a zap, or pmdp_collapse_flush about to copy it away) and the pin is
 * dropped and the walk stops (mainline 70cbc3cc78a9, "mm: gup: fix the fast GUP race against THP
 * collapse"). The caller falls back to the slow path for the rest, which is not modelled here.
 *
 * The CPU must be running `mm` (current->mm; getUserPagesFast throws otherwise): that is what puts
 * it in mm_cpumask, so that a flush of the mm waits for its walk. Linux never walks another mm
 * locklessly; a remote GUP takes the mmap_lock and the slow path.
 *
 * API:
 *   getUserPagesFast(cpu, mm, addr, nrPages, write)   pin from `addr` on until a page cannot be
 *                                                     pinned locklessly; the PFNs pinned, in order
 *   unpinUserPages(cpu, pfns)                          drop the pins and their references
 *
 * The pin oracle (check/oracle.ts checkGupPin): right after each pin, the oracle looks at the page
 * table from the root (a look that marks nothing) and notes whether the PTE still maps the frame;
 * a pin handed to the caller although it was taken when the frame was no longer mapped at that
 * address is reported (gup-pin-unmapped). The recheck below is what keeps that from happening.
 *
 * For oracles each call also reports whether a table it read was freed before the walk ended
 * (GupFastResult.walkedFreedTable). The frame generation (frames.ts) of every table is read when
 * the walk first reaches it, and read again once the walk is over, before IRQs come back on: a
 * different generation means the table was freed while this CPU was inside it, which the
 * invariant above forbids. A table freed in the instant between reading the entry that points to
 * it and reading its generation is caught by its kind (no longer a page table), unless it was
 * already reused as a page table in that instant.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { FrameKind, PAGE_SIZE } from '../machine/phys-layout.ts';
import { frameGen, frameKind } from '../machine/frames.ts';
import { PGD_LEVEL, PTE_LEVEL, USER_VA_LIMIT, entrySpan, entryWord, tableIndex, vpnOf } from '../machine/pagetable.ts';
import { pmdLeaf, ptePfn, ptePresent, pteUser, pteWrite } from '../machine/pte.ts';
import { mmPgd } from './mm.ts';
import { folioTryGet, pinPage, putPage, unpinPage } from './page.ts';
import { ViolationKind, checkGupPin, gupPinMappedNoSideEffects, reportViolation } from '../check/oracle.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit, traceVpn } from '../trace/events.ts';

export interface GupFastResult {
  /** the frames pinned, for the pages from `addr` on; fewer than asked when the walk stopped early */
  pfns: number[];
  /** a page table this walk read from was freed before the walk ended (see the top of the file) */
  walkedFreedTable: boolean;
}

/** One walk: what it pinned, and the tables it went through with their generations. */
class GupFastWalk {
  readonly pfns: number[] = [];
  private readonly tables: number[] = [];
  private readonly gens: number[] = [];
  walkedFreedTable = false;

  constructor(
    readonly cpu: Cpu,
    readonly mm: number,
    readonly pgd: number,
    readonly write: boolean,
  ) {}

  /** The walk reaches `table` through an entry it just read. */
  enter(table: number): void {
    const v = this.cpu.v;
    this.tables.push(table);
    this.gens.push(frameGen(v, table));
    if (frameKind(v, table) !== FrameKind.PageTable) this.walkedFreedTable = true;
  }

  /** Whether any table entered was freed since (IRQs still off). */
  anyTableFreed(): boolean {
    const v = this.cpu.v;
    for (let i = 0; i < this.tables.length; i++) if (frameGen(v, this.tables[i]) !== this.gens[i]) return true;
    return false;
  }
}

/**
 * gup_fast_pte_range for one PTE: pin its page if the PTE allows the access, then check that
 * neither the PMD nor the PTE changed. Returns false where the fast walk has to stop.
 */
function gupFastPte(w: GupFastWalk, addr: number, ptep: number, pte: number, pmdp: number, pmd: number): boolean {
  const v = w.cpu.v;
  // pte_access_permitted
  if (!ptePresent(pte) || !pteUser(pte) || (w.write && !pteWrite(pte))) return false;
  const pfn = ptePfn(pte);
  // try_grab_folio: never resurrect a page whose count already dropped to zero
  if (!folioTryGet(v, pfn, w.cpu.id)) return false;
  pinPage(v, pfn);
  // the pin oracle's look, right after the pin (check/oracle.ts checkGupPin)
  const mappedAtPin = gupPinMappedNoSideEffects(v, w.pgd, addr, pfn);
  // Both re-reads come after the reference is taken (seq-cst): a PTE cleared or a PMD unhooked
  // before them, we see and back off; after them, our reference keeps the page alive through an
  // unmap, and makes khugepaged back off (its refcount check runs after its flush and sync IPI).
  if (Atomics.load(v.phys, pmdp) !== pmd || Atomics.load(v.phys, ptep) !== pte) {
    unpinPage(v, pfn);
    putPage(v, w.cpu.id, pfn);
    return false;
  }
  // the pin survives: it goes to the caller
  checkGupPin(v, w.cpu.id, w.mm, w.pgd, addr, pfn, pte, mappedAtPin);
  w.pfns.push(pfn);
  return true;
}

/**
 * gup_fast_pgd_range .. gup_fast_pmd_range: the entries of `table` (at `level`) that cover
 * [addr, end), each read once. `upperSlot`/`upperEntry` are the entry that pointed to `table`,
 * which the PTE level re-reads as the PMD.
 */
function gupFastRange(w: GupFastWalk, table: number, level: number, addr: number, end: number, upperSlot: number, upperEntry: number): boolean {
  const phys = w.cpu.v.phys;
  const span = entrySpan(level);
  while (addr < end) {
    const next = Math.min(end, (Math.floor(addr / span) + 1) * span);
    const slot = entryWord(table, tableIndex(vpnOf(addr), level));
    // READ_ONCE: every decision below is made on this one copy of the entry
    const e = Atomics.load(phys, slot);
    if (level === PTE_LEVEL) {
      if (!gupFastPte(w, addr, slot, e, upperSlot, upperEntry)) return false;
    } else {
      // no transparent huge pages in this kernel: a leaf above the PTE level ends the fast walk
      if (!ptePresent(e) || pmdLeaf(e)) return false;
      w.enter(ptePfn(e));
      w.cpu.raceWindow(KernelPoint.GupFastInTable); // race window: inside a table that another CPU may be unhooking
      if (!gupFastRange(w, ptePfn(e), level - 1, addr, next, slot, e)) return false;
    }
    addr = next;
  }
  return true;
}

/**
 * gup_fast (lockless_pages_from_mm) for `nrPages` pages of `mm` from `addr`: pins each page whose
 * PTE is present, user and (for `write`) writable, in order, and stops at the first that is not.
 * The CPU must be running `mm`. The caller unpins with unpinUserPages.
 */
// models mm/gup.c:gup_fast
export function getUserPagesFast(cpu: Cpu, mm: number, addr: number, nrPages: number, write: boolean): GupFastResult {
  traceKernelEnter(cpu, KPath.GupFast, mm, traceVpn(addr), nrPages, write ? 1 : 0);
  const result = rawGetUserPagesFast(cpu, mm, addr, nrPages, write);
  traceKernelExit(cpu, KPath.GupFast, result.pfns.length);
  return result;
}

/** getUserPagesFast's body, untraced. */
function rawGetUserPagesFast(cpu: Cpu, mm: number, addr: number, nrPages: number, write: boolean): GupFastResult {
  if (!Number.isInteger(nrPages) || nrPages < 0 || addr % PAGE_SIZE !== 0 || addr < 0 || addr + nrPages * PAGE_SIZE > USER_VA_LIMIT) {
    throw new RangeError(`GUP-fast of ${nrPages} pages at 0x${addr.toString(16)}: not page-aligned user addresses`);
  }
  if (mm !== cpu.mm) throw new Error(`GUP-fast walks current->mm only: CPU ${cpu.id} runs mm ${cpu.mm}, not mm ${mm}`);
  const flags = cpu.localIrqSave();
  // RACE WINDOW (GUP-fast): from here to localIrqRestore this CPU reads page tables that other
  // CPUs are unhooking; only the IPIs it cannot take before then keep those tables and pages
  // from being freed under it.
  const pgd = mmPgd(cpu.v, mm);
  const w = new GupFastWalk(cpu, mm, pgd, write);
  w.enter(pgd);
  gupFastRange(w, pgd, PGD_LEVEL, addr, addr + nrPages * PAGE_SIZE, -1, 0);
  if (w.anyTableFreed()) w.walkedFreedTable = true;
  if (w.walkedFreedTable) reportViolation(cpu.v, cpu.id, ViolationKind.FreedTableWalk, vpnOf(addr), mm, nrPages, 0, 0);
  cpu.localIrqRestore(flags);
  return { pfns: w.pfns, walkedFreedTable: w.walkedFreedTable };
}

/** unpin_user_pages: drops each pin and the reference that came with it. */
// models mm/gup.c:unpin_user_pages
export function unpinUserPages(cpu: Cpu, pfns: readonly number[]): void {
  for (const pfn of pfns) {
    unpinPage(cpu.v, pfn);
    putPage(cpu.v, cpu.id, pfn);
  }
}
