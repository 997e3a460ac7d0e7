/*
 * Split page-table locks (include/linux/mm.h: pte_lockptr, pte_offset_map_lock): one spinlock per
 * PTE table, kept in the table frame's metadata as the kernel keeps it in the ptdesc. Taking and
 * dropping one is logged (trace/events.ts: lock ptl, id the table's PFN).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { frameMetaIndex } from '../machine/frames.ts';
import { META_PTL, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { pteOffset } from '../machine/pagetable.ts';
import { spinLock, spinUnlock } from './locks.ts';
import { Ev, LockKind, traceEvent } from '../trace/events.ts';

/** The lock word of the PTE table holding entry `ptep`. */
export function pteLockptr(ptep: number): number {
  return frameMetaIndex(Math.floor(ptep / WORDS_PER_FRAME), META_PTL);
}

export function pteLock(cpu: Cpu, ptep: number): void {
  spinLock(cpu, cpu.v.frameMeta, pteLockptr(ptep));
  traceEvent(cpu.v, cpu.id, Ev.LockAcquire, LockKind.Ptl, Math.floor(ptep / WORDS_PER_FRAME), 1);
}

export function pteUnlock(cpu: Cpu, ptep: number): void {
  traceEvent(cpu.v, cpu.id, Ev.LockRelease, LockKind.Ptl, Math.floor(ptep / WORDS_PER_FRAME), 1);
  spinUnlock(cpu, cpu.v.frameMeta, pteLockptr(ptep));
}

/** pte_offset_map_lock: the PTE for `va` with its table locked, or -1 (nothing locked) when no table. */
export function pteOffsetMapLock(cpu: Cpu, pgd: number, va: number): number {
  const ptep = pteOffset(cpu.v, pgd, va);
  if (ptep >= 0) pteLock(cpu, ptep);
  return ptep;
}
