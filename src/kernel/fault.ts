/*
 * The page fault (mm/memory.c: handle_mm_fault, do_anonymous_page, do_shared_fault, do_wp_page).
 *
 * Runs on the faulting CPU with the mmap_lock held for reading and the PTE table's lock held while
 * the PTE is examined and set. Shared writable file mappings are write-notified: a read fault maps
 * the page read-only, so that the first write faults, marks the page dirty and only then makes the
 * PTE writable. That is what lets writeback trust "clean page, no dirty PTE".
 *
 * Returns true when the access may be retried, false for SIGSEGV / SIGBUS.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { allocFrame } from '../machine/frames.ts';
import { FrameKind } from '../machine/phys-layout.ts';
import { pteAlloc, ptepGet, setPte, vpnOf } from '../machine/pagetable.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, mkPte, ptePfn, ptePresent, pteProtnone, pteWrite } from '../machine/pte.ts';
import { loadedMm } from '../arch/x86/flush.ts';
import { INIT_MM } from './mm-layout.ts';
import { addMmRss, mmapReadLock, mmapReadUnlock, mmPgd } from './mm.ts';
import { VM_READ, VM_SHARED, VM_WRITE } from './vma-layout.ts';
import { findVma, vmaFile, vmaFlags, vmaIsAnon, vmaPgoff, vmaStart, type Vma } from './vma.ts';
import { fileSize, filemapGetPage } from './filemap.ts';
import { folioMarkDirty, pageAddRmap, pageIsAnon, putPage } from './page.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { doNumaPage } from './numa.ts';

const USER_PRESENT = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;

/** do_anonymous_page: a zeroed page of this mm, writable if the VMA is. */
function doAnonymousPage(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number, write: boolean): boolean {
  const v = cpu.v;
  const pfn = allocFrame(v, cpu.id, FrameKind.Anon, mm, vpnOf(va), true);
  if (pfn === 0) return false;
  const writable = (vmaFlags(v, vma) & VM_WRITE) !== 0;
  pageAddRmap(v, pfn);
  addMmRss(v, mm, 1);
  setPte(v, ptep, mkPte(pfn, USER_PRESENT | (writable ? _PAGE_RW : 0) | (writable && write ? _PAGE_DIRTY : 0)));
  return true;
}

/** do_read_fault / do_shared_fault: the page-cache page, read-only unless this is a write. */
function doFileFault(cpu: Cpu, vma: Vma, va: number, ptep: number, write: boolean, mm: number): boolean {
  const v = cpu.v;
  const file = vmaFile(v, vma);
  const index = vmaPgoff(v, vma) + (vpnOf(va) - vmaStart(v, vma));
  if (index >= fileSize(v, file)) return false; // SIGBUS
  const pfn = filemapGetPage(cpu, file, index);
  if (pfn === 0) return false;
  const shared = (vmaFlags(v, vma) & VM_SHARED) !== 0;
  if (write && !shared) {
    // private file mappings would copy on write; not modelled
    putPage(v, cpu.id, pfn);
    return false;
  }
  if (write) folioMarkDirty(v, pfn);
  pageAddRmap(v, pfn);
  addMmRss(v, mm, 1);
  setPte(v, ptep, mkPte(pfn, USER_PRESENT | (write ? _PAGE_RW | _PAGE_DIRTY : 0)));
  return true;
}

/** do_wp_page for a page this mm may write: reuse it, dirty (wp_page_reuse / wp_page_shared). */
function doWpPage(cpu: Cpu, ptep: number, pte: number): boolean {
  const v = cpu.v;
  const pfn = ptePfn(pte);
  if (!pageIsAnon(v, pfn)) folioMarkDirty(v, pfn);
  // a promotion: no flush, a CPU with the old read-only entry faults and finds this one
  setPte(v, ptep, pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
  return true;
}

/** handle_mm_fault for a user access at `va` on this CPU's loaded mm. */
export function handleMmFault(cpu: Cpu, va: number, write: boolean): boolean {
  const v = cpu.v;
  const mm = loadedMm(cpu);
  if (mm === INIT_MM) return false;
  cpu.setActivity(Activity.Kernel);
  mmapReadLock(cpu, mm);
  try {
    const vma = findVma(v, mm, vpnOf(va));
    if (vma < 0) return false;
    const flags = vmaFlags(v, vma);
    if ((flags & (write ? VM_WRITE : VM_READ)) === 0) return false;
    const ptep = pteAlloc(v, cpu.id, mmPgd(v, mm), va, mm);
    if (ptep < 0) return false;
    pteLock(cpu, ptep);
    try {
      const pte = ptepGet(v, ptep);
      if (pte === 0) return vmaIsAnon(v, vma) ? doAnonymousPage(cpu, mm, vma, va, ptep, write) : doFileFault(cpu, vma, va, ptep, write, mm);
      // a NUMA hinting fault: the VMA allows the access (checked above), the PTE is PROT_NONE
      if (pteProtnone(pte)) return doNumaPage(cpu, mm, vma, va, ptep);
      if (!ptePresent(pte)) return false;
      if (write && !pteWrite(pte)) return doWpPage(cpu, ptep, pte);
      // spurious: our TLB entry was older than the PTE; the retry walks again
      return true;
    } finally {
      pteUnlock(cpu, ptep);
    }
  } finally {
    mmapReadUnlock(cpu, mm);
    cpu.setActivity(Activity.User);
  }
}
