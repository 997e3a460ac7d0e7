/*
 * The arm64 ASID allocator (arch/arm64/mm/context.c): asids_init, flush_context,
 * check_update_reserved_asid, new_context, check_and_switch_context and cpu_switch_mm.
 *
 * An mm's context.id (MM_CONTEXT_ID) is its ASID in the low asid_bits with the generation it was
 * allocated in above them; 0 until the mm first runs. The ASID tags its TLB entries (cpu.pcid
 * here). An ASID is handed to one mm per generation: asid_map has a bit per ASID given out in
 * this generation. When the map is full, new_context starts a new generation (rollover):
 * flush_context empties the map except for the ASIDs that CPUs are running (each CPU's
 * active_asids, or if that is 0, because the CPU has not switched since the last rollover, its
 * reserved_asids), and marks every CPU in tlb_flush_pending, so that each flushes its whole TLB
 * (local_flush_tlb_all) the next time it takes the slow path. An mm whose ASID is reserved keeps
 * it in the new generation (check_update_reserved_asid, which updates every CPU's copy); any other
 * gets a free one.
 *
 * check_and_switch_context's fast path takes no lock: if the mm's generation is current and this
 * CPU's active_asids is not 0, it stores the mm's ASID there and runs. A rollover on another CPU
 * may zero active_asids at any moment; the fast path must then fail without leaving an ASID there
 * that the rollover did not see (switch arm64AsidFastPath):
 *   cmpxchg  (mainline, a8ffaaa060b8) old = active_asids; if old and the generation matches,
 *            cmpxchg(active_asids, old, asid): a zero in between fails it and stores nothing.
 *   xchg     (5aec715d7d3b's fast path) xchg(active_asids, asid) after the generation check: on
 *            a 0 it goes to the slow path, but active_asids now holds an ASID of the old
 *            generation. A second rollover before this CPU takes the lock reserves that stale
 *            ASID as this CPU's, and also the same ASID another mm was given in the generation
 *            between: both mms keep it in the new generation, and a CPU that switches from one
 *            to the other translates through the first one's TLB entries (the foreign-translation
 *            oracle, check/oracle.ts, which checks on every access what the TLA+ model's
 *            UniqueASIDPerCPU states: no CPU holds entries of two mms under one ASID).
 *
 * Generations: context.id is a 32-bit word here, so the generation counts in steps of
 * 1 << asid_bits (ASID_FIRST_VERSION before mainline fixed it at 1 << 16; asid_gen_match compares
 * the bits above asid_bits either way), and a run can roll over 2^(31 - asid_bits) - 1 times. A
 * run that would wrap the generation stops with an error: the kernel's 64-bit generation never
 * wraps, and the TLA+ model (cmarinas/kernel-tla asidalloc.tla) leaves wrap out too.
 *
 * Not modelled: pinned ASIDs (arm64_mm_context_get, SVA), KPTI's ASID pairs, CnP.
 *
 * Every atomic of active_asids, the generation's add and each bitmap update is a scheduling point
 * (Point.Asid); the fast path's window between its check and its exchange, and the slow path's
 * before the lock, are race windows (kernel points asid:fast-path-checked, asid:slow-path).
 *
 * API:
 *   initAsidAllocator(v, asidBits)   asids_init, on the control plane at run start
 *   checkAndSwitchContext(cpu, mm)   switch_mm: the mm's ASID, a flush if a rollover asked for
 *                                    one, then TTBR0 (cpu.cr3, cpu.pcid = the ASID, cpu.mm);
 *                                    init_mm loads the reserved TTBR0 under ASID 0
 *   asidOfMm(v, mm)                  ASID(mm): the ASID bits of context.id
 *   mmContextId(v, mm), asidGeneration(v)   context.id and asid_generation as they are
 *   cpuContextId(v, cpu)             the context.id a CPU runs (active_asids, else reserved_asids)
 *   mmsSharingAsid(v)                a checker: pairs of live mms that hold one ASID in the
 *                                    current generation (mainline never has any)
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { atomicCpumaskSet } from '../../cpu/cpumask.ts';
import { tlbFlushEverything } from '../../machine/tlb.ts';
import { spinLock, spinUnlock } from '../../kernel/locks.ts';
import { KernelPoint } from '../../kernel/points.ts';
import { mmBase, mmPgd } from '../../kernel/mm.ts';
import { INIT_MM, MAX_MMS, MM_CONTEXT_ID, MM_USERS } from '../../kernel/mm-layout.ts';
import { promiseCountIndex } from '../../check/promises.ts';
import { schedPoint } from '../../schedule/baton.ts';
import { Point } from '../../schedule/layout.ts';
import { Counter } from '../../trace/counters.ts';
import {
  CTX_ACTIVE_ASIDS, CTX_ASID_BITS, CTX_ASID_MAP, CTX_CUR_IDX, CTX_GENERATION, CTX_LOCK, CTX_RESERVED_ASIDS, CTX_TLB_FLUSH_PENDING, MAX_ASID_BITS,
} from './context-layout.ts';

const asidBitsOf = (a: Int32Array): number => a[CTX_ASID_BITS];
/** NUM_USER_ASIDS */
const numUserAsids = (a: Int32Array): number => 1 << asidBitsOf(a);
/** ctxid2asid */
const ctxid2asid = (a: Int32Array, id: number): number => id & (numUserAsids(a) - 1);

