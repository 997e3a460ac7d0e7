/*
 * x86 TLB flushing (arch/x86/mm/tlb.c).
 *
 * The rule: when flushTlbMmRange returns, no CPU that has the mm loaded (and is not lazy)
 * translates any address of the range through an entry filled before the call, and every other
 * CPU that uses the mm's ASID will flush before it next runs user code of the mm.
 *
 * Three generation counters make that cheap (STYLE 4):
 *   mm->context.tlb_gen          bumped by every flush request (incMmTlbGen)
 *   ctxs[asid].tlb_gen (local)   how far this CPU's entries under that ASID have caught up
 *   f->new_tlb_gen (request)     the mm's generation right after this request was made
 * Invariant: a CPU whose local generation equals the mm's holds no entry that any completed
 * request asked to remove. A request is applied as a ranged flush only when it is exactly the next
 * generation and also the newest (new == local + 1 == mm); otherwise another request was skipped
 * or overtaken, and only a full flush is safe. Example: CPUs A and B each flush one page of the
 * mm, generations 5 and 6, and the IPI for 6 arrives on C first. C sees request 6 with local 4:
 * applying only 6's page would leave 5's page cached while claiming generation 6, so C flushes
 * everything and records 6; request 5 then finds 5 <= 6 and does nothing.
 *
 * Who gets the IPI (switch lazyTlb). mainline (since 209954cbc7d0 and 6db2526c1d69, v6.14): a
 * CPU joins mm_cpumask when it switches to the mm and stays in it after switching away; a flush
 * that freed no tables IPIs only the CPUs of the mask that are not lazy and have the mm loaded
 * (should_flush_tlb), or are switching; one that freed tables IPIs the whole mask, and a CPU that
 * finds it runs another mm leaves the mask (flush_tlb_func). clear-at-switch, the rule before: a
 * CPU leaves the mask when it switches away, and every CPU of the mask that is not lazy is IPIed
 * (tlb_is_not_lazy). The once-a-second trim of mainline (should_trim_cpumask) is not modelled.
 *
 * API:
 *   switchMmIrqsOff      load an mm (or init_mm), catching up with its tlb_gen, PCID kept
 *   switchMm             the same with IRQs off around it
 *   enterLazyTlb         a kernel thread borrows the mm: stay loaded, stop receiving flushes
 *   flushTlbMmRange      flush a range of an mm everywhere it is loaded
 *   flushTlbFunc         the per-CPU part, run locally or from the IPI
 *   flushTlbAll          every entry of every PCID, global ones too, on every CPU
 *   archTlbbatchAddPending / archTlbbatchFlush   reclaim's batched unmap flush
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PERCPU_WORDS, TLBSTATE_BASE } from '../../cpu/percpu-layout.ts';
import { atomicCpumaskClear, atomicCpumaskSet, CpuMask } from '../../cpu/cpumask.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../../machine/phys-layout.ts';
import { tlbFlushEverything, tlbFlushPcid, tlbInvlpgPages } from '../../machine/tlb.ts';
import { PMD_SHIFT } from '../../machine/pagetable.ts';
import { incMmTlbGen, markMmTlbGenDone, mmCpumask, mmCpumaskIndex, mmCtxId, mmPgd, mmTlbGen } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { G_TLB_FLUSH_BATCHED_CPUMASK } from '../../machine/globals-layout.ts';
import { promiseCountIndex } from '../../check/promises.ts';
import { IpiFn, setCsdFlushInfo, type FlushTlbInfo } from '../../ipi/protocol.ts';
import { Counter } from '../../trace/counters.ts';
import { Ev, TlbFlushReason, traceEvent } from '../../trace/events.ts';
import { KernelPoint } from '../../kernel/points.ts';
import { TLB_FLUSH_ALL } from '../tlbflush.ts';
import { kvmFlushTlbMulti } from './kvm.ts';
import { TLB_NR_DYN_ASIDS, TS_CR3, TS_CTX_GEN, TS_CTX_ID, TS_IS_LAZY, TS_LOADED_ASID, TS_LOADED_MM, TS_NEXT_ASID, kernPcid } from './tlbstate-layout.ts';
import {
  INVLPGB_COUNT_MAX, considerGlobalAsid, invlpgbFlushAllNonglobals, invlpgbFlushSinglePcidNosync, invlpgbFlushUserNrNosync, isGlobalAsid,
  mmClearAsidTransition, mmGlobalAsid, mmInAsidTransition, mmNeedsGlobalAsid, tlbsync,
} from './broadcast.ts';

export { TLB_FLUSH_ALL };
export const TLB_GENERATION_INVALID = 0;
/** cpu_tlbstate.loaded_mm while switch_mm_irqs_off changes it: neither the old mm nor the new one */
const LOADED_MM_SWITCHING = -1;
/** tlb_single_page_flush_ceiling: a larger range is flushed whole. */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

