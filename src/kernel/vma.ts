/*
 * VMAs (mm/mmap.c, mm/vma.c, much simplified): a fixed table per mm, searched linearly. Callers
 * hold the mmap_lock: for reading to look up, for writing to change; and a writer write-locks
 * each VMA it changes (vma-lock.ts vma_start_write), since faults may hold a VMA's lock alone.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import { mmLockSeq } from './mm.ts';
import { vmaStartWrite } from './vma-lock.ts';
import { MAX_VMAS, NO_FILE, VMA_END, VMA_FILE, VMA_FLAGS, VMA_IN_USE, VMA_LOCK, VMA_LOCK_SEQ, VMA_NUMAB_PIDS, VMA_PGOFF, VMA_RMAP, VMA_START, vmaIndex } from './vma-layout.ts';

/** A VMA by its index in v.vmas (vmaIndex(mm, slot)); -1 for none. */
export type Vma = number;

export interface VmaInfo {
  start: number; // VPN
  end: number; // VPN, exclusive
  flags: number;
  file: number;
  pgoff: number;
}

export const vmaStart = (v: MachineViews, vma: Vma): number => v.vmas[vma + VMA_START];
export const vmaEnd = (v: MachineViews, vma: Vma): number => v.vmas[vma + VMA_END];
export const vmaFlags = (v: MachineViews, vma: Vma): number => v.vmas[vma + VMA_FLAGS];
export const vmaFile = (v: MachineViews, vma: Vma): number => v.vmas[vma + VMA_FILE];
export const vmaPgoff = (v: MachineViews, vma: Vma): number => v.vmas[vma + VMA_PGOFF];
export const vmaIsAnon = (v: MachineViews, vma: Vma): boolean => v.vmas[vma + VMA_FILE] === NO_FILE;

/**
 * linear_page_index: the page `va` of `vma` as its rmap records it, the file page for a file VMA,
 * the anonymous page's own index (vm_pgoff counts from the VMA's first address at mmap) otherwise.
 */
export function linearPageIndex(v: MachineViews, vma: Vma, va: number): number {
  return v.vmas[vma + VMA_PGOFF] + (Math.floor(va / PAGE_SIZE) - v.vmas[vma + VMA_START]);
}

/** find_vma_intersection for one page: the VMA containing `vpn`, or -1. */
export function findVma(v: MachineViews, mm: number, vpn: number): Vma {
  for (let slot = 0; slot < MAX_VMAS; slot++) {
    const vma = vmaIndex(mm, slot);
    if (v.vmas[vma + VMA_IN_USE] !== 0 && v.vmas[vma + VMA_START] <= vpn && vpn < v.vmas[vma + VMA_END]) return vma;
  }
  return -1;
}

/** The VMAs of `mm` in the tree (or, with `field` VMA_RMAP, in the rmap) that intersect [start, end) (VPNs), by start. */
export function vmasIn(v: MachineViews, mm: number, start: number, end: number, field = VMA_IN_USE): Vma[] {
  const out: Vma[] = [];
  for (let slot = 0; slot < MAX_VMAS; slot++) {
    const vma = vmaIndex(mm, slot);
    if (Atomics.load(v.vmas, vma + field) !== 0 && v.vmas[vma + VMA_START] < end && start < v.vmas[vma + VMA_END]) out.push(vma);
  }
  return out.sort((a, b) => vmaStart(v, a) - vmaStart(v, b));
}

/** Every VMA of `mm` in the tree, by start address. */
export function allVmas(v: MachineViews, mm: number): Vma[] {
  return vmasIn(v, mm, 0, 0x7fffffff);
}

/** Every VMA of `mm` an rmap walk may find (still linked, maybe already out of the tree). */
export function rmapVmas(v: MachineViews, mm: number): Vma[] {
  return vmasIn(v, mm, 0, 0x7fffffff, VMA_RMAP);
}

/**
 * Inserts a VMA, write-locked (vma_start_write on the new VMA, as mmap_region and __split_vma
 * do): no fault uses it before the caller drops the mmap_lock, which it holds for writing.
 * Throws when the table is full.
 *
 * A free slot may still be read-trylocked for a moment by a fault that found the VMA it held
 * before (lockVmaUnderRcu); such a slot is passed over rather than waited for, as the kernel
 * frees no VMA before the RCU readers that may have found it are done.
 */
