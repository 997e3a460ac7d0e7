/*
 * Page references, map counts and flags (include/linux/mm.h, page-flags.h, mm/swap.c):
 * all atomic, since any CPU may take or drop them.
 */
import type { MachineViews } from '../machine/memory.ts';
import { freeFrame, frameMetaIndex } from '../machine/frames.ts';
import { META_FLAGS, META_INDEX, META_KIND, META_MAPCOUNT, META_OWNER, META_PINCOUNT, META_REFCOUNT, PG_DIRTY, FrameKind } from '../machine/phys-layout.ts';

const m = (pfn: number, field: number) => frameMetaIndex(pfn, field);

export function getPage(v: MachineViews, pfn: number): void {
  Atomics.add(v.frameMeta, m(pfn, META_REFCOUNT), 1);
}

/** put_page: drops a reference; the last one frees the frame on `cpu`. */
export function putPage(v: MachineViews, cpu: number, pfn: number): void {
  if (Atomics.sub(v.frameMeta, m(pfn, META_REFCOUNT), 1) === 1) freeFrame(v, cpu, pfn);
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