const REASON_COUNTER = [
  Counter.TlbFlushOnTaskSwitch,
  Counter.TlbRemoteShootdown,
  Counter.TlbLocalShootdown,
  Counter.TlbLocalMmShootdown,
  Counter.TlbRemoteSendIpi,
];

/** trace_tlb_flush: the tracepoint, counted by reason. `pages` is TLB_FLUSH_ALL for a full flush. */
function traceTlbFlush(cpu: Cpu, reason: TlbFlushReason, pages: number, mm: number): void {
  cpu.count(REASON_COUNTER[reason]);
  traceEvent(cpu.v, cpu.id, Ev.TlbFlush, reason, pages, mm);
}

const ts = (cpu: Cpu, field: number): number => cpu.base + TLBSTATE_BASE + field;

export function loadedMm(cpu: Cpu): number {
  return cpu.v.percpu[ts(cpu, TS_LOADED_MM)];
}

export function loadedAsid(cpu: Cpu): number {
  return cpu.v.percpu[ts(cpu, TS_LOADED_ASID)];
}

export function isLazy(cpu: Cpu): boolean {
  return Atomics.load(cpu.v.percpu, ts(cpu, TS_IS_LAZY)) !== 0;
}

/** tlb_is_not_lazy's opposite, read on a remote CPU's shared TLB state. */
function remoteIsLazy(cpu: Cpu, other: number): boolean {
  return Atomics.load(cpu.v.percpu, other * PERCPU_WORDS + TLBSTATE_BASE + TS_IS_LAZY) !== 0;
}

/**
 * should_flush_tlb, or with switch lazyTlb=clear-at-switch tlb_is_not_lazy: whether a flush that
 * freed no page tables IPIs CPU `other` of the mask. A lazy CPU catches up when it switches back.
 * Under mainline's rule a CPU left in the mask by an earlier switch is skipped too, unless it is
 * in the middle of a switch: it may have read tlb_gen before this flush bumped it.
 */
// models arch/x86/mm/tlb.c:should_flush_tlb (v6.14, without the trim_cpumask case)
function shouldFlushTlb(cpu: Cpu, other: number, info: FlushTlbInfo): boolean {
  if (remoteIsLazy(cpu, other)) return false;
  if (cpu.config.lazyTlb === 'clear-at-switch' || info.mm < 0) return true;
  // pairs with switch_mm's store of LOADED_MM_SWITCHING before it joins the mask and reads tlb_gen
  const loaded = Atomics.load(cpu.v.percpu, other * PERCPU_WORDS + TLBSTATE_BASE + TS_LOADED_MM);
  return loaded === LOADED_MM_SWITCHING || loaded === info.mm;
}

/** ctxs[asid].tlb_gen: the generation this CPU's entries under `asid` have caught up to. */
function ctxTlbGen(cpu: Cpu, asid: number): number {
  return cpu.v.percpu[ts(cpu, TS_CTX_GEN + asid)];
}

function setCtx(cpu: Cpu, asid: number, ctxId: number, tlbGen: number): void {
  cpu.v.percpu[ts(cpu, TS_CTX_ID + asid)] = ctxId;
  // read by checkers on other CPUs: this CPU claims its entries under `asid` are this current
  Atomics.store(cpu.v.percpu, ts(cpu, TS_CTX_GEN + asid), tlbGen);
}

/** Sets up the TLB state at boot: init_mm loaded under ASID 0. */
export function initTlbState(cpu: Cpu): void {
  const p = cpu.v.percpu;
  for (let asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) setCtx(cpu, asid, 0, 0);
  p[ts(cpu, TS_NEXT_ASID)] = 1;
  Atomics.store(p, ts(cpu, TS_IS_LAZY), 0);
  setCtx(cpu, 0, mmCtxId(cpu.v, INIT_MM), 0);
  loadCr3(cpu, INIT_MM, 0);
}