/** asid_gen_match: `id` was allocated in the current generation. */
function asidGenMatch(a: Int32Array, id: number): boolean {
  return (id ^ Atomics.load(a, CTX_GENERATION)) >>> asidBitsOf(a) === 0;
}

/**
 * asids_init (and the boot-time state of the per-CPU variables) for a run with `asidBits`-bit
 * ASIDs (cpu.hw.asidBits). ASID 0 is init_mm's; there must be more ASIDs left than CPUs, or a
 * rollover could find none free (asids_update_limit's WARN, an error here).
 */
export function initAsidAllocator(v: MachineViews, asidBits: number): void {
  if (!Number.isInteger(asidBits) || asidBits < 2 || asidBits > MAX_ASID_BITS) {
    throw new RangeError(`ASID bits must be an integer from 2 to ${MAX_ASID_BITS}, not ${asidBits}`);
  }
  if ((1 << asidBits) - 1 <= v.nrCpus) {
    throw new RangeError(`${asidBits}-bit ASIDs leave ${(1 << asidBits) - 1} for user mms, not more than the ${v.nrCpus} CPUs: a rollover could find no free ASID`);
  }
  const a = v.asids;
  a.fill(0, CTX_LOCK, CTX_ASID_MAP + (1 << MAX_ASID_BITS) / 32);
  a[CTX_ASID_BITS] = asidBits;
  // ASID_FIRST_VERSION
  Atomics.store(a, CTX_GENERATION, 1 << asidBits);
  a[CTX_CUR_IDX] = 1;
}

/** ASID(mm): the ASID bits of the mm's context.id (0 before it first runs). */
export function asidOfMm(v: MachineViews, mm: number): number {
  return ctxid2asid(v.asids, mmContextId(v, mm));
}

/** atomic64_read(&mm->context.id) */
export function mmContextId(v: MachineViews, mm: number): number {
  return Atomics.load(v.mm, mmBase(mm) + MM_CONTEXT_ID);
}

/**
 * The context.id CPU `cpu` runs, for checkers on other CPUs: its active_asids, or when a rollover
 * zeroed that and the CPU has not switched since, its reserved_asids (flush_context's own rule).
 * 0 before its first switch. Between the fast path's exchange and cpu_switch_mm it is already the
 * next mm's.
 */
export function cpuContextId(v: MachineViews, cpu: number): number {
  const active = Atomics.load(v.asids, CTX_ACTIVE_ASIDS + cpu);
  return active !== 0 ? active : Atomics.load(v.asids, CTX_RESERVED_ASIDS + cpu);
}

/** atomic64_read(&asid_generation) */
export function asidGeneration(v: MachineViews): number {
  return Atomics.load(v.asids, CTX_GENERATION);
}

// asid_map, under cpu_asid_lock. Updates are scheduling points: a controlled run may switch CPUs
// between them, which under the lock only lets CPUs that do not need it go on.
function testBit(a: Int32Array, asid: number): boolean {
  return (a[CTX_ASID_MAP + (asid >>> 5)] & (1 << (asid & 31))) !== 0;
}

function setBit(a: Int32Array, asid: number): void {
  schedPoint(Point.Asid);
  Atomics.or(a, CTX_ASID_MAP + (asid >>> 5), 1 << (asid & 31));
}

/** __test_and_set_bit: returns whether the bit was already set. */
function testAndSetBit(a: Int32Array, asid: number): boolean {
  schedPoint(Point.Asid);
  return (Atomics.or(a, CTX_ASID_MAP + (asid >>> 5), 1 << (asid & 31)) & (1 << (asid & 31))) !== 0;
}

