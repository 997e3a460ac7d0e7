/*
 * Broadcast TLB invalidation, the hardware that needs no interrupt: AMD's INVLPGB and TLBSYNC
 * (AMD APM vol. 3; the kernel's wrappers are in arch/x86/include/asm/tlb.h, its use in
 * arch/x86/broadcast.ts) and arm64's TLBI ... IS and DSB ISH (Arm ARM D8.13 and B2.3.12; the
 * kernel's use in arch/arm64/include/asm/tlbflush.h).
 *
 * Both invalidate, on every processor of the inner-shareable domain, this one included, the TLB
 * entries of an ASID (PCID) for a page, a range of pages or all of them, and the walk-cache
 * (paging-structure-cache) entries the request names. No interrupt is involved: the other CPUs
 * process it whatever they are doing, IRQs off included. It is asynchronous: an entry may still
 * be used on another CPU until the issuing CPU executes TLBSYNC (x86) or DSB ISH (arm64), which
 * waits until every invalidation *this CPU* issued has completed everywhere. A TLBSYNC or DSB on
 * another CPU waits for nothing of ours ("completion of the TLB maintenance instruction is
 * guaranteed only by the execution of a DSB by the observer that performed it").
 *
 * A request says what it invalidates (TlbiKind):
 *   InvlpgbPcid  INVLPGB as x86 issues it: the pages of a PCID (or WHOLE_PCID, or every PCID,
 *                ALL_NONGLOBAL), with every paging-structure-cache entry of that PCID
 *   Va           TLBI VAE1IS per page: the leaf entries for the VA (4 KiB, the 2 MiB or
 *                contiguous entry covering it and their pieces) and the walk-cache entries for
 *                that VA only
 *   VaLeaf       TLBI VALE1IS per page: the leaf entries only, the walk cache is kept
 *   Range, RangeLeaf   TLBI RVAE1IS / RVALE1IS (FEAT_TLBIRANGE): one operation for the whole
 *                range [startVpn, startVpn + pages * stride), with or without the walk cache
 *   Asid         TLBI ASIDE1IS: every non-global entry of the ASID, walk cache included
 *   All          TLBI VMALLE1IS: every entry, global ones too, and the whole walk cache
 *
 * The model keeps the TLB invariant of machine/tlb.ts (only the owner touches its TLB): a request
 * is posted in the issuer's ring, and each other CPU applies it to its own TLB at its next
 * interrupt point or while it waits (cpu.ts takeBroadcastInvalidations, ipi/fabric.ts), IRQs on
 * or off, and records how far it got in the issuer's ring. TLBSYNC / DSB ISH sleeps until every
 * other CPU has got that far. The window between the post and the next interrupt point of a
 * running CPU is the real in-flight window: until then that CPU translates through the old
 * entries.
 *
 *   issuer                                   every other CPU
 *   ring[head % SLOTS] = request
 *   Atomics.store(head, head + 1)            interrupt point or wait: INVLPGB_PENDING
 *   INVLPGB_PENDING = 1, kick                for each issuer: apply ring[applied..head)
 *   apply it locally                         Atomics.store(applied[issuer], head), kick issuer
 *   TLBSYNC / DSB ISH: sleep until applied >= head
 *
 * A CPU that runs no instruction for a while (asleep in a wait, stalled in a race window, parked
 * by the controlled scheduler) still has its TLB invalidated: the hardware does not need the CPU
 * to run. Such a CPU marks its TLB quiescent (TLB_OWNER = TLB_QUIESCENT) before it sleeps, and an
 * issuer waiting in TLBSYNC / DSB applies its requests to that TLB itself, holding it (TLB_REMOTE)
 * so that the owner, waking, waits until it is done before it touches its TLB again. A CPU that
 * runs, or that the host has descheduled anywhere else, applies them itself at its next
 * interrupt point or wait.
 *
 *   owner, going to sleep               issuer in TLBSYNC / DSB ISH
 *   TLB_OWNER = QUIESCENT                cmpxchg(TLB_OWNER, QUIESCENT, REMOTE)
 *   sleep                                apply ring[applied..head) of every issuer
 *   cmpxchg(TLB_OWNER, QUIESCENT, ACTIVE)  TLB_OWNER = QUIESCENT, notify
 *   (waits while it is REMOTE)
 *
 * A ring slot is reused only once every CPU has applied it: an issuer that finds its ring full
 * waits as TLBSYNC does (the hardware would stall the INVLPGB; on arm64 this is DVM back-pressure).
 *
 * API, x86 (arch/x86/broadcast.ts): invlpgbPost, invlpgbRingFull, tlbsyncDone, ALL_NONGLOBAL,
 * WHOLE_PCID. arm64 (the arch code of asm/tlbflush.h):
 *   tlbiIs(cpu, kind, asid, startVpn, pages, stride)   TLBI ... IS: applied to this CPU's TLB at
 *                                   once, posted to every other CPU, no wait (stalls only on a
 *                                   full ring); counted per kind
 *   dsbIsh(cpu)                     DSB ISH: waits through the fabric, never spinning, until every
 *                                   TLBI this CPU posted is applied on every CPU
 *   localFlushTlbAll(cpu)           local_flush_tlb_all: TLBI VMALLE1 on this CPU only
 * arm64 flush code passes the race window 'tlbi:issued-not-synced' (KernelPoint.TlbiIssuedNotSynced,
 * cpu.raceWindow) between its last TLBI and the DSB that completes it, as __tlbi_sync_s1ish
 * follows the TLBIs: noise and the controlled scheduler then stretch the in-flight window.
 * The fabric's side (ipi/fabric.ts): broadcastPending, applyBroadcastPending,
 * applyBroadcastForSleepers, broadcastLagging, tlbQuiesce, tlbResume.
 *
 * Layout: the `tlbi` region, one block of IB_WORDS per CPU: the count of requests issued, the
 * ring, and how many of each CPU's requests this CPU has applied.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from './memory.ts';
import { MAX_CPUS } from './memory-limits.ts';
import { tlbFlushNonGlobal, tlbFlushPcid, tlbInvlpgPages, tlbiAll, tlbiAsid, tlbiRange, tlbiVaPages } from './tlb.ts';
import { IPI_PENDING, INVLPGB_PENDING, PERCPU_WORDS, TLB_OWNER } from '../cpu/percpu-layout.ts';
import { kickCpu } from '../ipi/fabric.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import { Counter } from '../trace/counters.ts';

/** What a broadcast request invalidates (see the header). */
export const enum TlbiKind {
  InvlpgbPcid = 0,
  Va = 1,
  VaLeaf = 2,
  Range = 3,
  RangeLeaf = 4,
  Asid = 5,
  All = 6,
}