function loadCr3(cpu: Cpu, mm: number, asid: number): void {
  const p = cpu.v.percpu;
  cpu.cr3 = mm === INIT_MM ? 0 : mmPgd(cpu.v, mm);
  cpu.pcid = kernPcid(asid);
  cpu.mm = mm;
  cpu.promiseIdx = promiseCountIndex(mm);
  p[ts(cpu, TS_CR3)] = cpu.cr3;
  Atomics.store(p, ts(cpu, TS_LOADED_MM), mm);
  Atomics.store(p, ts(cpu, TS_LOADED_ASID), asid);
}

/**
 * choose_new_asid: the mm's global ASID if it has one (broadcasts keep it current: no flush), else
 * the ASID slot already holding `next`, else the next slot round-robin.
 */
function chooseNewAsid(cpu: Cpu, next: number, nextTlbGen: number): { asid: number; needFlush: boolean } {
  const global = mmGlobalAsid(cpu, next);
  if (global !== 0) return { asid: global, needFlush: false };
  const ctxId = mmCtxId(cpu.v, next);
  const p = cpu.v.percpu;
  for (let asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
    if (p[ts(cpu, TS_CTX_ID + asid)] !== ctxId) continue;
    return { asid, needFlush: ctxTlbGen(cpu, asid) < nextTlbGen };
  }
  let asid = p[ts(cpu, TS_NEXT_ASID)]++;
  if (asid >= TLB_NR_DYN_ASIDS) {
    asid = 0;
    p[ts(cpu, TS_NEXT_ASID)] = 1;
  }
  return { asid, needFlush: true };
}

/**
 * switch_mm_irqs_off: make `next` the loaded mm. Joining mm_cpumask comes before reading
 * tlb_gen, so that a flush either sees this CPU in the mask or bumped tlb_gen before we read it:
 *
 *   this CPU (switch_mm)                  initiator (flush_tlb_mm_range)
 *   loaded_mm = LOADED_MM_SWITCHING       change PTEs
 *   cpumask_set_cpu(mm)                   inc_mm_tlb_gen
 *   read mm tlb_gen                       read mm_cpumask, then loaded_mm -> IPI
 *
 * With both sides seq-cst, at least one sees the other: we flush on catch-up, or get the IPI
 * (should_flush_tlb sees SWITCHING or the new mm, never the old one, once the bit is seen).
 * Switch lazyTlb: mainline leaves the old mm's mask bit set (flush_tlb_func clears it later);
 * clear-at-switch clears it here.
 */
// models arch/x86/mm/tlb.c:switch_mm_irqs_off
export function switchMmIrqsOff(cpu: Cpu, next: number): void {
  const v = cpu.v;
  const p = v.percpu;
  const prev = loadedMm(cpu);
  const prevAsid = loadedAsid(cpu);
  const wasLazy = isLazy(cpu);
  if (wasLazy) Atomics.store(p, ts(cpu, TS_IS_LAZY), 0);
  let asid: number;
  let needFlush: boolean;
  let nextTlbGen: number;
  if (prev === next && mmNeedsGlobalAsid(cpu, next, prevAsid)) {
    // the mm is moving to a global ASID: take it now
    nextTlbGen = mmTlbGen(v, next);
    ({ asid, needFlush } = chooseNewAsid(cpu, next, nextTlbGen));
  } else if (prev === next) {
    // broadcast invalidation keeps a global ASID up to date all the time
    if (isGlobalAsid(prevAsid) || !wasLazy) return;
    // back from lazy mode: flushes were not sent to us meanwhile, catch up if any happened
    nextTlbGen = mmTlbGen(v, next);
    if (ctxTlbGen(cpu, prevAsid) === nextTlbGen) return;
    asid = prevAsid;
    needFlush = true;
  } else {
    Atomics.store(p, ts(cpu, TS_LOADED_MM), LOADED_MM_SWITCHING);
    if (next !== INIT_MM) atomicCpumaskSet(v.mm, mmCpumaskIndex(next), cpu.id);
    nextTlbGen = mmTlbGen(v, next);
    ({ asid, needFlush } = chooseNewAsid(cpu, next, nextTlbGen));
    if (prev !== INIT_MM && cpu.config.lazyTlb === 'clear-at-switch') atomicCpumaskClear(v.mm, mmCpumaskIndex(prev), cpu.id);
    // the ASID is chosen and not loaded yet: a flusher that looks at this CPU now sees it
    // switching, not on the ASID it will run (finishAsidTransition). Only broadcast flushing has
    // a transition to get wrong here, so only there is it marked, and other kernels' noise and
    // schedules stay as they were.
    if (cpu.config.x86TlbFlush === 'invlpgb') cpu.raceWindow(KernelPoint.SwitchMmAsidChosen);
  }
  if (needFlush) {
    setCtx(cpu, asid, mmCtxId(v, next), nextTlbGen);
    // a CR3 write without NOFLUSH: the new PCID's stale entries go
    cpu.count(Counter.TlbEntriesInvalidated, tlbFlushPcid(v.tlb, cpu.id, kernPcid(asid)));
  }
  loadCr3(cpu, next, asid);
  traceEvent(v, cpu.id, Ev.SwitchMm, prev, next, needFlush ? 1 : 0);
  traceTlbFlush(cpu, TlbFlushReason.OnTaskSwitch, needFlush ? TLB_FLUSH_ALL : 0, next);
}