/** find_next_zero_bit(asid_map, NUM_USER_ASIDS, from): NUM_USER_ASIDS when there is none. */
function findNextZeroBit(a: Int32Array, from: number): number {
  const n = numUserAsids(a);
  for (let asid = from; asid < n; asid++) if (!testBit(a, asid)) return asid;
  return n;
}

/** set_reserved_asid_bits without pinned ASIDs or KPTI: bitmap_clear. */
function setReservedAsidBits(a: Int32Array): void {
  schedPoint(Point.Asid);
  a.fill(0, CTX_ASID_MAP, CTX_ASID_MAP + Math.ceil(numUserAsids(a) / 32));
}

/**
 * flush_context, under cpu_asid_lock: the map keeps only the ASIDs CPUs are running (active, or
 * reserved when a CPU has not switched since the last rollover), and every CPU must flush its TLB
 * before it next takes an ASID.
 */
function flushContext(cpu: Cpu): void {
  const a = cpu.v.asids;
  setReservedAsidBits(a);
  for (let i = 0; i < cpu.v.nrCpus; i++) {
    schedPoint(Point.Asid);
    // atomic64_xchg_relaxed: totally ordered with the owner's fast-path xchg/cmpxchg
    let asid = Atomics.exchange(a, CTX_ACTIVE_ASIDS + i, 0);
    // this CPU has already been through a rollover but has not run another task: its reserved
    // ASID is the only trace of the mm it is still running
    if (asid === 0) asid = a[CTX_RESERVED_ASIDS + i];
    setBit(a, ctxid2asid(a, asid));
    a[CTX_RESERVED_ASIDS + i] = asid;
  }
  // cpumask_setall(&tlb_flush_pending)
  for (let i = 0; i < cpu.v.nrCpus; i++) atomicCpumaskSet(a, CTX_TLB_FLUSH_PENDING, i);
}

/**
 * check_update_reserved_asid: if some CPU reserved `asid`, it becomes `newasid` on every CPU that
 * did (the scan never stops early: 0ebea8088095), and the mm keeps it.
 */
function checkUpdateReservedAsid(v: MachineViews, asid: number, newasid: number): boolean {
  const a = v.asids;
  let hit = false;
  for (let i = 0; i < v.nrCpus; i++) {
    if (a[CTX_RESERVED_ASIDS + i] === asid) {
      hit = true;
      a[CTX_RESERVED_ASIDS + i] = newasid;
    }
  }
  return hit;
}

/** new_context, under cpu_asid_lock: an ASID of the current generation for `mm`. */
function newContext(cpu: Cpu, mm: number): number {
  const v = cpu.v;
  const a = v.asids;
  let asid = mmContextId(v, mm);
  let generation = Atomics.load(a, CTX_GENERATION);
  if (asid !== 0) {
    const newasid = ctxid2asid(a, asid) | generation;
    // our ASID was active during a rollover: we may go on using it
    if (checkUpdateReservedAsid(v, asid, newasid)) return newasid;
    // a valid ASID in a previous life: take it again if it is free
    if (!testAndSetBit(a, ctxid2asid(a, asid))) return newasid;
  }
  asid = findNextZeroBit(a, a[CTX_CUR_IDX]);
  if (asid === numUserAsids(a)) {
    // out of ASIDs: a new generation
    const step = numUserAsids(a);
    if (generation > 0x7fffffff - step) {
      throw new RangeError(`the ASID generation would wrap: ${asidBitsOf(a)}-bit ASIDs allow 2^${31 - asidBitsOf(a)} - 1 rollovers in one run`);
    }
    schedPoint(Point.Asid);
    generation = Atomics.add(a, CTX_GENERATION, step) + step;
    cpu.count(Counter.AsidRollovers);
    flushContext(cpu);
    // more ASIDs than CPUs: always one free now
    asid = findNextZeroBit(a, 1);
    if (asid === numUserAsids(a)) throw new Error('no free ASID after a rollover');
  }
  setBit(a, asid);
  a[CTX_CUR_IDX] = asid;
  return asid | generation;
}

/** local_flush_tlb_all: every entry of this CPU's TLB and walk caches, whatever its ASID. */
function localFlushTlbAll(cpu: Cpu): void {
  cpu.count(Counter.LocalFlushAll);
  cpu.count(Counter.TlbEntriesInvalidated, tlbFlushEverything(cpu.v.tlb, cpu.id));
}

/** cpumask_test_and_clear_cpu(cpu, &tlb_flush_pending) */
function testAndClearFlushPending(a: Int32Array, cpu: number): boolean {
  const bit = 1 << (cpu & 31);
  return (Atomics.and(a, CTX_TLB_FLUSH_PENDING + (cpu >>> 5), ~bit) & bit) !== 0;
}