const IB_HEAD = 0; // requests this CPU issued, written by it only
const IB_RING = 16; // IB_SLOTS requests of IB_REQ_WORDS
const IB_SLOTS = 8;
// kind (TlbiKind), pcid or ASID (ALL_NONGLOBAL for every PCID), first VPN (WHOLE_PCID for all
// pages), pages, stride in pages
const IB_REQ_WORDS = 5;
const RQ_KIND = 0;
const RQ_ASID = 1;
const RQ_START = 2;
const RQ_PAGES = 3;
const RQ_STRIDE = 4;
const IB_APPLIED = IB_RING + IB_SLOTS * IB_REQ_WORDS; // one word per issuer: its requests this CPU applied
export const IB_WORDS = IB_APPLIED + MAX_CPUS;

/** The pcid of a request that covers every PCID, global entries excepted (invlpgb_flush_all_nonglobals). */
export const ALL_NONGLOBAL = -1;
/** The first VPN of a request that covers every page of its PCIDs. */
export const WHOLE_PCID = -1;

const block = (cpu: number): number => cpu * IB_WORDS;

/** How many TLB entries one request invalidates on `cpu` (whose TLB it is: the owner only). */
function applyRequest(v: MachineViews, cpu: number, r: number): number {
  const ib = v.tlbi;
  const asid = ib[r + RQ_ASID];
  const startVpn = ib[r + RQ_START];
  switch (ib[r + RQ_KIND] as TlbiKind) {
    case TlbiKind.InvlpgbPcid:
      if (asid === ALL_NONGLOBAL) return tlbFlushNonGlobal(v.tlb, cpu);
      if (startVpn === WHOLE_PCID) return tlbFlushPcid(v.tlb, cpu, asid);
      // user pages are never global: what INVLPG drops for them is what INVLPGB without
      // INVLPGB_FLAG_INCLUDE_GLOBAL drops, paging-structure caches of the PCID included
      return tlbInvlpgPages(v.tlb, cpu, startVpn, startVpn + ib[r + RQ_PAGES] * ib[r + RQ_STRIDE], ib[r + RQ_STRIDE], asid);
    case TlbiKind.Va:
    case TlbiKind.VaLeaf:
      return tlbiVaPages(v.tlb, cpu, startVpn, ib[r + RQ_PAGES], ib[r + RQ_STRIDE], asid, ib[r + RQ_KIND] === TlbiKind.VaLeaf);
    case TlbiKind.Range:
    case TlbiKind.RangeLeaf:
      return tlbiRange(v.tlb, cpu, startVpn, startVpn + ib[r + RQ_PAGES] * ib[r + RQ_STRIDE], asid, ib[r + RQ_KIND] === TlbiKind.RangeLeaf);
    case TlbiKind.Asid:
      return tlbiAsid(v.tlb, cpu, asid);
    case TlbiKind.All:
      return tlbiAll(v.tlb, cpu);
  }
  throw new Error(`broadcast request of unknown kind ${ib[r + RQ_KIND]}`);
}

