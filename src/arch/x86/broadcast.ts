/*
 * Broadcast TLB invalidation on x86 (switch x86TlbFlush=invlpgb): global ASIDs and the kernel's
 * INVLPGB and TLBSYNC helpers (arch/x86/mm/tlb.c and arch/x86/include/asm/tlb.h as merged for
 * v6.15: b7aa05cbdc52, d504d1247e36, 4afeb0ed1753, 72a920eacd8a, 0b7eb55cb706). flush.ts decides
 * when to use them.
 *
 * INVLPGB names a PCID, and a CPU's dynamic ASIDs (0 .. TLB_NR_DYN_ASIDS - 1) map an mm to a
 * different PCID on every CPU; so only an mm with a *global* ASID, the same PCID on every CPU, can
 * be flushed by broadcast. The rule for handing one out: an mm that more than three CPUs run at
 * once (mm_active_cpus_exceeds), looked at now and then (consider_global_asid, after a flush that
 * had to IPI). From then on the mm's flushes are INVLPGBs and a TLBSYNC, and a CPU that switches
 * to it never flushes on the way in: the broadcasts keep its entries up to date, also on CPUs
 * that are not running it.
 *
 * The transition: CPUs already running the mm keep their per-CPU ASID until they switch or take a
 * flush IPI. mm->context.asid_transition stays set until the flusher has seen every CPU of
 * mm_cpumask that runs the mm on the global ASID (finish_asid_transition, flush.ts); until then
 * each broadcast flush also IPIs the CPUs of the mask.
 *
 * Reuse: a global ASID freed with its mm (destroy_context_free_global_asid) may still tag entries
 * in every CPU's TLB. It is handed out again only after the allocator has wrapped around, which
 * flushes every non-global entry of every PCID on every CPU first (reset_global_asid_space).
 *
 * API:
 *   isGlobalAsid, mmGlobalAsid, mmNeedsGlobalAsid, mmInAsidTransition, mmClearAsidTransition
 *   considerGlobalAsid(cpu, mm)            the periodic check after an IPI flush
 *   useGlobalAsid(cpu, mm)                 what it does when the check passes
 *   destroyContextFreeGlobalAsid(cpu, mm)  at exit_mmap
 *   invlpgbFlushUserNrNosync, invlpgbFlushSinglePcidNosync, tlbsync
 *   invlpgbFlushAllNonglobals(cpu)         every non-global entry everywhere, then TLBSYNC
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { ALL_NONGLOBAL, WHOLE_PCID, invlpgbPost, invlpgbRingFull, tlbsyncDone } from '../../machine/tlbi-broadcast.ts';
import { PERCPU_WORDS, TLBSTATE_BASE } from '../../cpu/percpu-layout.ts';
import { MM_ASID_TRANSITION, MM_GLOBAL_ASID } from '../../kernel/mm-layout.ts';
import { mmBase, mmCpumask } from '../../kernel/mm.ts';
import { spinLock, spinUnlock } from '../../kernel/locks.ts';
import { Counter } from '../../trace/counters.ts';
import { GA_AVAILABLE, GA_FREED, GA_LAST, GA_LOCK, GA_USED, MAX_ASID_AVAILABLE, TLB_NR_DYN_ASIDS, TS_IS_LAZY, TS_LOADED_MM } from './tlbstate-layout.ts';

/** invlpgb_count_max: CPUID 0x80000008 EDX[15:0] + 1, the pages one INVLPGB may name (Zen 3 and later: 8). */
export const INVLPGB_COUNT_MAX = 8;

/** mm_active_cpus_exceeds' threshold in consider_global_asid: four CPUs or more */
const GLOBAL_ASID_THRESHOLD = 3;

export function isGlobalAsid(asid: number): boolean {
  return asid >= TLB_NR_DYN_ASIDS;
}

/** mm_global_asid: 0, or the ASID `mm` has on every CPU. Always 0 without INVLPGB. */
export function mmGlobalAsid(cpu: Cpu, mm: number): number {
  return cpu.config.x86TlbFlush === 'invlpgb' ? globalAsidOf(cpu.v, mm) : 0;
}

