/*
 * The reverse map (mm/rmap.c, much simplified): from a frame to the (mm, address) pairs whose
 * PTEs may map it. A file page records its file and offset, and every VMA of any mm mapping that
 * offset of the file may map it. An anonymous page records its anon_vma and its linear page index.
 *
 * The anon_vma, as modelled: one per mm, named by the mm's slot (page->mapping is the mm whose
 * fault made the page). A VMA carries its anon_vma_chain as a mask of mms (VMA_ANON_VMAS): its
 * own mm's, and, for a VMA that fork copied, every anon_vma the parent's VMA was linked to
 * (anon_vma_fork: anon_vma_clone, then the child's own). So a page that a parent made before a
 * fork is found in the parent, its children and theirs; a page a child made, in the child and its
 * own children only. Every mm of a fork family shares the root's anon_vma lock (anon_vma->root,
 * MM_ANON_VMA_ROOT), and an exited mm's slot is not reused while a VMA still links its anon_vma
 * (mm.ts mmAlloc).
 *
 * Walks hold the rmap lock for reading (the family's anon_vma lock, the file's i_mmap_rwsem); a
 * VMA is linked (fork) and unlinked under it held for writing, the unlinking before its page
 * tables are freed, so a walk never reads a page table that is being freed.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { ptepGet } from '../arch/pgtable.ts';
import { pteMapsPage, ptePfn } from '../machine/pte.ts';
import { MAX_MMS, MM_ANON_VMA_LOCK, MM_USERS } from './mm-layout.ts';
import { mmAnonVmaRoot, mmBase, mmPgd } from './mm.ts';
import { rmapVmas, vmaAnonVmas, vmaEnd, vmaFile, vmaIsAnon, vmaLinkedToAnonVma, vmaPgoff, vmaStart, vmaUnlinkRmap, type Vma } from './vma.ts';
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
    // rmap_walk_anon: the VMAs on the anon_vma's chain, in every mm of the family
    const root = mmAnonVmaRoot(v, owner);
    anonVmaLockRead(cpu, root);
    try {
      for (let mm = 1; mm < MAX_MMS; mm++) {
        if (mmAnonVmaRoot(v, mm) !== root) continue;
        for (const vma of rmapVmas(v, mm)) {
          if (vmaLinkedToAnonVma(v, vma, owner) && visitAt(v, mm, vma, index, visit) === false) return;
        }
      }
    } finally {
      anonVmaUnlockRead(cpu, root);
    }
    return;
  }
  iMmapLockRead(cpu, owner);
  try {
    forEachIMmapVma(v, owner, (mm, vma) => visitAt(v, mm, vma, index, visit));
  } finally {
    iMmapUnlockRead(cpu, owner);
  }
}

/**
 * vma_interval_tree_foreach over a file's whole i_mmap: every VMA of a live mm, linked in the rmap,
 * that maps `file`, with its mm, until `visit` returns false. The caller holds i_mmap_rwsem.
 */
export function forEachIMmapVma(v: MachineViews, file: number, visit: (mm: number, vma: Vma) => boolean | void): void {
  for (let mm = 1; mm < MAX_MMS; mm++) {
    if (Atomics.load(v.mm, mmBase(mm) + MM_USERS) === 0) continue;
    for (const vma of rmapVmas(v, mm)) {
      if (vmaFile(v, vma) === file && visit(mm, vma) === false) return;
    }
  }
}

/**
 * page_vma_mapped_walk for one page: the PTE at `va` in `mm`, locked, if it maps `pfn`;
 * otherwise -1 and nothing locked.
 */
export function pageVmaMappedPte(cpu: Cpu, mm: number, va: number, pfn: number): number {
  const ptep = pteOffsetMapLock(cpu, mmPgd(cpu.v, mm), va);
  if (ptep < 0) return -1;
  const pte = ptepGet(cpu, ptep);
  if (pteMapsPage(pte) && ptePfn(pte) === pfn) return ptep;
  pteUnlock(cpu, ptep);
  return -1;
}

/**
 * take_rmap_locks: the rmap locks of `vma` of `mm` held for writing (the file's i_mmap_rwsem, and
 * the anon_vma lock of the fork family's root for a VMA linked to an anon_vma: a private file VMA
 * is on both), so that no rmap walk runs while the VMA's mappings change place or the VMA leaves
 * the rmap: a walk sees each page either where it was or where it went, never in neither.
 */
export function takeRmapLocks(cpu: Cpu, mm: number, vma: Vma): void {
  const v = cpu.v;
  if (vmaHasAnonVma(v, vma)) anonVmaLockWrite(cpu, mmAnonVmaRoot(v, mm));
  if (!vmaIsAnon(v, vma)) iMmapLockWrite(cpu, vmaFile(v, vma));
}

/** drop_rmap_locks */
export function dropRmapLocks(cpu: Cpu, mm: number, vma: Vma): void {
  const v = cpu.v;
  if (!vmaIsAnon(v, vma)) iMmapUnlockWrite(cpu, vmaFile(v, vma));
  if (vmaHasAnonVma(v, vma)) anonVmaUnlockWrite(cpu, mmAnonVmaRoot(v, mm));
}

function vmaHasAnonVma(v: MachineViews, vma: Vma): boolean {
  const [lo, hi] = vmaAnonVmas(v, vma);
  return (lo | hi) !== 0;
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

// anon_vma_lock_read / anon_vma_lock_write of the family whose root is `root`
export function anonVmaLockRead(cpu: Cpu, root: number): void {
  downRead(cpu, cpu.v.mm, mmBase(root) + MM_ANON_VMA_LOCK);
}
export function anonVmaUnlockRead(cpu: Cpu, root: number): void {
  upRead(cpu, cpu.v.mm, mmBase(root) + MM_ANON_VMA_LOCK);
}
export function anonVmaLockWrite(cpu: Cpu, root: number): void {
  downWrite(cpu, cpu.v.mm, mmBase(root) + MM_ANON_VMA_LOCK);
}
export function anonVmaUnlockWrite(cpu: Cpu, root: number): void {
  upWrite(cpu, cpu.v.mm, mmBase(root) + MM_ANON_VMA_LOCK);
}