/** Whether every other CPU has applied all of `issuer`'s first `upTo` requests. */
function appliedEverywhere(v: MachineViews, issuer: number, upTo: number): boolean {
  for (let c = 0; c < v.nrCpus; c++) {
    if (c !== issuer && Atomics.load(v.tlbi, block(c) + IB_APPLIED + issuer) < upTo) return false;
  }
  return true;
}

/** The CPUs that have not applied every request `issuer` posted: what its TLBSYNC or DSB waits for. */
export function broadcastLagging(v: MachineViews, issuer: number): number[] {
  const head = v.tlbi[block(issuer) + IB_HEAD];
  const lagging: number[] = [];
  for (let c = 0; c < v.nrCpus; c++) {
    if (c !== issuer && Atomics.load(v.tlbi, block(c) + IB_APPLIED + issuer) < head) lagging.push(c);
  }
  return lagging;
}

/** TLBSYNC's and DSB ISH's condition: every request this CPU issued has completed on every CPU. */
export function tlbsyncDone(v: MachineViews, cpu: number): boolean {
  return appliedEverywhere(v, cpu, v.tlbi[block(cpu) + IB_HEAD]);
}

/** Whether posting one more request on `cpu` would overwrite a slot some CPU has not applied. */
export function invlpgbRingFull(v: MachineViews, cpu: number): boolean {
  return !appliedEverywhere(v, cpu, v.tlbi[block(cpu) + IB_HEAD] - IB_SLOTS + 1);
}

/**
 * Posts a request of `kind` on `cpu` (the caller has made room: invlpgbRingFull) and applies it
 * here at once; the others are told. Returns the entries it invalidated on this CPU.
 */