/** context.global_asid as the mm holds it, for checkers on any thread (0 on a kernel without INVLPGB). */
export function globalAsidOf(v: MachineViews, mm: number): number {
  // pairs with the store in assignMmGlobalAsid: asid_transition is seen set once this is seen
  return Atomics.load(v.mm, mmBase(mm) + MM_GLOBAL_ASID);
}

/** mm_needs_global_asid: `mm` has a global ASID and `asid` (what this CPU runs it on) is not it. */
export function mmNeedsGlobalAsid(cpu: Cpu, mm: number, asid: number): boolean {
  const global = mmGlobalAsid(cpu, mm);
  return global !== 0 && asid !== global;
}

export function mmInAsidTransition(cpu: Cpu, mm: number): boolean {
  return mmGlobalAsid(cpu, mm) !== 0 && Atomics.load(cpu.v.mm, mmBase(mm) + MM_ASID_TRANSITION) !== 0;
}

export function mmClearAsidTransition(cpu: Cpu, mm: number): void {
  Atomics.store(cpu.v.mm, mmBase(mm) + MM_ASID_TRANSITION, 0);
}

function assignMmGlobalAsid(cpu: Cpu, mm: number, asid: number): void {
  Atomics.store(cpu.v.mm, mmBase(mm) + MM_ASID_TRANSITION, 1);
  Atomics.store(cpu.v.mm, mmBase(mm) + MM_GLOBAL_ASID, asid);
}

/** Sets up the allocator at boot: nothing used, the search at the end so that the first one wraps. */
export function initGlobalAsids(asids: Int32Array): void {
  asids[GA_LAST] = MAX_ASID_AVAILABLE;
  asids[GA_AVAILABLE] = MAX_ASID_AVAILABLE - TLB_NR_DYN_ASIDS - 1;
}

const testBit = (a: Int32Array, base: number, bit: number): boolean => (a[base + (bit >>> 5)] & (1 << (bit & 31))) !== 0;
const setBit = (a: Int32Array, base: number, bit: number): void => void (a[base + (bit >>> 5)] |= 1 << (bit & 31));

/**
 * reset_global_asid_space, under global_asid_lock: flush every non-global entry everywhere, after
 * which the ASIDs freed since the last reset are safe to hand out again.
 */
function resetGlobalAsidSpace(cpu: Cpu): void {
  const a = cpu.v.asids;
  invlpgbFlushAllNonglobals(cpu);
  for (let w = GA_USED; w < GA_FREED; w++) {
    a[w] &= ~a[w - GA_USED + GA_FREED];
    a[w - GA_USED + GA_FREED] = 0;
  }
  a[GA_LAST] = TLB_NR_DYN_ASIDS;
  cpu.count(Counter.GlobalAsidSpaceResets);
}

/** allocate_global_asid, under global_asid_lock; 0 when none is left. */
function allocateGlobalAsid(cpu: Cpu): number {
  const a = cpu.v.asids;
  // the previous allocation hit the end of the space
  if (a[GA_LAST] >= MAX_ASID_AVAILABLE - 1) resetGlobalAsidSpace(cpu);
  let asid = a[GA_LAST];
  while (asid < MAX_ASID_AVAILABLE && testBit(a, GA_USED, asid)) asid++;
  if (asid >= MAX_ASID_AVAILABLE) return 0;
  setBit(a, GA_USED, asid);
  a[GA_LAST] = asid;
  a[GA_AVAILABLE]--;
  return asid;
}

/** mm_active_cpus_exceeds: more than `threshold` CPUs have `mm` loaded and are not lazy. */
function mmActiveCpusExceeds(cpu: Cpu, mm: number, threshold: number): boolean {
  const mask = mmCpumask(cpu.v, mm);
  if (mask.weight() <= threshold) return false;
  let count = 0;
  for (let c = mask.next(-1); c >= 0; c = mask.next(c)) {
    const ts = c * PERCPU_WORDS + TLBSTATE_BASE;
    if (Atomics.load(cpu.v.percpu, ts + TS_LOADED_MM) !== mm || Atomics.load(cpu.v.percpu, ts + TS_IS_LAZY) !== 0) continue;
    if (++count > threshold) return true;
  }
  return false;
}

