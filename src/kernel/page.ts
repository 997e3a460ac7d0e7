/*
 * Page references, map counts and flags (include/linux/mm.h, page-flags.h, mm/swap.c):
 * all atomic, since any CPU may take or drop them.
 *
 * Large folios (include/linux/mm.h folio_nr_pages, page_folio; mm/page_alloc.c
 * prep_compound_page): an anonymous 64 KiB folio (kernel/fault.ts, switch anonMthp) is `nr`
 * naturally aligned frames, the first its head. META_FOLIO says which: the page count on the head,
 * minus the offset from it on a tail, 0 on an order-0 page, so that every function below that
 * takes a PFN takes any page of a folio. What is the folio's lives on its head, what is the page's
 * on the page:
 *   folio (head)   the reference count (each PTE mapping a page of it holds one, as
 *                  folio_ref_add(folio, nr_pages - 1) gives them), the GUP pin count, PG_locked,
 *                  PG_dirty, PG_lazyfree, PG_waiters; the last reference frees all `nr` frames
 *   page           the map count (folio_mapcount sums them: this model keeps no separate
 *                  _large_mapcount), PageAnonExclusive, the owner and the index (page->index of
 *                  a tail is the head's plus its offset, as the rmap's linear index needs)
 * An order-0 page is its own folio, and for it every function does what it did before folios.
 */
import type { MachineViews } from '../machine/memory.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { kickAll } from '../cpu/smp.ts';
import { CONTROL_CPU, allocContigFramesOn, freeFrame, frameMetaIndex } from '../machine/frames.ts';
import { META_FLAGS, META_FOLIO, META_INDEX, META_KIND, META_MAPCOUNT, META_OWNER, META_PINCOUNT, META_REFCOUNT, PG_ANON_SHARED, PG_DIRTY, PG_LAZYFREE, PG_LOCKED, PG_WAITERS, WORDS_PER_FRAME, FrameKind } from '../machine/phys-layout.ts';

const m = (pfn: number, field: number) => frameMetaIndex(pfn, field);

/** copy_highpage: frame `src`'s contents into frame `dst`, a plain copy (the caller sees to it that no one still writes `src`). */
export function copyHighpage(v: MachineViews, dst: number, src: number): void {
  v.phys.copyWithin(dst * WORDS_PER_FRAME, src * WORDS_PER_FRAME, (src + 1) * WORDS_PER_FRAME);
}

/** page_folio / compound_head: the head page of the folio `pfn` belongs to; `pfn` for an order-0 page. */
export function folioHead(v: MachineViews, pfn: number): number {
  const f = v.frameMeta[m(pfn, META_FOLIO)];
  return f < 0 ? pfn + f : pfn;
}

/** folio_nr_pages of the folio `pfn` belongs to: 1 for an order-0 page. */
export function folioNrPages(v: MachineViews, pfn: number): number {
  const f = v.frameMeta[m(folioHead(v, pfn), META_FOLIO)];
  return f > 0 ? f : 1;
}

/** folio_test_large: `pfn` is a page of a folio of more than one page. */
export function folioTestLarge(v: MachineViews, pfn: number): boolean {
  return v.frameMeta[m(pfn, META_FOLIO)] !== 0;
}

/**
 * folio_alloc of `nr` pages (a power of two) for `kind` on `cpu`: naturally aligned frames, zeroed
 * when `zero` is set, page i with index `index + i`, the head holding the folio's one reference
 * (prep_compound_page: the tails' counts are zero). Returns the head's PFN, or 0 when no aligned
 * block is free.
 */
export function folioAlloc(v: MachineViews, cpu: number, nr: number, kind: FrameKind, owner: number, index: number, zero: boolean): number {
  const head = allocContigFramesOn(v, cpu, nr, kind, owner, index, zero);
  if (head === 0) return 0;
  for (let i = 1; i < nr; i++) {
    v.frameMeta[m(head + i, META_FOLIO)] = -i;
    Atomics.store(v.frameMeta, m(head + i, META_REFCOUNT), 0);
  }
  // published with the PTEs that map the folio, as the head's count of one is
  v.frameMeta[m(head, META_FOLIO)] = nr;
  return head;
}

