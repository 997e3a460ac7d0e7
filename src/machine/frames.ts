/*
 * Frames and the page allocator (mm/page_alloc.c, much simplified).
 *
 * Invariant: a frame is on exactly one free list (the zone's, or one CPU's per_cpu_pages) or it
 * is allocated; its generation changes every time it is freed, and never otherwise.
 *
 * Reuse is eager on purpose, as the kernel's per-CPU lists are LIFO: the frame a CPU frees is the
 * next one it allocates. A translation that outlives the free therefore lands on data that now
 * belongs to someone else, and the generation in the stale TLB entry no longer matches.
 *
 * `cpu` is the simulated CPU doing the work, or CONTROL_CPU for the control plane (machine set-up
 * on the main thread), which uses the zone list only. A CPU logs each frame it allocates and frees
 * on its ring (trace/events.ts: the frame, its kind, its generation).
 */
import type { MachineViews } from './memory.ts';
import {
  FRAME_META_WORDS, FrameKind, META_FLAGS, META_DEPOSIT, META_FOLIO, META_GEN, META_HW_AD, META_INDEX, META_KIND, META_MAPCOUNT,
  META_NEXT, META_OWNER, META_REFCOUNT, META_WRITTEN_SEQ, PCP_BATCH, PCP_COUNT, PCP_FRAMES, PCP_HIGH, PCP_STRIDE,
  WORDS_PER_FRAME, ZONE_FREE_HEAD, ZONE_LOCK, ZONE_NR_FREE, ZONE_WORDS,
} from './phys-layout.ts';
import { rawSpinLock, rawSpinUnlock } from './raw-spinlock.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import { G_TRACE_SEQ } from './globals-layout.ts';
import { Ev, traceEvent } from '../trace/events.ts';

export const CONTROL_CPU = -1;

const meta = (pfn: number, field: number) => pfn * FRAME_META_WORDS + field;
const pcpBase = (cpu: number) => ZONE_WORDS + cpu * PCP_STRIDE;

/** Puts every frame but frame 0 on the zone's free list, lowest PFN first out. */
export function initFrames(v: MachineViews): void {
  const { zone, frameMeta } = v;
  let head = 0;
  for (let pfn = v.nrFrames - 1; pfn >= 1; pfn--) {
    frameMeta[meta(pfn, META_NEXT)] = head;
    frameMeta[meta(pfn, META_GEN)] = 1;
    head = pfn;
  }
  zone[ZONE_FREE_HEAD] = head;
  zone[ZONE_NR_FREE] = v.nrFrames - 1;
  frameMeta[meta(0, META_KIND)] = FrameKind.Kernel;
}

function zonePop(v: MachineViews): number {
  const pfn = v.zone[ZONE_FREE_HEAD];
  if (pfn !== 0) {
    v.zone[ZONE_FREE_HEAD] = v.frameMeta[meta(pfn, META_NEXT)];
    v.zone[ZONE_NR_FREE]--;
  }
  return pfn;
}

function zonePush(v: MachineViews, pfn: number): void {
  v.frameMeta[meta(pfn, META_NEXT)] = v.zone[ZONE_FREE_HEAD];
  v.zone[ZONE_FREE_HEAD] = pfn;
  v.zone[ZONE_NR_FREE]++;
}

/** Takes a frame off `cpu`'s list, refilling it from the zone in batches. 0 when memory is out. */
function rawAllocFrame(v: MachineViews, cpu: number): number {
  const { zone } = v;
  if (cpu === CONTROL_CPU) {
    rawSpinLock(zone, ZONE_LOCK);
    const pfn = zonePop(v);
    rawSpinUnlock(zone, ZONE_LOCK);
    return pfn;
  }
  const base = pcpBase(cpu);
  if (zone[base + PCP_COUNT] === 0) {
    rawSpinLock(zone, ZONE_LOCK);
    for (let i = 0; i < PCP_BATCH; i++) {
      const pfn = zonePop(v);
      if (pfn === 0) break;
      zone[base + PCP_FRAMES + zone[base + PCP_COUNT]++] = pfn;
    }
    rawSpinUnlock(zone, ZONE_LOCK);
    if (zone[base + PCP_COUNT] === 0) return 0;
  }
  return zone[base + PCP_FRAMES + --zone[base + PCP_COUNT]];
}

