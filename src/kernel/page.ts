/*
 * Page references, map counts and flags (include/linux/mm.h, page-flags.h, mm/swap.c):
 * all atomic, since any CPU may take or drop them.
 */
import type { MachineViews } from '../machine/memory.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { kickAll } from '../cpu/smp.ts';
import { freeFrame, frameMetaIndex } from '../machine/frames.ts';
import { META_FLAGS, META_INDEX, META_KIND, META_MAPCOUNT, META_OWNER, META_PINCOUNT, META_REFCOUNT, PG_ANON_SHARED, PG_DIRTY, PG_LOCKED, PG_WAITERS, WORDS_PER_FRAME, FrameKind } from '../machine/phys-layout.ts';

const m = (pfn: number, field: number) => frameMetaIndex(pfn, field);

/** copy_highpage: frame `src`'s contents into frame `dst`, a plain copy (the caller sees to it that no one still writes `src`). */
export function copyHighpage(v: MachineViews, dst: number, src: number): void {
  v.phys.copyWithin(dst * WORDS_PER_FRAME, src * WORDS_PER_FRAME, (src + 1) * WORDS_PER_FRAME);
}

export function getPage(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(pfn, META_REFCOUNT), 1);
}

/** put_page: drops a reference; the last one frees the frame on `cpu`. */
export function putPage(v: MachineViews, cpu: number, pfn: number): void {
  if (Atomics.sub(v.frameMeta, m(pfn, META_REFCOUNT), 1) === 1) freeFrame(v, cpu, pfn);
}

/** folio_try_get: a reference, unless the count is zero (the frame is free or frozen). */
export function folioTryGet(v: MachineViews, pfn: number): boolean {
  for (;;) {
    const refs = Atomics.load(v.frameMeta, m(pfn, META_REFCOUNT));
    if (refs <= 0) return false;
    if (Atomics.compareExchange(v.frameMeta, m(pfn, META_REFCOUNT), refs, refs + 1) === refs) return true;
  }
}

/** folio_ref_freeze: the count goes from exactly `count` to zero, so that folioTryGet fails. */
export function folioRefFreeze(v: MachineViews, pfn: number, count: number): boolean {
  return Atomics.compareExchange(v.frameMeta, m(pfn, META_REFCOUNT), count, 0) === count;
}

export function pageRefCount(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, m(pfn, META_REFCOUNT));
}

/** page_add_*_rmap: one more PTE maps the page. */
export function pageAddRmap(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(pfn, META_MAPCOUNT), 1);
}

/** page_remove_rmap: one PTE fewer maps the page; rmap walks stop finding that mapping. */
export function pageRemoveRmap(v: MachineViews, pfn: number): void {
  Atomics.sub(v.frameMeta, m(pfn, META_MAPCOUNT), 1);
}

export function pageMapcount(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, m(pfn, META_MAPCOUNT));
}

/** folio_mapped */
export function folioMapped(v: MachineViews, pfn: number): boolean {
  return pageMapcount(v, pfn) > 0;
}

/** folio_mark_dirty / set_page_dirty */
export function folioMarkDirty(v: MachineViews, pfn: number): void {
  Atomics.or(v.frameMeta, m(pfn, META_FLAGS), PG_DIRTY);
}

/** folio_clear_dirty_for_io: clears PG_dirty, returns whether it was set. */
export function folioTestClearDirty(v: MachineViews, pfn: number): boolean {
  return (Atomics.and(v.frameMeta, m(pfn, META_FLAGS), ~PG_DIRTY) & PG_DIRTY) !== 0;
}

export function folioTestDirty(v: MachineViews, pfn: number): boolean {
  return (Atomics.load(v.frameMeta, m(pfn, META_FLAGS)) & PG_DIRTY) !== 0;
}

/** folio_trylock: takes PG_locked if it was clear. */
export function folioTrylock(v: MachineViews, pfn: number): boolean {
  // acquiring orders what the holder does after it; pairs with the and in folioUnlock
  return (Atomics.or(v.frameMeta, m(pfn, META_FLAGS), PG_LOCKED) & PG_LOCKED) === 0;
}

/** folio_lock: sleeps in the idle loop (taking IPIs) until PG_locked is ours. */
export function folioLock(cpu: Cpu, pfn: number): void {
  const v = cpu.v;
  if (folioTrylock(v, pfn)) return;
  // PG_waiters goes up before the last try: an unlock after it sees the bit and wakes us
  cpu.idleUntil(() => {
    if (folioTrylock(v, pfn)) return true;
    Atomics.or(v.frameMeta, m(pfn, META_FLAGS), PG_WAITERS);
    return folioTrylock(v, pfn);
  });
}

/** folio_unlock: clears PG_locked, waking sleepers in folioLock if any. */
export function folioUnlock(cpu: Cpu, pfn: number): void {
  // publishes what the holder did under the lock
  if ((Atomics.and(cpu.v.frameMeta, m(pfn, META_FLAGS), ~(PG_LOCKED | PG_WAITERS)) & PG_WAITERS) !== 0) kickAll(cpu.v);
}

export function pageKind(v: MachineViews, pfn: number): FrameKind {
  return v.frameMeta[m(pfn, META_KIND)];
}

export const pageIsAnon = (v: MachineViews, pfn: number): boolean => pageKind(v, pfn) === FrameKind.Anon;

/** page->mapping: the owning mm of an anonymous page, the file of a file page. */
export function pageOwner(v: MachineViews, pfn: number): number {
  return v.frameMeta[m(pfn, META_OWNER)];
}

/** page->index: the VPN of an anonymous page, the file offset (in pages) of a file page. */
export function pageIndex(v: MachineViews, pfn: number): number {
  return v.frameMeta[m(pfn, META_INDEX)];
}

/**
 * PageAnonExclusive: the anonymous page belongs to this mapping alone, and a write fault may
 * make its PTE writable without copying. Pages are born exclusive; fork clears it on every page
 * it shares (kept as PG_ANON_SHARED, so that every allocator hands out exclusive pages).
 */
export function pageAnonExclusive(v: MachineViews, pfn: number): boolean {
  return (Atomics.load(v.frameMeta, m(pfn, META_FLAGS)) & PG_ANON_SHARED) === 0;
}

/** ClearPageAnonExclusive: fork is sharing the page. */
export function clearPageAnonExclusive(v: MachineViews, pfn: number): void {
  Atomics.or(v.frameMeta, m(pfn, META_FLAGS), PG_ANON_SHARED);
}

/**
 * folio_move_anon_rmap + SetPageAnonExclusive: a write fault found the page mapped once, by `mm`
 * only, and keeps it: it joins `mm`'s own anon_vma and is exclusive again.
 */
export function pageReuseAnon(v: MachineViews, pfn: number, mm: number): void {
  Atomics.store(v.frameMeta, m(pfn, META_OWNER), mm);
  Atomics.and(v.frameMeta, m(pfn, META_FLAGS), ~PG_ANON_SHARED);
}

/** GUP pins (folio_maybe_dma_pinned). */
export function pinPage(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(pfn, META_PINCOUNT), 1);
}

export function unpinPage(v: MachineViews, pfn: number): void {
  Atomics.sub(v.frameMeta, m(pfn, META_PINCOUNT), 1);
}

export function pagePinCount(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, m(pfn, META_PINCOUNT));
}