/**
 * free_unref_folios for one folio whose last reference went: every frame of it. A tail is an
 * order-0 frame again before it is freed, so that a lockless try-get that reaches it finds a zero
 * count of its own.
 */
function freeFolio(v: MachineViews, cpu: number, head: number): void {
  const nr = folioNrPages(v, head);
  if (nr === 1) {
    freeFrame(v, cpu, head);
    return;
  }
  for (let i = nr - 1; i >= 0; i--) v.frameMeta[m(head + i, META_FOLIO)] = 0;
  for (let i = 0; i < nr; i++) freeFrame(v, cpu, head + i);
}

/**
 * Frees every frame of the folio of `pfn`, whose count the caller froze at zero (reclaim,
 * migration): nobody else can hold it.
 */
export function freeFrozenFolio(v: MachineViews, cpu: number, pfn: number): void {
  freeFolio(v, cpu, folioHead(v, pfn));
}

/** folio_get: one more reference on the folio of `pfn`, which the caller knows holds one. */
export function getPage(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(folioHead(v, pfn), META_REFCOUNT), 1);
}

/** folio_ref_add: `n` more references on the folio of `pfn` (a large folio's other PTEs). */
export function folioRefAdd(v: MachineViews, pfn: number, n: number): void {
  Atomics.add(v.frameMeta, m(folioHead(v, pfn), META_REFCOUNT), n);
}

/** put_page: drops a reference on the folio of `pfn`; the last one frees its frames on `cpu`. */
export function putPage(v: MachineViews, cpu: number, pfn: number): void {
  const head = folioHead(v, pfn);
  if (Atomics.sub(v.frameMeta, m(head, META_REFCOUNT), 1) === 1) freeFolio(v, cpu, head);
}

/**
 * folio_try_get on the folio of `pfn`: a reference, unless the count is zero (the frame is free or
 * frozen). As try_grab_folio, the folio is looked up again once the reference is taken: a frame
 * freed and handed out as part of another folio meanwhile drops it (on `cpu`) and looks again.
 */
export function folioTryGet(v: MachineViews, pfn: number, cpu = CONTROL_CPU): boolean {
  for (;;) {
    const head = folioHead(v, pfn);
    const refs = Atomics.load(v.frameMeta, m(head, META_REFCOUNT));
    if (refs <= 0) return false;
    if (Atomics.compareExchange(v.frameMeta, m(head, META_REFCOUNT), refs, refs + 1) !== refs) continue;
    if (folioHead(v, pfn) === head) return true;
    putPage(v, cpu, head);
  }
}

/** folio_ref_freeze: the folio's count goes from exactly `count` to zero, so that folioTryGet fails. */
export function folioRefFreeze(v: MachineViews, pfn: number, count: number): boolean {
  return Atomics.compareExchange(v.frameMeta, m(folioHead(v, pfn), META_REFCOUNT), count, 0) === count;
}

/** folio_ref_count of the folio of `pfn`. */
export function pageRefCount(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, m(folioHead(v, pfn), META_REFCOUNT));
}

/** page_add_*_rmap: one more PTE maps the page. */
export function pageAddRmap(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(pfn, META_MAPCOUNT), 1);
}

/** page_remove_rmap: one PTE fewer maps the page; rmap walks stop finding that mapping. */
export function pageRemoveRmap(v: MachineViews, pfn: number): void {
  Atomics.sub(v.frameMeta, m(pfn, META_MAPCOUNT), 1);
}

/** page_mapcount: PTEs mapping this page (not the folio's other pages). */
export function pageMapcount(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, m(pfn, META_MAPCOUNT));
}

/** folio_mapcount: PTEs mapping any page of the folio of `pfn`. */
export function folioMapcount(v: MachineViews, pfn: number): number {
  const head = folioHead(v, pfn);
  const nr = folioNrPages(v, head);
  let n = 0;
  for (let i = 0; i < nr; i++) n += pageMapcount(v, head + i);
  return n;
}

