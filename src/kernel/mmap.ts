/*
 * mmap, munmap and exit_mmap (mm/mmap.c, mm/vma.c).
 *
 * munmap, in the kernel's order:
 *   1. mmap_lock for writing; split the VMAs at the edges; write-lock each (vma_start_write, which
 *      waits for faults under its VMA lock) and take them out of the tree, so no new fault or
 *      syscall finds them;
 *   2. downgrade to reading: faults elsewhere in the mm may run again, in parallel with
 *   3. unmap_region: zap the PTEs through an mmu_gather, unlink the VMAs from the rmap, and free
 *      the page tables no other VMA uses (free_pgtables), all before the gather's final flush;
 *   4. tlb_finish_mmu: flush (freed_tables, so lazy CPUs too), free pages and tables.
 * When munmap returns, no CPU translates any address of the range.
 */
import { destroyContext } from '../arch/mmu-context.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { USER_VA_LIMIT } from '../machine/pagetable.ts';
import { freeFrame } from '../machine/frames.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { mmFree, mmPgd, mmapReadUnlock, mmapWriteDowngrade, mmapWriteLock, mmapWriteUnlock } from './mm.ts';
import { NO_FILE, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from './vma-layout.ts';
import { allVmas, getUnmappedArea, splitVmasAt, vmaDetach, vmaEnd, vmaInsert, vmaStart, vmasIn, type Vma } from './vma.ts';
import { vmaStartWrite } from './vma-lock.ts';
import { tlbFinishMmu, tlbGatherMmu, tlbGatherMmuFullmm, type MmuGather } from './mmu-gather.ts';
import { freePgdRange, unmapSingleVma } from './zap.ts';
import { unlinkVma } from './rmap.ts';
import { fileSize } from './filemap.ts';
import { PromiseKind, makePromise, promiseStart } from '../check/promises.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit, tracePages, traceVpn } from '../trace/events.ts';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** Where mmap places mappings that give no address. */
export const MMAP_BASE = 2 ** 36;

export interface MmapRequest {
  /** a fixed address (page aligned, must be free), or undefined to let the kernel choose */
  addr?: number;
  length: number;
  prot: number;
  /** a file to map, shared unless `private`; anonymous private memory when absent */
  file?: number;
  /**
   * MAP_PRIVATE for a file: reads see the page cache, the first write to a page copies it into an
   * anonymous page of the mapping's own (copy-on-write), which the file never sees
   */
  private?: boolean;
  /** the file page mapped at the start */
  pgoff?: number;
}

function pagesOf(length: number): number {
  if (!Number.isInteger(length) || length <= 0) throw new RangeError(`mmap/munmap length must be a positive integer, got ${length}`);
  return Math.ceil(length / PAGE_SIZE);
}

/** A page-aligned user address (what access_ok and the syscalls' alignment checks ask). */
export const isUserPageAddr = (addr: number): boolean => Number.isInteger(addr) && addr % PAGE_SIZE === 0 && addr >= 0 && addr < USER_VA_LIMIT;

function checkAligned(addr: number): void {
  if (!isUserPageAddr(addr)) {
    throw new RangeError(`address 0x${addr.toString(16)} is not a page-aligned user address`);
  }
}

/** mmap: returns the address of the new mapping. Entry and return are traced. */
export function sysMmap(cpu: Cpu, mm: number, req: MmapRequest): number {
  traceKernelEnter(cpu, KPath.Mmap, mm, traceVpn(req.addr ?? 0), tracePages(req.length), req.prot);
  const addr = rawSysMmap(cpu, mm, req);
  traceKernelExit(cpu, KPath.Mmap, traceVpn(addr));
  return addr;
}

function rawSysMmap(cpu: Cpu, mm: number, req: MmapRequest): number {
  const v = cpu.v;
  const pages = pagesOf(req.length);
  const file = req.file ?? NO_FILE;
  const pgoff = req.pgoff ?? 0;
  if (file !== NO_FILE && pgoff + pages > fileSize(v, file)) throw new RangeError(`mmap of ${pages} pages at file page ${pgoff} runs past the end of file ${file}`);
  const flags = (req.prot & PROT_READ ? VM_READ : 0) | (req.prot & PROT_WRITE ? VM_WRITE : 0) | (req.prot & PROT_EXEC ? VM_EXEC : 0) | (file !== NO_FILE && req.private !== true ? VM_SHARED : 0);
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.MmapEnter);
  mmapWriteLock(cpu, mm);
  try {
    let start: number;
    if (req.addr !== undefined) {
      checkAligned(req.addr);
      start = req.addr / PAGE_SIZE;
      if (vmasIn(v, mm, start, start + pages).length > 0) throw new RangeError(`mmap: 0x${req.addr.toString(16)} is already mapped`);
    } else {
      start = getUnmappedArea(v, mm, MMAP_BASE / PAGE_SIZE, pages);
      if (start < 0) throw new RangeError('mmap: no room in the address space');
    }
    // an anonymous VMA's vm_pgoff is its first page's own number, which mremap keeps: the linear
    // index of an anonymous page (what its rmap records) stays valid wherever the page moves
    vmaInsert(v, mm, { start, end: start + pages, flags, file, pgoff: file === NO_FILE ? start : pgoff });
    return start * PAGE_SIZE;
  } finally {
    mmapWriteUnlock(cpu, mm);
    cpu.passPoint(KernelPoint.MmapReturn);
    cpu.setActivity(Activity.User);
  }
}