/** switch_mm: switchMmIrqsOff with IRQs off around it, as a context switch runs it. */
export function switchMm(cpu: Cpu, next: number): void {
  const flags = cpu.localIrqSave();
  switchMmIrqsOff(cpu, next);
  cpu.localIrqRestore(flags);
}

/**
 * enter_lazy_tlb: a kernel thread runs on the user mm's page tables. The CPU stays in
 * mm_cpumask but is skipped by flushes that free no page tables; it catches up when it returns.
 */
export function enterLazyTlb(cpu: Cpu): void {
  if (loadedMm(cpu) === INIT_MM) return;
  Atomics.store(cpu.v.percpu, ts(cpu, TS_IS_LAZY), 1);
}

/** flush_tlb_local: every non-global entry of the loaded PCID. */
function flushTlbLocal(cpu: Cpu): number {
  return tlbFlushPcid(cpu.v.tlb, cpu.id, cpu.pcid);
}

/** flush_tlb_func: the per-CPU part of a flush, IRQs off, locally or from the IPI. */
export function flushTlbFunc(cpu: Cpu, f: FlushTlbInfo): void {
  const v = cpu.v;
  const loaded = loadedMm(cpu);
  let asid = loadedAsid(cpu);
  const local = cpu.id === f.initiatingCpu;
  if (!local) cpu.count(Counter.NrTlbRemoteFlushReceived);

  // this CPU was left in the mm_cpumask of an mm it no longer runs
  if (f.mm >= 0 && f.mm !== loaded) {
    atomicCpumaskClear(v.mm, mmCpumaskIndex(f.mm), cpu.id);
    return;
  }
  if (loaded === INIT_MM) return;

  // lazy: the user mm's entries are not in use; dropping the mm is as cheap as flushing it, and
  // also stops speculative walks through page tables that may be freed
  if (isLazy(cpu)) {
    switchMmIrqsOff(cpu, INIT_MM);
    return;
  }

  // the mm is moving to a global ASID (finish_asid_transition's IPI): take it
  if (mmNeedsGlobalAsid(cpu, loaded, asid)) {
    switchMmIrqsOff(cpu, loaded);
    asid = loadedAsid(cpu);
  }
  // broadcast invalidation keeps a global ASID up to date: no generation to catch up with
  if (isGlobalAsid(asid)) return;

  const localTlbGen = ctxTlbGen(cpu, asid);
  // already up to date with respect to this request
  if (f.newTlbGen !== TLB_GENERATION_INVALID && f.newTlbGen <= localTlbGen) return;

  const mmGen = mmTlbGen(v, loaded);
  let nrInvalidate = 0;
  if (localTlbGen !== mmGen) {
    if (f.end !== TLB_FLUSH_ALL && f.newTlbGen === localTlbGen + 1 && f.newTlbGen === mmGen) {
      // exactly the next generation and the newest one: a partial flush is enough
      const step = f.strideShift > PAGE_SHIFT ? strideBytes(f.strideShift - PAGE_SHIFT) : 1;
      const startVpn = (f.start / PAGE_SIZE) | 0;
      const endVpn = Math.ceil(f.end / PAGE_SIZE);
      nrInvalidate = Math.ceil((endVpn - startVpn) / step);
      cpu.count(Counter.TlbEntriesInvalidated, tlbInvlpgPages(v.tlb, cpu.id, startVpn, endVpn, step, cpu.pcid));
      cpu.count(Counter.TlbFlushesRanged);
      cpu.count(Counter.Invlpg, nrInvalidate);
      if (local) cpu.count(Counter.NrTlbLocalFlushOne, nrInvalidate);
    } else {
      nrInvalidate = TLB_FLUSH_ALL;
      cpu.count(Counter.TlbEntriesInvalidated, flushTlbLocal(cpu));
      cpu.count(Counter.TlbFlushesFull);
      // seed 000 patch 20: a full flush completes this CPU's share of every batched unmap
      if (cpu.config.batchedPending === 'cpumask') atomicCpumaskClear(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK, cpu.id);
      if (local) cpu.count(Counter.NrTlbLocalFlushAll);
    }
    // both paths bring this CPU up to the generation read before flushing
    setCtx(cpu, asid, mmCtxId(v, loaded), mmGen);
  }
  traceTlbFlush(
    cpu,
    !local ? TlbFlushReason.RemoteShootdown : f.mm < 0 ? TlbFlushReason.LocalShootdown : TlbFlushReason.LocalMmShootdown,
    nrInvalidate,
    loaded,
  );
}