/** folio_mapped: some page of the folio of `pfn` is mapped. */
export function folioMapped(v: MachineViews, pfn: number): boolean {
  return folioMapcount(v, pfn) > 0;
}

/** folio_mark_dirty / set_page_dirty */
export function folioMarkDirty(v: MachineViews, pfn: number): void {
  Atomics.or(v.frameMeta, m(folioHead(v, pfn), META_FLAGS), PG_DIRTY);
}

/** folio_clear_dirty_for_io: clears PG_dirty, returns whether it was set. */
export function folioTestClearDirty(v: MachineViews, pfn: number): boolean {
  return (Atomics.and(v.frameMeta, m(folioHead(v, pfn), META_FLAGS), ~PG_DIRTY) & PG_DIRTY) !== 0;
}

export function folioTestDirty(v: MachineViews, pfn: number): boolean {
  return (Atomics.load(v.frameMeta, m(folioHead(v, pfn), META_FLAGS)) & PG_DIRTY) !== 0;
}

/** !folio_test_swapbacked for an anonymous folio: MADV_FREE marked it lazily freeable. */
export function folioTestLazyfree(v: MachineViews, pfn: number): boolean {
  return (Atomics.load(v.frameMeta, m(folioHead(v, pfn), META_FLAGS)) & PG_LAZYFREE) !== 0;
}

/** folio_clear_dirty + mark_page_lazyfree (MADV_FREE): reclaim may drop the folio unless it is written again. */
export function folioMarkLazyfree(v: MachineViews, pfn: number): void {
  const head = folioHead(v, pfn);
  Atomics.and(v.frameMeta, m(head, META_FLAGS), ~PG_DIRTY);
  Atomics.or(v.frameMeta, m(head, META_FLAGS), PG_LAZYFREE);
}

/** folio_set_swapbacked: a lazyfree folio written again is ordinary anonymous memory once more. */
export function folioSetSwapbacked(v: MachineViews, pfn: number): void {
  Atomics.and(v.frameMeta, m(folioHead(v, pfn), META_FLAGS), ~PG_LAZYFREE);
}

/** folio_trylock: takes PG_locked if it was clear. */
export function folioTrylock(v: MachineViews, pfn: number): boolean {
  // acquiring orders what the holder does after it; pairs with the and in folioUnlock
  return (Atomics.or(v.frameMeta, m(folioHead(v, pfn), META_FLAGS), PG_LOCKED) & PG_LOCKED) === 0;
}

/** folio_lock: sleeps in the idle loop (taking IPIs) until PG_locked is ours. */
export function folioLock(cpu: Cpu, pfn: number): void {
  const v = cpu.v;
  if (folioTrylock(v, pfn)) return;
  // PG_waiters goes up before the last try: an unlock after it sees the bit and wakes us
  cpu.idleUntil(() => {
    if (folioTrylock(v, pfn)) return true;
    Atomics.or(v.frameMeta, m(folioHead(v, pfn), META_FLAGS), PG_WAITERS);
    return folioTrylock(v, pfn);
  });
}

/** folio_unlock: clears PG_locked, waking sleepers in folioLock if any. */
export function folioUnlock(cpu: Cpu, pfn: number): void {
  // publishes what the holder did under the lock
  if ((Atomics.and(cpu.v.frameMeta, m(folioHead(cpu.v, pfn), META_FLAGS), ~(PG_LOCKED | PG_WAITERS)) & PG_WAITERS) !== 0) kickAll(cpu.v);
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

/** GUP pins (folio_maybe_dma_pinned), counted on the folio (a large folio's _pincount). */
export function pinPage(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(folioHead(v, pfn), META_PINCOUNT), 1);
}

export function unpinPage(v: MachineViews, pfn: number): void {
  Atomics.sub(v.frameMeta, m(folioHead(v, pfn), META_PINCOUNT), 1);
}

export function pagePinCount(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, m(folioHead(v, pfn), META_PINCOUNT));
}
