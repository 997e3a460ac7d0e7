/*
 * A KVM guest's paravirtual TLB flush (arch/x86/kernel/kvm.c: kvm_flush_tlb_multi) and the host's
 * half of it (arch/x86/kvm/x86.c: kvm_steal_time_set_preempted, record_steal_time), under switch
 * x86TlbFlush=kvm-pv.
 *
 * The rule: a flush may leave out a vCPU only when the vCPU will flush its whole TLB before it
 * runs guest code again. A vCPU the host has preempted runs no guest code, so instead of an IPI
 * that it could take only once the host runs it again (and that the initiator would wait for),
 * the flush asks the host to flush on its behalf, and returns at once:
 *
 *   host, preempting vCPU B               initiator A (kvm_flush_tlb_multi)
 *   preempted = KVM_VCPU_PREEMPTED        change PTEs; bump tlb_gen
 *   B's thread stops (IRQs as they were)  state = READ_ONCE(B.preempted)
 *                                         state & PREEMPTED: cmpxchg(state -> state | FLUSH_TLB)
 *                                           success: B leaves the mask, no IPI
 *                                         native_flush_tlb_multi(the rest)
 *   host, resuming B (record_steal_time)
 *   xchg(preempted, 0) & FLUSH_TLB:
 *     flush B's guest TLB, every PCID
 *   B runs guest code
 *
 * The cmpxchg pairs with the host's xchg: either the initiator's cmpxchg comes first and the
 * host's xchg returns FLUSH_TLB (B flushes before it runs), or the xchg comes first and the
 * cmpxchg fails on the 0 it left (B is IPIed as on bare metal). What the vCPU was doing when it
 * was preempted does not matter to the TLB, and that is the catch: a vCPU preempted inside
 * GUP-fast, IRQs off, still walks the page tables when it runs again, after the flush returned
 * without waiting for it. Only an IPI that it takes once its IRQs are back on (the sync IPI,
 * tlb_remove_table_sync_one, which smp_call_function sends to every CPU, preempted or not) waits
 * for that walk. Seed 001's skip of the sync IPI after a flush that "interrupted everyone" is
 * wrong here, which its posted rule (tlb_table_flush_implies_ipi_broadcast false when
 * pv_ops.mmu.flush_tlb_multi is not the native one) keeps from happening.
 *
 * The host's preemption is the run's decision, never the guest's: in a free run the CPU's seeded
 * noise stream preempts it at a race window or an interrupt point (cpu/cpu.ts, with IRQs off
 * too), for a longer nap than a noise nap; in a controlled run (schedule/baton.ts) it preempts
 * at those same points and the scheduler decides how long the vCPU stays off (it parks at
 * scheduling points until the host's own draw lets it run).
 *
 * Shared words (cpu/percpu-layout.ts): KVM_STEAL_PREEMPTED, steal_time.preempted, on the
 * doorbell line that initiators write; and on the status line the host's record for the flush
 * postcondition (check/flush-postcondition.ts), which the guest never reads:
 * ST_HOST_RESUME_SEQ (odd while the host resumes the vCPU), ST_HOST_FLUSH_MM and
 * ST_HOST_FLUSH_GEN (the mm loaded when the host last flushed the vCPU's TLB, and its tlb_gen
 * read after the xchg: every flush the host's flush stood for had bumped it that far).
 *
 * API:
 *   kvmGuestInit            at boot of each run: the host hook on the CPU when x86TlbFlush=kvm-pv
 *   kvmFlushTlbMulti        the PV half of flush_tlb_multi: the CPUs left to IPI
 *   hostFlushCovers         for checkers: whether the host flushed, or will flush, a CPU after a
 *                           given generation of an mm
 */