function post(v: MachineViews, cpu: number, kind: TlbiKind, asid: number, startVpn: number, pages: number, stride: number): number {
  schedPoint(Point.Invlpgb);
  const ib = v.tlbi;
  const b = block(cpu);
  const head = ib[b + IB_HEAD];
  const r = b + IB_RING + (head % IB_SLOTS) * IB_REQ_WORDS;
  ib[r + RQ_KIND] = kind;
  ib[r + RQ_ASID] = asid;
  ib[r + RQ_START] = startVpn;
  ib[r + RQ_PAGES] = pages;
  ib[r + RQ_STRIDE] = stride;
  // publishes the request before any CPU can see the new head
  Atomics.store(ib, b + IB_HEAD, head + 1);
  for (let c = 0; c < v.nrCpus; c++) {
    if (c === cpu) continue;
    const pb = c * PERCPU_WORDS;
    Atomics.store(v.percpu, pb + INVLPGB_PENDING, 1);
    // the interrupt point looks at one word; it sees INVLPGB_PENDING after this
    Atomics.store(v.percpu, pb + IPI_PENDING, 1);
    kickCpu(v.percpu, c);
  }
  return applyRequest(v, cpu, r);
}

/**
 * INVLPGB on `cpu`: `pages` pages from `startVpn` every `stride` pages (or WHOLE_PCID) of `pcid`
 * (or ALL_NONGLOBAL). The caller has made room (invlpgbRingFull). Applied here at once for this
 * CPU; the others are told. Returns the entries it invalidated on this CPU.
 */
export function invlpgbPost(v: MachineViews, cpu: number, pcid: number, startVpn: number, pages: number, stride: number): number {
  return post(v, cpu, TlbiKind.InvlpgbPcid, pcid, startVpn, pages, stride);
}

function tlbiCounter(kind: TlbiKind): Counter {
  switch (kind) {
    case TlbiKind.Va: return Counter.TlbiVa;
    case TlbiKind.VaLeaf: return Counter.TlbiVaLeaf;
    case TlbiKind.Range:
    case TlbiKind.RangeLeaf: return Counter.TlbiRange;
    case TlbiKind.Asid: return Counter.TlbiAsid;
    case TlbiKind.All: return Counter.TlbiAll;
  }
  throw new Error(`tlbiIs: ${kind} is not an arm64 TLBI`);
}

/**
 * TLBI <kind> IS on `cpu`: VAE1IS / VALE1IS for `pages` pages from `startVpn` every `stride`
 * pages (one operation each, counted as such by the caller's loop when it issues them one by one,
 * or here as one call naming several), RVAE1IS / RVALE1IS for the range of `pages * stride`
 * pages from `startVpn` (one operation), ASIDE1IS for `asid`, VMALLE1IS. This CPU's TLB now;
 * every other CPU's at its next interrupt point or wait, or by our DSB if it sleeps. Does not wait
 * for them (dsbIsh does); stalls only while the ring is full.
 */
export function tlbiIs(cpu: Cpu, kind: TlbiKind, asid: number, startVpn: number, pages: number, stride: number): void {
  const c = tlbiCounter(kind);
  if (invlpgbRingFull(cpu.v, cpu.id)) cpu.fabric.hardwareWait(cpu, () => !invlpgbRingFull(cpu.v, cpu.id));
  if (c === Counter.TlbiVa || c === Counter.TlbiVaLeaf) cpu.count(c, pages);
  else cpu.count(c);
  if (c === Counter.TlbiRange) cpu.count(Counter.TlbiRangePages, pages * stride);
  cpu.count(Counter.TlbEntriesInvalidated, post(cpu.v, cpu.id, kind, asid, startVpn, pages, stride));
}

/**
 * DSB ISH on `cpu`: returns once every TLBI this CPU posted has been applied on every CPU. Waits
 * through the fabric (applying the TLBIs of CPUs that sleep, taking other CPUs' meanwhile), never
 * spinning; it waits for nothing another CPU posted.
 */
export function dsbIsh(cpu: Cpu): void {
  cpu.count(Counter.DsbIsh);
  if (tlbsyncDone(cpu.v, cpu.id)) return;
  cpu.count(Counter.DsbIshWaits);
  cpu.fabric.hardwareWait(cpu, () => tlbsyncDone(cpu.v, cpu.id));
}

/** local_flush_tlb_all: TLBI VMALLE1 then DSB NSH, on this CPU's TLB and walk cache only. */
export function localFlushTlbAll(cpu: Cpu): void {
  cpu.count(Counter.LocalFlushAll);
  cpu.count(Counter.TlbEntriesInvalidated, tlbiAll(cpu.v.tlb, cpu.id));
}