/**
 * Allocates a frame for `kind`, zeroed when `zero` is set (clear_page for anonymous memory and
 * page tables), with one reference. Returns the PFN, or 0 when no frame is free.
 */
export function allocFrame(v: MachineViews, cpu: number, kind: FrameKind, owner: number, index: number, zero: boolean): number {
  const pfn = rawAllocFrame(v, cpu);
  if (pfn === 0) return 0;
  prepNewFrame(v, pfn, kind, owner, index, zero);
  if (cpu !== CONTROL_CPU) traceEvent(v, cpu, Ev.FrameAlloc, pfn, kind, owner, v.frameMeta[meta(pfn, META_GEN)]);
  return pfn;
}

/** prep_new_page: a frame just taken off a free list becomes `kind`'s, with one reference. */
function prepNewFrame(v: MachineViews, pfn: number, kind: FrameKind, owner: number, index: number, zero: boolean): void {
  const m = v.frameMeta;
  m[meta(pfn, META_KIND)] = kind;
  m[meta(pfn, META_OWNER)] = owner;
  m[meta(pfn, META_INDEX)] = index;
  m[meta(pfn, META_FLAGS)] = 0;
  m[meta(pfn, META_MAPCOUNT)] = 0;
  // no PTE maps the new frame yet: nothing the walker set in one is pending (check/lost-bits.ts)
  m[meta(pfn, META_HW_AD)] = 0;
  m[meta(pfn, META_DEPOSIT)] = 0;
  m[meta(pfn, META_FOLIO)] = 0;
  // no TLB entry of this frame's new life predates its first writeback (check/oracle.ts)
  m[meta(pfn, META_WRITTEN_SEQ)] = Atomics.load(v.globals, G_TRACE_SEQ);
  if (zero) v.phys.fill(0, pfn * WORDS_PER_FRAME, (pfn + 1) * WORDS_PER_FRAME);
  // publishes the metadata above before the frame can be reached through a PTE
  Atomics.store(m, meta(pfn, META_REFCOUNT), 1);
}

/**
 * `nr` (a power of two) physically contiguous frames, aligned to `nr` frames, as a 2 MiB page
 * needs: taken off the zone's list under the zone lock, each prepared as allocFrame prepares one,
 * frame i with index `index + i`. Frames on a CPU's list do not count as free here
 * (drainPcpLists first for the widest choice). Returns the first PFN, or 0 when no run is free.
 */
// models mm/page_alloc.c:alloc_contig_pages
export function allocContigFrames(v: MachineViews, nr: number, kind: FrameKind, owner: number, index: number, zero: boolean): number {
  const { zone, frameMeta } = v;
  rawSpinLock(zone, ZONE_LOCK);
  // how many free frames each aligned block has; block 0 holds frame 0, which is never free
  const free = new Int32Array(Math.ceil(v.nrFrames / nr));
  for (let pfn = zone[ZONE_FREE_HEAD]; pfn !== 0; pfn = frameMeta[meta(pfn, META_NEXT)]) free[Math.floor(pfn / nr)]++;
  const block = free.indexOf(nr, 1);
  const first = block < 0 ? 0 : block * nr;
  if (first !== 0) {
    let prev = 0;
    for (let pfn = zone[ZONE_FREE_HEAD]; pfn !== 0;) {
      const next = frameMeta[meta(pfn, META_NEXT)];
      if (pfn < first || pfn >= first + nr) prev = pfn;
      else if (prev === 0) zone[ZONE_FREE_HEAD] = next;
      else frameMeta[meta(prev, META_NEXT)] = next;
      pfn = next;
    }
    zone[ZONE_NR_FREE] -= nr;
  }
  rawSpinUnlock(zone, ZONE_LOCK);
  for (let i = 0; first !== 0 && i < nr; i++) prepNewFrame(v, first + i, kind, owner, index + i, zero);
  return first;
}

