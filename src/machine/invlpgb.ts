/*
 * AMD's broadcast TLB invalidation: INVLPGB and TLBSYNC (AMD APM vol. 3; the kernel's wrappers are
 * in arch/x86/include/asm/tlb.h, its use in arch/x86/broadcast.ts).
 *
 * INVLPGB invalidates, on every processor of the system, this one included, the TLB entries of a
 * PCID (or of every PCID, global entries excepted) for a range of pages or for all of them, and
 * the paging-structure-cache entries of that PCID. No interrupt is involved: the other CPUs
 * process it whatever they are doing, IRQs off included. It is asynchronous: an entry may still be
 * used on another CPU until the issuing CPU executes TLBSYNC, which waits until every INVLPGB
 * *this CPU* issued has completed everywhere. A TLBSYNC on another CPU waits for nothing of ours.
 *
 * The model keeps the TLB invariant of machine/tlb.ts (only the owner touches its TLB): an
 * INVLPGB is posted in the issuer's ring, and each other CPU applies it to its own TLB at its next
 * interrupt point or while it waits (cpu.ts takeBroadcastInvalidations, ipi/fabric.ts), IRQs on
 * or off, and records how far it got in the issuer's ring. TLBSYNC sleeps until every other CPU
 * has got that far.
 *
 *   issuer                                   every other CPU
 *   ring[head % SLOTS] = request
 *   Atomics.store(head, head + 1)            interrupt point or wait: INVLPGB_PENDING
 *   INVLPGB_PENDING = 1, kick                for each issuer: apply ring[applied..head)
 *   apply it locally                         Atomics.store(applied[issuer], head), kick issuer
 *   TLBSYNC: sleep until applied >= head
 *
 * A CPU that runs no instruction for a while (asleep in a wait, stalled in a race window, parked
 * by the controlled scheduler) still has its TLB invalidated: the hardware does not need the CPU
 * to run. Such a CPU marks its TLB quiescent (TLB_OWNER = TLB_QUIESCENT) before it sleeps, and an
 * issuer waiting in TLBSYNC applies its requests to that TLB itself, holding it (TLB_REMOTE) so
 * that the owner, waking, waits until it is done before it touches its TLB again. A CPU that
 * runs, or that the host has descheduled anywhere else, applies them itself at its next
 * interrupt point or wait.
 *
 *   owner, going to sleep               issuer in TLBSYNC
 *   TLB_OWNER = QUIESCENT                cmpxchg(TLB_OWNER, QUIESCENT, REMOTE)
 *   sleep                                apply ring[applied..head) of every issuer
 *   cmpxchg(TLB_OWNER, QUIESCENT, ACTIVE)  TLB_OWNER = QUIESCENT, notify
 *   (waits while it is REMOTE)
 *
 * A ring slot is reused only once every CPU has applied it: an issuer that finds its ring full
 * waits as TLBSYNC does (the hardware would stall the INVLPGB).
 *
 * Layout: the `invlpgb` region, one block of IB_WORDS per CPU: the count of requests issued, the
 * ring, and how many of each CPU's requests this CPU has applied.
 */
import type { MachineViews } from './memory.ts';
import { MAX_CPUS } from './memory-limits.ts';
import { tlbFlushNonGlobal, tlbFlushPcid, tlbInvlpgPages } from './tlb.ts';
import { IPI_PENDING, INVLPGB_PENDING, PERCPU_WORDS, TLB_OWNER } from '../cpu/percpu-layout.ts';
import { kickCpu } from '../ipi/fabric.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';

const IB_HEAD = 0; // requests this CPU issued, written by it only
const IB_RING = 16; // IB_SLOTS requests of IB_REQ_WORDS
const IB_SLOTS = 8;
const IB_REQ_WORDS = 4; // pcid (ALL_NONGLOBAL for every PCID), first VPN (WHOLE_PCID for all pages), pages, stride in pages
const IB_APPLIED = IB_RING + IB_SLOTS * IB_REQ_WORDS; // one word per issuer: its requests this CPU applied
export const IB_WORDS = IB_APPLIED + MAX_CPUS;

/** The pcid of a request that covers every PCID, global entries excepted (invlpgb_flush_all_nonglobals). */
export const ALL_NONGLOBAL = -1;
/** The first VPN of a request that covers every page of its PCIDs. */
export const WHOLE_PCID = -1;

const block = (cpu: number): number => cpu * IB_WORDS;