export function vmaInsert(v: MachineViews, mm: number, info: VmaInfo): Vma {
  for (let slot = 0; slot < MAX_VMAS; slot++) {
    const vma = vmaIndex(mm, slot);
    if (v.vmas[vma + VMA_IN_USE] !== 0 || Atomics.load(v.vmas, vma + VMA_RMAP) !== 0) continue;
    schedPoint(Point.Lock);
    if (Atomics.compareExchange(v.vmas, vma + VMA_LOCK, 0, -1) !== 0) continue;
    Atomics.store(v.vmas, vma + VMA_LOCK_SEQ, mmLockSeq(v, mm));
    v.vmas[vma + VMA_START] = info.start;
    v.vmas[vma + VMA_END] = info.end;
    v.vmas[vma + VMA_FLAGS] = info.flags;
    v.vmas[vma + VMA_FILE] = info.file;
    v.vmas[vma + VMA_PGOFF] = info.pgoff;
    v.vmas[vma + VMA_NUMAB_PIDS] = 0;
    Atomics.store(v.vmas, vma + VMA_RMAP, 1);
    Atomics.store(v.vmas, vma + VMA_IN_USE, 1);
    Atomics.store(v.vmas, vma + VMA_LOCK, 0);
    return vma;
  }
  throw new RangeError(`mm ${mm} has no room for another VMA (at most ${MAX_VMAS})`);
}

export function vmaInfo(v: MachineViews, vma: Vma): VmaInfo {
  return { start: vmaStart(v, vma), end: vmaEnd(v, vma), flags: vmaFlags(v, vma), file: vmaFile(v, vma), pgoff: vmaPgoff(v, vma) };
}

/**
 * Takes a VMA out of the tree (vma_iter_clear, vma_mark_detached): faults and syscalls no longer
 * find it, and a fault that found it before cannot read-lock it any more. The caller write-locked
 * it first (vmaStartWrite), unless no task of the mm is left (exit_mmap).
 */
export function vmaDetach(v: MachineViews, vma: Vma): void {
  Atomics.store(v.vmas, vma + VMA_IN_USE, 0);
}

/** Takes a VMA out of the rmap; the caller holds the rmap lock for writing (rmap.ts unlinkVma). */
export function vmaUnlinkRmap(v: MachineViews, vma: Vma): void {
  Atomics.store(v.vmas, vma + VMA_RMAP, 0);
}

/** Narrows a VMA to [start, end), keeping the file offset of each page it still maps. */
export function vmaTrim(v: MachineViews, vma: Vma, start: number, end: number): void {
  v.vmas[vma + VMA_PGOFF] += start - vmaStart(v, vma);
  v.vmas[vma + VMA_START] = start;
  v.vmas[vma + VMA_END] = end;
}

/**
 * Splits and trims the VMAs of `mm` so that none straddles `start` or `end` (VPNs), then returns
 * those inside [start, end). Caller holds the mmap_lock for writing (__split_vma). Every VMA of
 * the range is write-locked first, split or not (c46000458d57 "mm/mmap: write-lock VMAs before
 * merging, splitting or expanding them"): the caller is about to change those it gets back.
 */
export function splitVmasAt(cpu: Cpu, mm: number, start: number, end: number): Vma[] {
  const v = cpu.v;
  for (const vma of vmasIn(v, mm, start, end)) {
    vmaStartWrite(cpu, mm, vma);
    const info = vmaInfo(v, vma);
    if (info.start < start) {
      vmaTrim(v, vma, start, info.end);
      vmaInsert(v, mm, { ...info, end: start });
    }
    const now = vmaInfo(v, vma);
    if (now.end > end) {
      vmaTrim(v, vma, now.start, end);
      vmaInsert(v, mm, { ...now, start: end, pgoff: now.pgoff + (end - now.start) });
    }
  }
  return vmasIn(v, mm, start, end);
}

/** The lowest free range of `pages` pages at or above `floor` (a VPN), or -1. */
export function getUnmappedArea(v: MachineViews, mm: number, floor: number, pages: number): number {
  let candidate = floor;
  for (const vma of allVmas(v, mm)) {
    if (vmaEnd(v, vma) <= candidate) continue;
    if (vmaStart(v, vma) >= candidate + pages) break;
    candidate = vmaEnd(v, vma);
  }
  return candidate + pages <= 0x7fffffff ? candidate : -1;
}