/** use_global_asid: gives `mm` a global ASID unless another thread of it did meanwhile. */
export function useGlobalAsid(cpu: Cpu, mm: number): void {
  const a = cpu.v.asids;
  const flags = cpu.localIrqSave();
  spinLock(cpu, a, GA_LOCK);
  if (mmGlobalAsid(cpu, mm) === 0 && a[GA_AVAILABLE] > 0) {
    const asid = allocateGlobalAsid(cpu);
    if (asid !== 0) {
      assignMmGlobalAsid(cpu, mm, asid);
      cpu.count(Counter.GlobalAsidsAssigned);
    }
  }
  spinUnlock(cpu, a, GA_LOCK);
  cpu.localIrqRestore(flags);
}

/**
 * consider_global_asid: now and then, give `mm` a global ASID if four CPUs or more run it. Mainline
 * looks when the task's PID and jiffies agree in their low five bits; here one time in 32 on
 * average, from this CPU's seeded stream.
 */
export function considerGlobalAsid(cpu: Cpu, mm: number): void {
  if (cpu.config.x86TlbFlush !== 'invlpgb') return;
  if ((cpu.random() & 0x1f) !== 0) return;
  if (mmActiveCpusExceeds(cpu, mm, GLOBAL_ASID_THRESHOLD)) useGlobalAsid(cpu, mm);
}

/** destroy_context_free_global_asid: the ASID is reusable after the next reset of the space. */
export function destroyContextFreeGlobalAsid(cpu: Cpu, mm: number): void {
  const asid = mmGlobalAsid(cpu, mm);
  if (asid === 0) return;
  const a = cpu.v.asids;
  const flags = cpu.localIrqSave();
  spinLock(cpu, a, GA_LOCK);
  setBit(a, GA_FREED, asid);
  Atomics.store(cpu.v.mm, mmBase(mm) + MM_GLOBAL_ASID, 0);
  a[GA_AVAILABLE]++;
  spinUnlock(cpu, a, GA_LOCK);
  cpu.localIrqRestore(flags);
}

/** One INVLPGB, after making room in this CPU's ring if it is full. */
function invlpgb(cpu: Cpu, pcid: number, startVpn: number, pages: number, stride: number): void {
  if (invlpgbRingFull(cpu.v, cpu.id)) cpu.fabric.hardwareWait(cpu, () => !invlpgbRingFull(cpu.v, cpu.id));
  cpu.count(Counter.Invlpgb);
  cpu.count(Counter.TlbEntriesInvalidated, invlpgbPost(cpu.v, cpu.id, pcid, startVpn, pages, stride));
}

/** invlpgb_flush_user_nr_nosync: `nr` pages (of 4 KiB, or 2 MiB with `pmdStride`) of `pcid` from `addr`. */
export function invlpgbFlushUserNrNosync(cpu: Cpu, pcid: number, addr: number, nr: number, pmdStride: boolean): void {
  const stride = pmdStride ? 512 : 1;
  cpu.count(Counter.InvlpgbPages, nr);
  invlpgb(cpu, pcid, (addr / PAGE_SIZE) | 0, nr, stride);
}

/** invlpgb_flush_single_pcid_nosync: every non-global entry of `pcid`. */
export function invlpgbFlushSinglePcidNosync(cpu: Cpu, pcid: number): void {
  invlpgb(cpu, pcid, WHOLE_PCID, 0, 1);
}

/** __tlbsync: waits until every INVLPGB this CPU issued has completed on every CPU. */
export function tlbsync(cpu: Cpu): void {
  cpu.count(Counter.Tlbsync);
  if (tlbsyncDone(cpu.v, cpu.id)) return;
  cpu.count(Counter.TlbsyncWaits);
  cpu.fabric.hardwareWait(cpu, () => tlbsyncDone(cpu.v, cpu.id));
}

/** invlpgb_flush_all_nonglobals: every non-global entry of every PCID on every CPU, synchronously. */
export function invlpgbFlushAllNonglobals(cpu: Cpu): void {
  invlpgb(cpu, ALL_NONGLOBAL, WHOLE_PCID, 0, 1);
  tlbsync(cpu);
}