/** How many TLB entries one request invalidates on `cpu` (whose TLB it is: the owner only). */
function applyRequest(v: MachineViews, cpu: number, r: number): number {
  const ib = v.invlpgb;
  const pcid = ib[r];
  const startVpn = ib[r + 1];
  if (pcid === ALL_NONGLOBAL) return tlbFlushNonGlobal(v.tlb, cpu);
  if (startVpn === WHOLE_PCID) return tlbFlushPcid(v.tlb, cpu, pcid);
  // user pages are never global: what INVLPG drops for them is what INVLPGB without
  // INVLPGB_FLAG_INCLUDE_GLOBAL drops, paging-structure caches of the PCID included
  const stride = ib[r + 3];
  return tlbInvlpgPages(v.tlb, cpu, startVpn, startVpn + ib[r + 2] * stride, stride, pcid);
}

/** Whether every other CPU has applied all of `issuer`'s first `upTo` requests. */
function appliedEverywhere(v: MachineViews, issuer: number, upTo: number): boolean {
  for (let c = 0; c < v.nrCpus; c++) {
    if (c !== issuer && Atomics.load(v.invlpgb, block(c) + IB_APPLIED + issuer) < upTo) return false;
  }
  return true;
}

/** The CPUs that have not applied every INVLPGB `issuer` posted: what its TLBSYNC waits for. */
export function invlpgbLagging(v: MachineViews, issuer: number): number[] {
  const head = v.invlpgb[block(issuer) + IB_HEAD];
  const lagging: number[] = [];
  for (let c = 0; c < v.nrCpus; c++) {
    if (c !== issuer && Atomics.load(v.invlpgb, block(c) + IB_APPLIED + issuer) < head) lagging.push(c);
  }
  return lagging;
}

/** TLBSYNC's condition: every INVLPGB this CPU issued has completed on every CPU. */
export function tlbsyncDone(v: MachineViews, cpu: number): boolean {
  return appliedEverywhere(v, cpu, v.invlpgb[block(cpu) + IB_HEAD]);
}

/** Whether posting one more request on `cpu` would overwrite a slot some CPU has not applied. */
export function invlpgbRingFull(v: MachineViews, cpu: number): boolean {
  return !appliedEverywhere(v, cpu, v.invlpgb[block(cpu) + IB_HEAD] - IB_SLOTS + 1);
}

/**
 * INVLPGB on `cpu`: `pages` pages from `startVpn` every `stride` pages (or WHOLE_PCID) of `pcid`
 * (or ALL_NONGLOBAL). The caller has made room (invlpgbRingFull). Applied here at once for this
 * CPU; the others are told. Returns the entries it invalidated on this CPU.
 */
export function invlpgbPost(v: MachineViews, cpu: number, pcid: number, startVpn: number, pages: number, stride: number): number {
  schedPoint(Point.Invlpgb);
  const ib = v.invlpgb;
  const b = block(cpu);
  const head = ib[b + IB_HEAD];
  const r = b + IB_RING + (head % IB_SLOTS) * IB_REQ_WORDS;
  ib[r] = pcid;
  ib[r + 1] = startVpn;
  ib[r + 2] = pages;
  ib[r + 3] = stride;
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

/** Whether some CPU has posted an INVLPGB that `cpu` has not looked at yet. */
export function invlpgbPending(v: MachineViews, cpu: number): boolean {
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
  const ib = v.invlpgb;
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
export function invlpgbApplyPending(v: MachineViews, cpu: number): number {
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
 * An issuer waiting for its requests (TLBSYNC): applies them, and everything else posted, to the
 * TLB of every CPU that lags behind and is quiescent. Returns the entries invalidated.
 */
export function invlpgbApplyForSleepers(v: MachineViews, issuer: number): number {
  const head = v.invlpgb[block(issuer) + IB_HEAD];
  let n = 0;
  for (let c = 0; c < v.nrCpus; c++) {
    if (c === issuer || Atomics.load(v.invlpgb, block(c) + IB_APPLIED + issuer) >= head) continue;
    const at = c * PERCPU_WORDS + TLB_OWNER;
    if (Atomics.compareExchange(v.percpu, at, TLB_QUIESCENT, TLB_REMOTE) !== TLB_QUIESCENT) continue;
    n += applyPosted(v, c);
    // hands the TLB back; wakes the owner if it woke meanwhile and waits for it
    Atomics.store(v.percpu, at, TLB_QUIESCENT);
    Atomics.notify(v.percpu, at);
  }
  return n;
}
