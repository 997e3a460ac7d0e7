/*
 * The reverse map (mm/rmap.c, much simplified): from a frame to the (mm, address) pairs whose
 * PTEs may map it. An anonymous page records its mm and VPN; a file page its file and offset,
 * and every VMA of any mm mapping that offset of the file may map it.
 *
 * Walks hold the rmap lock for reading (the mm's anon_vma lock, the file's i_mmap_rwsem); a VMA is
 * unlinked under it held for writing before its page tables are freed, so a walk never reads a
 * page table that is being freed.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { ptepGet } from '../machine/pagetable.ts';
import { pteMapsPage, ptePfn } from '../machine/pte.ts';
import { MAX_MMS, MM_ANON_VMA_LOCK, MM_USERS } from './mm-layout.ts';
import { mmBase, mmPgd } from './mm.ts';
import { rmapVmas, vmaEnd, vmaFile, vmaIsAnon, vmaPgoff, vmaStart, vmaUnlinkRmap, type Vma } from './vma.ts';
import { downRead, downWrite, upRead, upWrite } from './locks.ts';
import { iMmapLockRead, iMmapLockWrite, iMmapUnlockRead, iMmapUnlockWrite } from './filemap.ts';
import { pageIndex, pageIsAnon, pageOwner } from './page.ts';
import { pteOffsetMapLock, pteUnlock } from './ptl.ts';

/** Called for each mapping; return false to stop the walk. */
export type RmapVisitor = (mm: number, va: number, vma: Vma) => boolean | void;

/** vma_address: visits page `index` (its linear page index) in `vma` of `mm` if the VMA covers it. */
function visitAt(v: MachineViews, mm: number, vma: Vma, index: number, visit: RmapVisitor): boolean | void {
  const offset = index - vmaPgoff(v, vma);
  if (offset < 0 || offset >= vmaEnd(v, vma) - vmaStart(v, vma)) return true;
  return visit(mm, (vmaStart(v, vma) + offset) * PAGE_SIZE, vma);
}

/** rmap_walk: visits every VMA that may map `pfn`, with the rmap lock held for reading. */
export function rmapWalk(cpu: Cpu, pfn: number, visit: RmapVisitor): void {
  const v = cpu.v;
  const owner = pageOwner(v, pfn);
  const index = pageIndex(v, pfn);
  if (pageIsAnon(v, pfn)) {
    const lock = mmBase(owner) + MM_ANON_VMA_LOCK;
    downRead(cpu, v.mm, lock);
    try {
      for (const vma of rmapVmas(v, owner)) {
        if (vmaIsAnon(v, vma) && visitAt(v, owner, vma, index, visit) === false) return;
      }
    } finally {
      upRead(cpu, v.mm, lock);
    }
    return;
  }
  iMmapLockRead(cpu, owner);
  try {
    for (let mm = 1; mm < MAX_MMS; mm++) {
      if (Atomics.load(v.mm, mmBase(mm) + MM_USERS) === 0) continue;
      for (const vma of rmapVmas(v, mm)) {
        if (vmaFile(v, vma) === owner && visitAt(v, mm, vma, index, visit) === false) return;
      }
    }
  } finally {
    iMmapUnlockRead(cpu, owner);
  }
}

/**
 * page_vma_mapped_walk for one page: the PTE at `va` in `mm`, locked, if it maps `pfn`;
 * otherwise -1 and nothing locked.
 */
export function pageVmaMappedPte(cpu: Cpu, mm: number, va: number, pfn: number): number {
  const ptep = pteOffsetMapLock(cpu, mmPgd(cpu.v, mm), va);
  if (ptep < 0) return -1;
  const pte = ptepGet(cpu.v, ptep);
  if (pteMapsPage(pte) && ptePfn(pte) === pfn) return ptep;
  pteUnlock(cpu, ptep);
  return -1;
}

/**
 * take_rmap_locks: the rmap locks of `vma` of `mm` held for writing (the file's i_mmap_rwsem, or
 * the mm's anon_vma lock), so that no rmap walk runs while the VMA's mappings change place: a walk
 * sees each page either where it was or where it went, never in neither.
 */
export function takeRmapLocks(cpu: Cpu, mm: number, vma: Vma): void {
  const v = cpu.v;
  if (vmaIsAnon(v, vma)) downWrite(cpu, v.mm, mmBase(mm) + MM_ANON_VMA_LOCK);
  else iMmapLockWrite(cpu, vmaFile(v, vma));
}

/** drop_rmap_locks */
export function dropRmapLocks(cpu: Cpu, mm: number, vma: Vma): void {
  const v = cpu.v;
  if (vmaIsAnon(v, vma)) upWrite(cpu, v.mm, mmBase(mm) + MM_ANON_VMA_LOCK);
  else iMmapUnlockWrite(cpu, vmaFile(v, vma));
}

/**
 * unlink_anon_vmas / unlink_file_vma: takes a VMA out of the rmap so that no walk finds it any
 * more. When this returns, no walk is inside the VMA's page tables, and they may be freed.
 */
export function unlinkVma(cpu: Cpu, mm: number, vma: Vma): void {
  takeRmapLocks(cpu, mm, vma);
  vmaUnlinkRmap(cpu.v, vma);
  dropRmapLocks(cpu, mm, vma);
}