/** Whether some CPU has posted a request that `cpu` has not looked at yet. */
export function broadcastPending(v: MachineViews, cpu: number): boolean {
  return Atomics.load(v.percpu, cpu * PERCPU_WORDS + INVLPGB_PENDING) !== 0;
}
/** TLB_OWNER: the owner runs and may use its TLB at any moment */
const TLB_ACTIVE = 0;
/** TLB_OWNER: the owner sleeps; an issuer may take the TLB to apply requests */
const TLB_QUIESCENT = 1;
/** TLB_OWNER: an issuer is applying requests to it */
const TLB_REMOTE = 2;

/** Applies to `cpu`'s TLB every request posted since it was last brought up to date; returns the entries invalidated. */
function applyPosted(v: MachineViews, cpu: number): number {
  const ib = v.tlbi;
  const b = block(cpu);
  let n = 0;
  for (let issuer = 0; issuer < v.nrCpus; issuer++) {
    if (issuer === cpu) continue;
    const head = Atomics.load(ib, block(issuer) + IB_HEAD);
    let applied = ib[b + IB_APPLIED + issuer];
    if (applied === head) continue;
    for (; applied < head; applied++) n += applyRequest(v, cpu, block(issuer) + IB_RING + (applied % IB_SLOTS) * IB_REQ_WORDS);
    // the issuer's TLBSYNC reads this: the TLB no longer holds what the requests removed
    Atomics.store(ib, b + IB_APPLIED + issuer, applied);
    kickCpu(v.percpu, issuer);
  }
  return n;
}

/**
 * The target's side, on the target: applies every request posted for `cpu` since it last looked
 * and wakes each issuer it caught up with (it may sleep in TLBSYNC). Returns the TLB entries
 * invalidated.
 */
export function applyBroadcastPending(v: MachineViews, cpu: number): number {
  // cleared before the heads are read: a request posted after this raises it again
  Atomics.store(v.percpu, cpu * PERCPU_WORDS + INVLPGB_PENDING, 0);
  return applyPosted(v, cpu);
}

/** The owner is about to sleep: until tlbResume, an issuer may apply requests to its TLB. */
export function tlbQuiesce(v: MachineViews, cpu: number): void {
  Atomics.store(v.percpu, cpu * PERCPU_WORDS + TLB_OWNER, TLB_QUIESCENT);
}

/** The owner woke: it takes its TLB back, waiting while an issuer is still applying requests to it. */
export function tlbResume(v: MachineViews, cpu: number): void {
  const at = cpu * PERCPU_WORDS + TLB_OWNER;
  while (Atomics.compareExchange(v.percpu, at, TLB_QUIESCENT, TLB_ACTIVE) === TLB_REMOTE) Atomics.wait(v.percpu, at, TLB_REMOTE, 1);
}

/**
 * An issuer waiting for its requests (TLBSYNC, DSB ISH): applies them, and everything else posted, to the
 * TLB of every CPU that lags behind and is quiescent. Returns the entries invalidated.
 */
export function applyBroadcastForSleepers(v: MachineViews, issuer: number): number {
  const head = v.tlbi[block(issuer) + IB_HEAD];
  let n = 0;
  for (let c = 0; c < v.nrCpus; c++) {
    if (c === issuer || Atomics.load(v.tlbi, block(c) + IB_APPLIED + issuer) >= head) continue;
    const at = c * PERCPU_WORDS + TLB_OWNER;
    if (Atomics.compareExchange(v.percpu, at, TLB_QUIESCENT, TLB_REMOTE) !== TLB_QUIESCENT) continue;
    n += applyPosted(v, c);
    // hands the TLB back; wakes the owner if it woke meanwhile and waits for it
    Atomics.store(v.percpu, at, TLB_QUIESCENT);
    Atomics.notify(v.percpu, at);
  }
  return n;
}