/**
 * allocContigFrames on a simulated CPU, for a large folio (kernel/page.ts: folioAlloc): the run
 * logged on `cpu`'s ring frame by frame, as allocFrame logs one. Returns the first PFN, or 0.
 */
export function allocContigFramesOn(v: MachineViews, cpu: number, nr: number, kind: FrameKind, owner: number, index: number, zero: boolean): number {
  const first = allocContigFrames(v, nr, kind, owner, index, zero);
  for (let i = 0; first !== 0 && i < nr; i++) traceEvent(v, cpu, Ev.FrameAlloc, first + i, kind, owner, v.frameMeta[meta(first + i, META_GEN)]);
  return first;
}

/**
 * Frees a frame: bumps its generation, then puts it on top of `cpu`'s list, draining a batch to
 * the zone when the list is full. The caller guarantees no PTE maps it and, if the caller is
 * correct, no TLB does either.
 */
export function freeFrame(v: MachineViews, cpu: number, pfn: number): void {
  schedPoint(Point.FrameFree);
  const m = v.frameMeta;
  // the new generation is visible before the frame can be handed out again: a CPU that still
  // translates to this frame compares its entry's generation with this one
  const gen = Atomics.add(m, meta(pfn, META_GEN), 1) + 1;
  if (cpu !== CONTROL_CPU) traceEvent(v, cpu, Ev.FrameFree, pfn, m[meta(pfn, META_KIND)], gen);
  m[meta(pfn, META_KIND)] = FrameKind.Free;
  m[meta(pfn, META_OWNER)] = 0;
  Atomics.store(m, meta(pfn, META_REFCOUNT), 0);
  const { zone } = v;
  if (cpu === CONTROL_CPU) {
    rawSpinLock(zone, ZONE_LOCK);
    zonePush(v, pfn);
    rawSpinUnlock(zone, ZONE_LOCK);
    return;
  }
  const base = pcpBase(cpu);
  if (zone[base + PCP_COUNT] === PCP_HIGH) {
    rawSpinLock(zone, ZONE_LOCK);
    for (let i = 0; i < PCP_BATCH; i++) zonePush(v, zone[base + PCP_FRAMES + --zone[base + PCP_COUNT]]);
    rawSpinUnlock(zone, ZONE_LOCK);
  }
  zone[base + PCP_FRAMES + zone[base + PCP_COUNT]++] = pfn;
}

/** Returns every per-CPU list to the zone (drain_all_pages), e.g. at the end of a run. */
export function drainPcpLists(v: MachineViews): void {
  const { zone } = v;
  rawSpinLock(zone, ZONE_LOCK);
  for (let cpu = 0; cpu < v.nrCpus; cpu++) {
    const base = pcpBase(cpu);
    while (zone[base + PCP_COUNT] > 0) zonePush(v, zone[base + PCP_FRAMES + --zone[base + PCP_COUNT]]);
  }
  rawSpinUnlock(zone, ZONE_LOCK);
}

export function nrFreeFrames(v: MachineViews): number {
  let n = Atomics.load(v.zone, ZONE_NR_FREE);
  for (let cpu = 0; cpu < v.nrCpus; cpu++) n += Atomics.load(v.zone, pcpBase(cpu) + PCP_COUNT);
  return n;
}

export function frameGen(v: MachineViews, pfn: number): number {
  return Atomics.load(v.frameMeta, meta(pfn, META_GEN));
}

export function frameKind(v: MachineViews, pfn: number): FrameKind {
  return v.frameMeta[meta(pfn, META_KIND)];
}

export function frameMetaIndex(pfn: number, field: number): number {
  return meta(pfn, field);
}