/**
 * native_flush_tlb_multi: IPI every CPU of `cpumask` when page tables were freed or the mm is
 * moving to a global ASID, else those shouldFlushTlb picks, running the local part too when this
 * CPU is in the mask. Returns when all have flushed.
 */
function flushTlbMulti(cpu: Cpu, cpumask: CpuMask, info: FlushTlbInfo): number {
  // pv_ops.mmu.flush_tlb_multi in a KVM guest: preempted vCPUs are left to the host (kvm.ts)
  if (cpu.config.x86TlbFlush === 'kvm-pv') cpumask = kvmFlushTlbMulti(cpu, cpumask);
  cpu.count(Counter.NrTlbRemoteFlush);
  traceTlbFlush(cpu, TlbFlushReason.RemoteSendIpi, info.end === TLB_FLUSH_ALL ? TLB_FLUSH_ALL : (info.end - info.start) / PAGE_SIZE, info.mm);
  const targets = new CpuMask();
  // freed tables: every CPU that may cache a pointer to them, lazy or not, must flush now
  const all = info.freedTables || (info.mm >= 0 && mmInAsidTransition(cpu, info.mm));
  for (let c = cpumask.next(-1); c >= 0; c = cpumask.next(c)) {
    if (all || c === cpu.id || shouldFlushTlb(cpu, c, info)) targets.set(c);
  }
  setCsdFlushInfo(cpu.v, cpu.id, info);
  return cpu.fabric.smpCallFunctionMany(cpu, targets, IpiFn.FlushTlbFunc, targets.test(cpu.id));
}

/** 1 << shift for the strides of flushes up to P4D_SHIFT; 2 ** shift costs tens of ns in V8. */
function strideBytes(shift: number): number {
  return shift < 31 ? 1 << shift : 2 ** shift;
}

/** inc_mm_tlb_gen, logged with the generation it made (trace/events.ts Ev.TlbGen). */
function bumpTlbGen(cpu: Cpu, mm: number): number {
  const gen = incMmTlbGen(cpu.v, mm);
  traceEvent(cpu.v, cpu.id, Ev.TlbGen, mm, gen);
  return gen;
}

/**
 * finish_asid_transition: while the mm is moving to its global ASID, the broadcast reaches only
 * the CPUs already on it; any CPU of mm_cpumask still running the mm on a per-CPU ASID gets the
 * flush by IPI (which moves it over). A CPU in the middle of switch_mm is waited for, lest it
 * load the mm on an out-of-date ASID unseen. Once every CPU running the mm is on the global ASID,
 * the transition is over. Returns the IPIs sent.
 */
