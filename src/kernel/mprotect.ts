/*
 * mprotect and change_protection (mm/mprotect.c), the machinery NUMA hinting shares (numa.ts).
 *
 * The rule: when mprotect returns, no CPU translates an address of the range with more permission
 * than the new protection grants; in particular no CPU writes through a translation that mprotect
 * demoted. Between a PTE's change and the flush, other CPUs may keep using their old TLB entries:
 * that is allowed only because mprotect has not returned yet, and because anyone else who must
 * know (migration, numa.ts) sees mm_tlb_flush_pending() meanwhile.
 *
 * change_pte_range, per PTE table, under its PTL:
 *   1. flush_tlb_batched_pending: what reclaim cleared and has not flushed is flushed first;
 *   2. for each present PTE (pte_present, pteMapsPage: PROT_NONE ones included):
 *        ptep_modify_prot_start   ptep_get_and_clear (arch/pgtable.ts ptepGetAndClear, switch
 *                                 ptepGetAndClear): the walker can no longer set A or D, so the
 *                                 value returned is the PTE's last word, dirty bit included
 *        pte_modify               the VMA's new protection, PFN and A/D kept
 *        maybe pte_mkwrite        when the page may be written without a fault (exclusive
 *                                 anonymous page, or a dirty page of a shared mapping)
 *        ptep_modify_prot_commit  set_pte
 *      and decide from the old and new PTE whether a TLB may still hold a translation the new
 *      PTE forbids (pteNeedsFlush, switch mprotectFlush).
 *
 * Why the dirty bit decides a write-protect (skip-promotions): x86 caches D in the TLB entry. A
 * store through an entry whose cached D is clear re-walks to set D, and faults if the PTE is no
 * longer present and writable. So a clean writable entry cannot write once the PTE is read-only,
 * flush or not; a dirty one can, until it is flushed. The old PTE's D must therefore be exact:
 * with switch ptepGetAndClear=read-then-clear, a D the walker sets between the read and the clear
 * is lost, the write-protect looks clean, and a CPU keeps writing after mprotect returns.
 *
 * Batching (switch mprotectBatching), ProtectionBatch below:
 *   mmu-gather      tlb_gather_mmu before the walk (inc_tlb_flush_pending), tlb_flush_pte_range
 *                   for each PTE that needs it, tlb_finish_mmu at the end (one flush of the
 *                   gathered range, then dec_tlb_flush_pending); mainline since v5.19
 *   flush-pending   inc_tlb_flush_pending, the walk, one flush_tlb_range over everything walked
 *                   if any PTE needed it, dec_tlb_flush_pending; the code before v5.19
 *
 * API:
 *   sysMprotect                    the system call (mmap_lock held for writing, each VMA changed write-locked)
 *   protectionBatchStart / protectionBatchFinish   bracket change_protection calls
 *   changeProtection               change_protection over [start, end) of one VMA
 *   pteNeedsFlush                  the flush decision, a pure function of the two PTEs
 *   vmGetPageProt, pteModifyForVma   the VMA's PTE protection, shared with do_numa_page
 *
 * Simplified: no vma_merge (a split stays split), no PKEYs, no NX (fault.ts never sets it).
 *
 * numa.ts imports this module and this module imports numa.ts (the PROT_NONE bit); each uses the
 * other's bindings only inside functions, so the cycle is safe in either load order.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import type { SwitchValue } from '../config/kernel-config.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { USER_VA_LIMIT, pmdAddrEnd, pteOffset } from '../machine/pagetable.ts';
import { ptepGet, ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import {
  PAGE_NONE, PAGE_READONLY, pteDirty, pteMkwrite, pteMapsPage, pteModify, pteNeedsFlush as archPteNeedsFlush, pteNone,
  ptePfn, ptePresent, pteProtnone, pteWrite,
} from '../machine/pte.ts';
// the seed 000 patch 03 variants are x86 code (their switch values are x86's): x86 bits by name
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX, _PAGE_RW, _PAGE_SOFTW1, _PAGE_SOFTW2, _PAGE_SOFTW3,
} from '../machine/pte-x86.ts';
import { flushTlbMmRange } from '../arch/tlbflush.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { decTlbFlushPending, incTlbFlushPending, mmPgd, mmapWriteLock, mmapWriteUnlock } from './mm.ts';
import { VMA_FLAGS, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from './vma-layout.ts';
import { splitVmasAt, vmaEnd, vmaFlags, vmaStart, vmasIn, type Vma } from './vma.ts';
import { vmaStartWrite } from './vma-lock.ts';
import { type MmuGather, tlbFinishMmu, tlbFlushPteRange, tlbGatherMmu } from './mmu-gather.ts';
import { pageIsAnon, pageMapcount } from './page.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { flushTlbBatchedPending } from './tlb-batch.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from './mmap.ts';
import { PromiseKind, makePromise, promiseStart } from '../check/promises.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit, tracePages, traceVpn } from '../trace/events.ts';

const EINVAL = -22;
const ENOMEM = -12;

/** change_protection's cp_flags */
export const MM_CP_TRY_CHANGE_WRITABLE = 1 << 0;
export const MM_CP_PROT_NUMA = 1 << 1;