/** unmap_region: zap, unlink from the rmap, free the page tables, all in one gather. */
function unmapRegion(cpu: Cpu, tlb: MmuGather, mm: number, vmas: Vma[], start: number, end: number, floor: number, ceiling: number): void {
  for (const vma of vmas) unmapSingleVma(cpu, tlb, mm, vma, start, end, false);
  for (const vma of vmas) unlinkVma(cpu, mm, vma);
  freePgdRange(cpu, tlb, mm, start, end, floor, ceiling);
}

/** munmap: when it returns, no CPU translates any address of [addr, addr + length). Entry and return are traced. */
export function sysMunmap(cpu: Cpu, mm: number, addr: number, length: number): void {
  traceKernelEnter(cpu, KPath.Munmap, mm, traceVpn(addr), tracePages(length));
  rawSysMunmap(cpu, mm, addr, length);
  traceKernelExit(cpu, KPath.Munmap, 0);
}

function rawSysMunmap(cpu: Cpu, mm: number, addr: number, length: number): void {
  const v = cpu.v;
  checkAligned(addr);
  const pages = pagesOf(length);
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.MunmapEnter);
  const since = promiseStart(v);
  mmapWriteLock(cpu, mm);
  const range = doVmiMunmap(cpu, mm, addr / PAGE_SIZE, addr / PAGE_SIZE + pages, true);
  if (range === null) {
    mmapWriteUnlock(cpu, mm);
  } else {
    mmapReadUnlock(cpu, mm);
    // what the caller may now rely on: the oracle holds every CPU to it (check/promises.ts)
    makePromise(v, mm, range.start, range.end, PromiseKind.Unmapped, since);
  }
  cpu.passPoint(KernelPoint.MunmapReturn);
  cpu.setActivity(Activity.User);
}

/**
 * do_vmi_munmap of [startVpn, endVpn), the mmap_lock held for writing: splits the VMAs at the
 * edges, takes them out of the tree, and unmaps them (unmap_region). With `downgrade` (munmap's
 * unlock), the lock is downgraded to reading before the zap and the caller is left holding it
 * for reading; without (mremap, mmap over a mapping), it stays held for writing. Returns the
 * byte range unmapped, or null, with the lock untouched, when no VMA was there. When it returns,
 * no CPU translates any address of that range.
 */
export function doVmiMunmap(cpu: Cpu, mm: number, startVpn: number, endVpn: number, downgrade: boolean): { start: number; end: number } | null {
  const v = cpu.v;
  const vmas = splitVmasAt(cpu, mm, startVpn, endVpn);
  if (vmas.length === 0) return null;
  // the page tables between the neighbours are ours to free
  const others = allVmas(v, mm).filter((vma) => !vmas.includes(vma));
  const floor = Math.max(0, ...others.filter((o) => vmaEnd(v, o) <= startVpn).map((o) => vmaEnd(v, o))) * PAGE_SIZE;
  const ceiling = Math.min(USER_VA_LIMIT / PAGE_SIZE, ...others.filter((o) => vmaStart(v, o) >= endVpn).map((o) => vmaStart(v, o))) * PAGE_SIZE;
  // vma_start_write before vma_mark_detached: a fault under the VMA lock alone is out of each
  // VMA before it leaves the tree, and none gets in afterwards
  for (const vma of vmas) {
    vmaStartWrite(cpu, mm, vma);
    vmaDetach(v, vma);
  }
  if (downgrade) mmapWriteDowngrade(cpu, mm);
  const start = vmaStart(v, vmas[0]) * PAGE_SIZE;
  const end = vmaEnd(v, vmas[vmas.length - 1]) * PAGE_SIZE;
  const tlb = tlbGatherMmu(cpu, mm, start, end);
  unmapRegion(cpu, tlb, mm, vmas, start, end, floor, ceiling);
  tlbFinishMmu(cpu, tlb);
  return { start, end };
}

/**
 * exit_mmap: tears the whole mm down (fullmm) and frees its PGD and slot. The caller's CPU must
 * already have switched away from the mm (or be lazy on it); no task of the mm runs any more.
 */
export function exitMmap(cpu: Cpu, mm: number): void {
  const v = cpu.v;
  cpu.setActivity(Activity.Kernel);
  mmapWriteLock(cpu, mm);
  const vmas = allVmas(v, mm);
  for (const vma of vmas) vmaDetach(v, vma);
  const tlb = tlbGatherMmuFullmm(cpu, mm);
  unmapRegion(cpu, tlb, mm, vmas, 0, USER_VA_LIMIT, 0, USER_VA_LIMIT);
  tlbFinishMmu(cpu, tlb);
  mmapWriteUnlock(cpu, mm);
  freeFrame(v, cpu.id, mmPgd(v, mm));
  destroyContext(cpu, mm);
  mmFree(v, mm);
  cpu.setActivity(Activity.User);
}