// models arch/x86/mm/tlb.c:finish_asid_transition
function finishAsidTransition(cpu: Cpu, info: FlushTlbInfo): number {
  const mm = info.mm;
  if (!mmInAsidTransition(cpu, mm)) return 0;
  const global = mmGlobalAsid(cpu, mm);
  const p = cpu.v.percpu;
  const mask = mmCpumask(cpu.v, mm);
  for (let c = mask.next(-1); c >= 0; c = mask.next(c)) {
    const ts = c * PERCPU_WORDS + TLBSTATE_BASE;
    let loaded = Atomics.load(p, ts + TS_LOADED_MM);
    if (loaded === LOADED_MM_SWITCHING) {
      cpu.passPoint(KernelPoint.AsidTransitionSwitching);
      // asidTransition=no-switching-wait: the switching CPU counts as one that does not run the
      // mm, though it may be about to load it on the per-CPU ASID it chose before the global one
      if (cpu.config.asidTransition === 'mainline') {
        cpu.fabric.idleUntil(cpu, () => Atomics.load(p, ts + TS_LOADED_MM) !== LOADED_MM_SWITCHING);
        loaded = Atomics.load(p, ts + TS_LOADED_MM);
      }
    }
    if (loaded !== mm) continue;
    if (Atomics.load(p, ts + TS_LOADED_ASID) !== global) return flushTlbMulti(cpu, mask, info);
  }
  mmClearAsidTransition(cpu, mm);
  return 0;
}

/**
 * broadcast_tlb_flush: the range of an mm with a global ASID as INVLPGBs, at most
 * INVLPGB_COUNT_MAX pages (or 2 MiB strides) each, or one for the whole PCID; then the
 * transition's IPIs if it is not over, then TLBSYNC. Returns the IPIs sent.
 */
// models arch/x86/mm/tlb.c:broadcast_tlb_flush
function broadcastTlbFlush(cpu: Cpu, info: FlushTlbInfo): number {
  const pcid = kernPcid(mmGlobalAsid(cpu, info.mm));
  if (info.end === TLB_FLUSH_ALL) {
    invlpgbFlushSinglePcidNosync(cpu, pcid);
  } else {
    const stride = strideBytes(info.strideShift);
    for (let addr = info.start; addr < info.end; ) {
      const nr = info.strideShift <= PMD_SHIFT ? Math.min(Math.max(Math.floor((info.end - addr) / stride), 1), INVLPGB_COUNT_MAX) : 1;
      invlpgbFlushUserNrNosync(cpu, pcid, addr, nr, info.strideShift === PMD_SHIFT);
      addr += nr * stride;
    }
  }
  const ipied = finishAsidTransition(cpu, info);
  tlbsync(cpu);
  return ipied;
}

/**
 * flush_tlb_mm_range: after changing PTEs of `mm` in [start, end), make every CPU drop its
 * translations of them. Ranges over TLB_SINGLE_PAGE_FLUSH_CEILING pages become full flushes.
 * When this returns, the postcondition at the top of this file holds. Returns how many other CPUs
 * it IPIed.
 */
export function flushTlbMmRange(cpu: Cpu, mm: number, start: number, end: number, strideShift = PAGE_SHIFT, freedTables = false): number {
  if (end === TLB_FLUSH_ALL || (end - start) / strideBytes(strideShift) > TLB_SINGLE_PAGE_FLUSH_CEILING) {
    start = 0;
    end = TLB_FLUSH_ALL;
  }
  // also the barrier that pairs with switch_mm's read of tlb_gen
  const newTlbGen = bumpTlbGen(cpu, mm);
  const info: FlushTlbInfo = { mm, start, end, strideShift, freedTables, newTlbGen, initiatingCpu: cpu.id };
  const cpumask = mmCpumask(cpu.v, mm);
  let ipied = 0;
  if (mmGlobalAsid(cpu, mm) !== 0) {
    ipied = broadcastTlbFlush(cpu, info);
  } else if (cpumask.anyBut(cpu.id)) {
    ipied = flushTlbMulti(cpu, cpumask, info);
    considerGlobalAsid(cpu, mm);
  } else if (mm === loadedMm(cpu)) {
    cpu.localIrqDisable();
    flushTlbFunc(cpu, info);
    cpu.localIrqEnable();
  }
  // seed 000 patch 08: every CPU that could use the mm is at newTlbGen or beyond
  markMmTlbGenDone(cpu.v, mm, newTlbGen);
  return ipied;
}