import type { Cpu, HostVcpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { KVM_STEAL_PREEMPTED, PERCPU_WORDS, ST_HOST_FLUSH_GEN, ST_HOST_FLUSH_MM, ST_HOST_RESUME_SEQ } from '../../cpu/percpu-layout.ts';
import { CpuMask } from '../../cpu/cpumask.ts';
import { tlbFlushEverything } from '../../machine/tlb.ts';
import { mmTlbGen } from '../../kernel/mm.ts';
import { Counter } from '../../trace/counters.ts';

/** include/uapi/asm/kvm_para.h: the bits of kvm_steal_time.preempted */
export const KVM_VCPU_PREEMPTED = 1 << 0;
export const KVM_VCPU_FLUSH_TLB = 1 << 1;

const steal = (cpu: number): number => cpu * PERCPU_WORDS + KVM_STEAL_PREEMPTED;

/**
 * The host's side of one vCPU: what KVM does when it schedules the vCPU's thread out and back in.
 * Runs on the vCPU's own worker thread (the host acts while the guest does not run).
 */
const host: HostVcpu = {
  // models arch/x86/kvm/x86.c:kvm_steal_time_set_preempted (from kvm_arch_vcpu_put)
  put(cpu: Cpu): void {
    cpu.count(Counter.HostPreemptions);
    // pairs with the initiators' cmpxchg: from here a flush may leave this vCPU to the host
    Atomics.store(cpu.v.percpu, steal(cpu.id), KVM_VCPU_PREEMPTED);
  },

  // models arch/x86/kvm/x86.c:record_steal_time (vcpu_enter_guest, KVM_REQ_STEAL_UPDATE)
  load(cpu: Cpu): void {
    const p = cpu.v.percpu;
    const at = cpu.base;
    // the postcondition's seqcount, as steal_time.version: odd until the flush below is done
    Atomics.add(p, at + ST_HOST_RESUME_SEQ, 1);
    // pairs with the initiators' cmpxchg: a FLUSH_TLB set before this is ours to honour; after
    // it, their cmpxchg fails on the 0 and they IPI us
    if ((Atomics.exchange(p, steal(cpu.id), 0) & KVM_VCPU_FLUSH_TLB) !== 0) {
      // kvm_vcpu_flush_tlb_guest: every entry of every PCID, paging-structure caches included
      cpu.count(Counter.HostTlbFlushes);
      cpu.count(Counter.TlbEntriesInvalidated, tlbFlushEverything(cpu.v.tlb, cpu.id));
      Atomics.store(p, at + ST_HOST_FLUSH_MM, cpu.mm);
      Atomics.store(p, at + ST_HOST_FLUSH_GEN, mmTlbGen(cpu.v, cpu.mm));
    }
    Atomics.add(p, at + ST_HOST_RESUME_SEQ, 1);
  },
};

/**
 * kvm_guest_init's choice of pv_ops.mmu.flush_tlb_multi (with KVM_FEATURE_PV_TLB_FLUSH and
 * steal time): the host preempts this vCPU only in a guest that flushes paravirtually; the
 * steal-time word starts clear.
 */
// models arch/x86/kernel/kvm.c:kvm_guest_init (pv_tlb_flush_supported)
export function kvmGuestInit(cpu: Cpu): void {
  const p = cpu.v.percpu;
  Atomics.store(p, steal(cpu.id), 0);
  Atomics.store(p, cpu.base + ST_HOST_RESUME_SEQ, 0);
  Atomics.store(p, cpu.base + ST_HOST_FLUSH_MM, -1);
  cpu.setHostVcpu(cpu.config.x86TlbFlush === 'kvm-pv' ? host : null);
}

/**
 * kvm_flush_tlb_multi's own part: every CPU of `cpumask` other than this one that the host has
 * preempted is handed to the host (KVM_VCPU_FLUSH_TLB) and left out. Returns the CPUs still to
 * flush natively; `cpumask` is not changed (the kernel copies it to its per-CPU flushmask).
 */
// models arch/x86/kernel/kvm.c:kvm_flush_tlb_multi
export function kvmFlushTlbMulti(cpu: Cpu, cpumask: CpuMask): CpuMask {
  const p = cpu.v.percpu;
  const flushmask = new CpuMask().or(cpumask);
  for (let c = cpumask.next(-1); c >= 0; c = cpumask.next(c)) {
    if (c === cpu.id) continue;
    // READ_ONCE(src->preempted); the cmpxchg below re-checks it against the host's xchg
    const state = Atomics.load(p, steal(c));
    if ((state & KVM_VCPU_PREEMPTED) === 0) continue;
    if (Atomics.compareExchange(p, steal(c), state, state | KVM_VCPU_FLUSH_TLB) === state) {
      flushmask.clear(c);
      cpu.count(Counter.PvTlbFlushesDeferred);
    }
  }
  return flushmask;
}

/**
 * For checkers on any thread: whether CPU `c` runs no guest code until the host has flushed its
 * whole TLB (a flush left to the host is pending, or the host is resuming it), 'pending'; or the
 * host flushed it with mm `mm` loaded at tlb_gen `gen` or later, 'flushed'; else 'no'. Read as a
 * seqcount: the record is retried while the host changes it.
 */
export function hostFlushCovers(v: MachineViews, c: number, mm: number, gen: number): 'pending' | 'flushed' | 'no' {
  const p = v.percpu;
  const b = c * PERCPU_WORDS;
  for (;;) {
    const seq = Atomics.load(p, b + ST_HOST_RESUME_SEQ);
    if ((seq & 1) !== 0) return 'pending';
    const state = Atomics.load(p, steal(c));
    const flushedMm = Atomics.load(p, b + ST_HOST_FLUSH_MM);
    const flushedGen = Atomics.load(p, b + ST_HOST_FLUSH_GEN);
    if (Atomics.load(p, b + ST_HOST_RESUME_SEQ) !== seq) continue;
    if ((state & KVM_VCPU_FLUSH_TLB) !== 0) return 'pending';
    return flushedMm === mm && flushedGen >= gen ? 'flushed' : 'no';
  }
}