/**
 * The fast path: keep the mm's ASID without the lock if its generation is current. Returns false
 * when the slow path must run.
 */
function fastPath(cpu: Cpu, asid: number): boolean {
  const a = cpu.v.asids;
  const active = CTX_ACTIVE_ASIDS + cpu.id;
  if (cpu.config.arm64AsidFastPath === 'cmpxchg') {
    const old = Atomics.load(a, active);
    if (old === 0 || !asidGenMatch(a, asid)) return false;
    cpu.raceWindow(KernelPoint.AsidFastPathChecked);
    schedPoint(Point.Asid);
    // atomic64_cmpxchg_relaxed returns what it found: old, or the 0 a rollover left
    return Atomics.compareExchange(a, active, old, asid) !== 0;
  }
  if (!asidGenMatch(a, asid)) return false;
  cpu.raceWindow(KernelPoint.AsidFastPathChecked);
  schedPoint(Point.Asid);
  // atomic64_xchg_relaxed: stores the ASID even when a rollover left 0 there
  return Atomics.exchange(a, active, asid) !== 0;
}

/**
 * check_and_switch_context, then cpu_switch_mm: `mm` runs on this CPU under its ASID, with IRQs
 * off throughout as in a context switch.
 */
// models arch/arm64/mm/context.c:check_and_switch_context
export function checkAndSwitchContext(cpu: Cpu, mm: number): void {
  const v = cpu.v;
  const a = v.asids;
  // __switch_mm to init_mm: cpu_set_reserved_ttbr0, no ASID of its own (ASID 0)
  if (mm === INIT_MM) {
    cpuSwitchMm(cpu, INIT_MM, 0);
    return;
  }
  const flags = cpu.localIrqSave();
  let asid = mmContextId(v, mm);
  if (fastPath(cpu, asid)) {
    cpu.count(Counter.AsidFastPath);
  } else {
    cpu.count(Counter.AsidSlowPath);
    cpu.raceWindow(KernelPoint.AsidSlowPath);
    spinLock(cpu, a, CTX_LOCK);
    // our ASID may be of an old generation: the lock orders us after any rollover
    asid = mmContextId(v, mm);
    if (!asidGenMatch(a, asid)) {
      asid = newContext(cpu, mm);
      Atomics.store(v.mm, mmBase(mm) + MM_CONTEXT_ID, asid);
    }
    if (testAndClearFlushPending(a, cpu.id)) localFlushTlbAll(cpu);
    schedPoint(Point.Asid);
    Atomics.store(a, CTX_ACTIVE_ASIDS + cpu.id, asid);
    spinUnlock(cpu, a, CTX_LOCK);
  }
  cpuSwitchMm(cpu, mm, ctxid2asid(a, asid));
  cpu.localIrqRestore(flags);
}

/** cpu_switch_mm: TTBR0 := the mm's PGD with its ASID. */
function cpuSwitchMm(cpu: Cpu, mm: number, asid: number): void {
  cpu.cr3 = mm === INIT_MM ? 0 : mmPgd(cpu.v, mm);
  cpu.pcid = asid;
  cpu.mm = mm;
  cpu.promiseIdx = promiseCountIndex(mm);
}

/**
 * The checker of the allocator's rule: pairs [mm, other] of live mms whose context.id is the same
 * ASID of the current generation. Exact when no CPU is inside the allocator (between runs, or
 * under cpu_asid_lock); mainline never has such a pair.
 */
export function mmsSharingAsid(v: MachineViews): [number, number][] {
  const byId = new Map<number, number>();
  const pairs: [number, number][] = [];
  for (let mm = 1; mm < MAX_MMS; mm++) {
    if (Atomics.load(v.mm, mmBase(mm) + MM_USERS) === 0) continue;
    const id = mmContextId(v, mm);
    if (id === 0 || !asidGenMatch(v.asids, id)) continue;
    const other = byId.get(id);
    if (other !== undefined) pairs.push([other, mm]);
    else byId.set(id, mm);
  }
  return pairs;
}

/** Runs `check` under cpu_asid_lock on `cpu` (test fixtures: the allocator holds still meanwhile). */
export function withAsidLock<T>(cpu: Cpu, check: () => T): T {
  const flags = cpu.localIrqSave();
  spinLock(cpu, cpu.v.asids, CTX_LOCK);
  try {
    return check();
  } finally {
    spinUnlock(cpu, cpu.v.asids, CTX_LOCK);
    cpu.localIrqRestore(flags);
  }
}