/**
 * tlb_table_flush_implies_ipi_broadcast (seed 001, posted, not in mainline): whether the flush
 * that came before a tlb_remove_table_sync_one interrupted every CPU that could be in GUP-fast on
 * the mm. Such a CPU runs the mm (GUP-fast walks current->mm only), so it is in mm_cpumask, not
 * lazy, and native_flush_tlb_multi IPIs it; the IPI waits for its IRQs to come on. True only for
 * native IPI flushes: an INVLPGB interrupts no one, and a paravirt flush skips a preempted vCPU,
 * which may be inside GUP-fast with IRQs off (kvm.ts; the patch's pv_ops check and its
 * !X86_FEATURE_INVLPGB).
 */
// models arch/x86/include/asm/tlb.h:tlb_table_flush_implies_ipi_broadcast (seed 001 patch 2)
export function tlbTableFlushImpliesIpiBroadcast(cpu: Cpu): boolean {
  return cpu.config.x86TlbFlush === 'ipi';
}

/** do_flush_tlb_all: everything, global entries included. */
export function doFlushTlbAll(cpu: Cpu): void {
  cpu.count(Counter.NrTlbLocalFlushAll);
  cpu.count(Counter.TlbEntriesInvalidated, tlbFlushEverything(cpu.v.tlb, cpu.id));
}

/** flush_tlb_all: do_flush_tlb_all on every online CPU. */
export function flushTlbAll(cpu: Cpu): void {
  cpu.count(Counter.NrTlbRemoteFlush);
  const all = new CpuMask();
  for (let c = 0; c < cpu.v.nrCpus; c++) all.set(c);
  cpu.fabric.smpCallFunctionMany(cpu, all, IpiFn.DoFlushTlbAll, true);
}

/** struct arch_tlbflush_unmap_batch: the CPUs that may cache what reclaim unmapped, and whether it unmapped any page. */
export class ArchTlbflushUnmapBatch {
  readonly cpumask = new CpuMask();
  unmappedPages = false;
}

/**
 * arch_tlbbatch_add_pending: a new generation for the mm, its CPUs added to the batch. The new
 * generation is what makes a CPU that switched away from the mm flush when it comes back; switch
 * deferredFlushGen=reuse skips it (the bug found in review of seed 000 patch 15). Returns the
 * generation the deferred flush stands for.
 */
export function archTlbbatchAddPending(cpu: Cpu, batch: ArchTlbflushUnmapBatch, mm: number): number {
  const gen = cpu.config.deferredFlushGen === 'bump' ? bumpTlbGen(cpu, mm) : mmTlbGen(cpu.v, mm);
  batch.cpumask.or(mmCpumask(cpu.v, mm));
  batch.unmappedPages = true;
  return gen;
}

/**
 * arch_tlbbatch_flush: one full flush on every CPU in the batch, then the batch is empty. With
 * INVLPGB, one broadcast of every non-global entry of every PCID instead, and a TLBSYNC: global
 * ASIDs must be current also on CPUs that are not running their mm (0b7eb55cb706).
 */
export function archTlbbatchFlush(cpu: Cpu, batch: ArchTlbflushUnmapBatch): void {
  const info: FlushTlbInfo = { mm: -1, start: 0, end: TLB_FLUSH_ALL, strideShift: 0, freedTables: false, newTlbGen: TLB_GENERATION_INVALID, initiatingCpu: cpu.id };
  if (cpu.config.x86TlbFlush === 'invlpgb' && cpu.config.tlbbatchFlush === 'broadcast' && batch.unmappedPages) {
    invlpgbFlushAllNonglobals(cpu);
    batch.unmappedPages = false;
  } else if (batch.cpumask.anyBut(cpu.id)) {
    flushTlbMulti(cpu, batch.cpumask, info);
  } else if (batch.cpumask.test(cpu.id)) {
    cpu.localIrqDisable();
    flushTlbFunc(cpu, info);
    cpu.localIrqEnable();
  }
  batch.cpumask.clearAll();
}