/**
 * vm_get_page_prot, from the arch's protection_map (machine/pte.ts), as fault.ts maps pages:
 * readable or writable VMAs get PAGE_READONLY (private memory is copy-on-write, PAGE_COPY;
 * shared file memory is write-notified: write access is granted per page); no access at all is
 * PAGE_NONE. Execute permission is not modelled.
 */
export function vmGetPageProt(vmFlags: number): number {
  if ((vmFlags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return PAGE_NONE;
  return PAGE_READONLY;
}

/**
 * can_change_pte_writable: may this PTE of a VM_WRITE VMA become writable without a write fault?
 * A private mapping only for an exclusive anonymous page (mapped once: a page fork shares is mapped
 * twice until a write fault copies it; mapcount 1 stands in for PageAnonExclusive), a
 * shared mapping only for a PTE already dirty (otherwise writeback must see the first write).
 */
function canChangePteWritable(v: MachineViews, vma: Vma, pte: number): boolean {
  if (pteProtnone(pte)) return false;
  if ((vmaFlags(v, vma) & VM_SHARED) === 0) {
    const pfn = ptePfn(pte);
    return pageIsAnon(v, pfn) && pageMapcount(v, pfn) === 1;
  }
  return pteDirty(pte);
}

/**
 * pte_modify to `newprot`, then pte_mkwrite where change_pte_range (with `tryWritable`,
 * MM_CP_TRY_CHANGE_WRITABLE) or do_numa_page would make the PTE writable.
 */
export function pteModifyForVma(v: MachineViews, vma: Vma, pte: number, newprot: number, tryWritable: boolean): number {
  const modified = pteModify(pte, newprot);
  if (tryWritable && !pteWrite(modified) && canChangePteWritable(v, vma, modified)) return pteMkwrite(modified);
  return modified;
}

export type MprotectFlushMode = SwitchValue<'mprotectFlush'>;

/** Bits no TLB caches a meaning for: software bits, and A, whose loss costs aging only (x86 ptep_clear_flush_young). */
const FLUSH_IGNORE = _PAGE_SOFTW1 | _PAGE_SOFTW2 | _PAGE_SOFTW3 | _PAGE_ACCESSED;
/** Granting these needs no flush; taking them away does. */
const FLUSH_ENABLE = _PAGE_RW | _PAGE_DIRTY | _PAGE_GLOBAL;
/** Taking these away (setting them) needs a flush; granting does not. */
const FLUSH_DISABLE = _PAGE_NX;

/**
 * The x86 pte_may_need_flush of seed 000 patch 03, with its early exit for a change of RW and D
 * only taken when `earlyExit(oldPte)` holds; the rest of the function is the same in both forms.
 */
function pteMayNeedFlush(oldPte: number, newPte: number, earlyExit: (oldPte: number) => boolean): boolean {
  const diff = oldPte ^ newPte;
  // a cleared entry needs a flush if the old one may be cached
  if (pteNone(newPte)) return !pteNone(oldPte);
  if ((diff & ~(_PAGE_RW | _PAGE_DIRTY | FLUSH_IGNORE)) === 0 && earlyExit(oldPte)) return false;
  // the PFN, P, US, caching: any change; RW, D, G: only when the old PTE had them; NX: when set
  return (diff & ((oldPte & FLUSH_ENABLE) | (newPte & FLUSH_DISABLE) | ~(FLUSH_ENABLE | FLUSH_DISABLE | FLUSH_IGNORE))) !== 0;
}

/**
 * The early exit as posted: `!(pte_dirty(old) || !pte_write(old))`, i.e. only a clean AND
 * writable old PTE. It meant "clean or not writable"; Nadav Amit's reply to Andy Lutomirski's
 * review gives the corrected `!pte_dirty(old) || !pte_write(old)`.
 */
const rfcEarlyExit = (oldPte: number): boolean => !(pteDirty(oldPte) || !pteWrite(oldPte));
const correctedEarlyExit = (oldPte: number): boolean => !pteDirty(oldPte) || !pteWrite(oldPte);

/**
 * Whether a TLB may still hold a translation of `oldPte` that `newPte` no longer allows, by switch
 * mprotectFlush:
 *   mainline          the arch's pte_needs_flush (machine/pte.ts). x86: skips only non-present
 *                     old PTEs, A, software bits and the setting of D; flushes every change of
 *                     RW, promotions included. arm64 (c320dbb7c80d): skips only an old entry that
 *                     was not valid and changes of software bits
 *   (the two below are x86's: their bits are x86's)
 *   always            yes, for every present PTE changed (the code before seed 000 patch 03)
 *   skip-promotions   no when the old PTE was not present (x86 never caches one, as mainline's
 *                     pte_needs_flush says first), nor for a promotion (RW, D, G granted, NX
 *                     cleared), nor for a change of RW and D alone when the old PTE was clean or
 *                     not writable: the corrected pte_may_need_flush
 *   rfc-condition     pte_may_need_flush exactly as first posted
 *
 * Where the last two differ, rfc-condition flushes and skip-promotions does not: an old PTE that
 * was not present, and an old PTE that was read-only and dirty whose RW or D changes. On x86
 * neither difference is a safety hole: a non-present entry is never cached, and a read-only entry
 * cannot write (the store faults, and the fault refetches the PTE). The misplaced negation costs
 * flushes; it skips no flush that skip-promotions makes. (With CET shadow stacks a read-only
 * dirty entry IS writable, one reason mainline flushes whenever D is cleared; not modelled.)
 *
 * Mainline is stricter than skip-promotions: it also flushes a promotion of RW (to spare the
 * spurious fault) and whenever D is cleared.
 */
export function pteNeedsFlush(mode: MprotectFlushMode, oldPte: number, newPte: number): boolean {
  switch (mode) {
    case 'mainline':
      return archPteNeedsFlush(oldPte, newPte);
    case 'always':
      return true;
    case 'skip-promotions':
      return ptePresent(oldPte) && pteMayNeedFlush(oldPte, newPte, correctedEarlyExit);
    case 'rfc-condition':
      return pteMayNeedFlush(oldPte, newPte, rfcEarlyExit);
  }
}

/**
 * The deferred flush of one change_protection run, by switch mprotectBatching. Either way the
 * mm's tlb_flush_pending count is raised before the first PTE changes and dropped only after the
 * flush: a CPU that finds a PTE this run changed also finds the count raised (mm.ts).
 */
export class ProtectionBatch {
  /** flush-pending: the range walked, and whether any PTE in it needs a flush */
  start = Infinity;
  end = 0;
  needFlush = false;

  constructor(
    readonly mm: number,
    /** mmu-gather: the gather; null for flush-pending */
    readonly tlb: MmuGather | null,
  ) {}
}

/** tlb_gather_mmu, or inc_tlb_flush_pending: a deferred flush of `mm` begins. */
export function protectionBatchStart(cpu: Cpu, mm: number, start: number, end: number): ProtectionBatch {
  if (cpu.config.mprotectBatching === 'mmu-gather') return new ProtectionBatch(mm, tlbGatherMmu(cpu, mm, start, end));
  incTlbFlushPending(cpu.v, mm);
  return new ProtectionBatch(mm, null);
}

/** tlb_flush_pte_range, or a note that the final flush_tlb_range is needed. */
function protectionBatchFlushPte(batch: ProtectionBatch, va: number): void {
  if (batch.tlb !== null) tlbFlushPteRange(batch.tlb, va, PAGE_SIZE);
  else batch.needFlush = true;
}

/**
 * tlb_finish_mmu, or flush_tlb_range + dec_tlb_flush_pending. When this returns, no CPU
 * translates an address this batch changed through an entry that pteNeedsFlush said must go.
 */
export function protectionBatchFinish(cpu: Cpu, batch: ProtectionBatch): void {
  if (batch.tlb !== null) {
    tlbFinishMmu(cpu, batch.tlb);
    return;
  }
  if (batch.needFlush) flushTlbMmRange(cpu, batch.mm, batch.start, batch.end);
  decTlbFlushPending(cpu.v, batch.mm);
}

/**
 * change_pte_range for [start, end) inside one PTE table of `vma`. Returns how many PTEs changed.
 */
function changePteRange(cpu: Cpu, batch: ProtectionBatch, vma: Vma, start: number, end: number, newprot: number, cpFlags: number): number {
  const v = cpu.v;
  const mm = batch.mm;
  const first = pteOffset(v, mmPgd(v, mm), start);
  if (first < 0) return 0;
  const protNuma = (cpFlags & MM_CP_PROT_NUMA) !== 0;
  const tryWritable = (cpFlags & MM_CP_TRY_CHANGE_WRITABLE) !== 0;
  pteLock(cpu, first);
  flushTlbBatchedPending(cpu, mm);
  let pages = 0;
  // ptep++ as the kernel walks: [start, end) never crosses a PTE table
  for (let addr = start, ptep = first; addr < end; addr += PAGE_SIZE, ptep++) {
    const pte = ptepGet(cpu, ptep);
    if (!pteMapsPage(pte)) continue;
    // already a hinting fault away: no change, no flush
    if (protNuma && pteProtnone(pte)) continue;
    const oldPte = ptepGetAndClear(cpu, mm, addr, ptep);
    const newPte = pteModifyForVma(v, vma, oldPte, newprot, tryWritable);
    // publishes the new protection; a CPU that faults meanwhile waits on the PTL we hold
    setPte(cpu, ptep, newPte);
    if (pteNeedsFlush(cpu.config.mprotectFlush, oldPte, newPte)) protectionBatchFlushPte(batch, addr);
    pages++;
  }
  pteUnlock(cpu, first);
  cpu.raceWindow(KernelPoint.MprotectPtlDroppedFlushPending); // race window: PTEs changed, PTL dropped, their flush still deferred (mm_tlb_flush_pending)
  return pages;
}

/**
 * change_protection over [start, end) (bytes) of one VMA: every present PTE gets `newprot`
 * (pte_modify), made writable where MM_CP_TRY_CHANGE_WRITABLE allows; with MM_CP_PROT_NUMA,
 * PTEs already PROT_NONE are left alone. Flushes are deferred to `batch`. Returns the PTEs changed.
 */
export function changeProtection(cpu: Cpu, batch: ProtectionBatch, vma: Vma, start: number, end: number, newprot: number, cpFlags: number): number {
  batch.start = Math.min(batch.start, start);
  batch.end = Math.max(batch.end, end);
  let pages = 0;
  for (let addr = start; addr < end; ) {
    const next = pmdAddrEnd(addr, end);
    pages += changePteRange(cpu, batch, vma, addr, next, newprot, cpFlags);
    addr = next;
  }
  return pages;
}

/** calc_vm_prot_bits */
function vmFlagsOfProt(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

/** Whether the VMAs of `mm` cover [start, end) (VPNs) without a hole. */
function rangeMapped(v: MachineViews, mm: number, start: number, end: number): boolean {
  let reached = start;
  for (const vma of vmasIn(v, mm, start, end)) {
    if (vmaStart(v, vma) > reached) return false;
    reached = vmaEnd(v, vma);
  }
  return reached >= end;
}

/** mprotect_fixup for a VMA already split to the range: new vm_flags, then change_protection. */
function mprotectFixup(cpu: Cpu, batch: ProtectionBatch, vma: Vma, prot: number): void {
  const v = cpu.v;
  const oldFlags = vmaFlags(v, vma);
  const newFlags = (oldFlags & ~(VM_READ | VM_WRITE | VM_EXEC)) | vmFlagsOfProt(prot);
  if (newFlags === oldFlags) return;
  // vm_flags_reset under the mmap_lock held for writing: faults read the flags under it for reading
  v.vmas[vma + VMA_FLAGS] = newFlags;
  // vma_wants_manual_pte_write_upgrade: private writable, or shared writable and write-notified (all here)
  const cpFlags = (newFlags & VM_WRITE) !== 0 ? MM_CP_TRY_CHANGE_WRITABLE : 0;
  changeProtection(cpu, batch, vma, vmaStart(v, vma) * PAGE_SIZE, vmaEnd(v, vma) * PAGE_SIZE, vmGetPageProt(newFlags), cpFlags);
}

/**
 * mprotect (mm/mprotect.c:do_mprotect_pkey): returns 0, -EINVAL (-22) for a bad address, length
 * or protection, -ENOMEM (-12) when part of the range is not mapped (checked before anything
 * changes; the kernel stops at the hole). When it returns 0, no CPU translates an address of the
 * range with more permission than `prot` grants.
 */
export function sysMprotect(cpu: Cpu, mm: number, addr: number, len: number, prot: number): number {
  traceKernelEnter(cpu, KPath.Mprotect, mm, traceVpn(addr), tracePages(len), prot);
  return traceKernelExit(cpu, KPath.Mprotect, rawSysMprotect(cpu, mm, addr, len, prot));
}

/** sysMprotect's body, untraced. */
function rawSysMprotect(cpu: Cpu, mm: number, addr: number, len: number, prot: number): number {
  if (!Number.isInteger(addr) || addr % PAGE_SIZE !== 0 || !Number.isInteger(len) || len <= 0) return EINVAL;
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) return EINVAL;
  const end = addr + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  if (end > USER_VA_LIMIT) return ENOMEM;
  const v = cpu.v;
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.MprotectEnter);
  const since = promiseStart(v);
  mmapWriteLock(cpu, mm);
  try {
    if (!rangeMapped(v, mm, addr / PAGE_SIZE, end / PAGE_SIZE)) return ENOMEM;
    const vmas = splitVmasAt(cpu, mm, addr / PAGE_SIZE, end / PAGE_SIZE);
    const batch = protectionBatchStart(cpu, mm, addr, end);
    for (const vma of vmas) {
      // the new vm_flags and PTEs are made with no fault under the VMA lock inside (the split
      // write-locked it already; a no-op then)
      vmaStartWrite(cpu, mm, vma);
      mprotectFixup(cpu, batch, vma, prot);
    }
    protectionBatchFinish(cpu, batch);
    // what the caller may now rely on: the oracle holds every CPU to it (check/promises.ts)
    if ((prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) === 0) makePromise(v, mm, addr, end, PromiseKind.Inaccessible, since);
    else if ((prot & PROT_WRITE) === 0) makePromise(v, mm, addr, end, PromiseKind.WriteProtected, since);
    return 0;
  } finally {
    mmapWriteUnlock(cpu, mm);
    cpu.passPoint(KernelPoint.MprotectReturn);
    cpu.setActivity(Activity.User);
  }
}
