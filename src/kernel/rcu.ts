/*
 * RCU grace periods, as much of kernel/rcu/ as page-table freeing needs: with
 * MMU_GATHER_RCU_TABLE_FREE (unconditional on x86 since a37259732a7d, v6.15) mm/mmu_gather.c
 * hands a batch of page tables to call_rcu (tlb_remove_table_free), and tlb_remove_table_rcu
 * frees them once a grace period has passed.
 *
 * The readers: since the RCU flavours were consolidated (v4.20), a region with IRQs off is an
 * RCU read-side critical section. The reader that matters here is GUP-fast (kernel/gup.ts), which
 * walks page tables locklessly with IRQs off. The hardware page walker is no reader: a CPU whose
 * paging-structure cache still points to a table walks it whenever it likes, also after the grace
 * period; only a flush with freed_tables that reaches the CPU stops that (arch/x86/flush.ts).
 *
 * A grace period that starts at a snapshot ends when every CPU that had IRQs off at the snapshot
 * has turned them on since (a quiescent state). A CPU that had IRQs on at the snapshot needs no
 * wait: any section it enters later starts after the table was unhooked and cannot reach it.
 *
 *   updater (munmap)                          reader (GUP-fast)
 *   clear the PMD entry       (seq-cst)       ST_IRQS_ON = 0   (localIrqDisable, seq-cst)
 *   snapshot: load ST_IRQS_ON (seq-cst)       load the PMD entry (seq-cst)
 *
 * If the snapshot loads 1, the reader's store of 0 comes after it, so its load of the PMD comes
 * after the clear and finds the table gone. If the snapshot loads 0, the updater waits until it
 * loads a 1: the CPU turned IRQs on in between, so the section seen at the snapshot is over. A 0
 * seen later may be that section or a newer one; waiting on is never wrong, only later.
 *
 * Where this differs from Linux: call_rcu returns at once and the callback frees the tables
 * later, from the RCU softirq; here the CPU that queued them runs the callback itself before it
 * leaves tlb_finish_mmu, sleeping (IRQs on, taking IPIs) until the grace period is over. Only
 * the moment the frames go back to the allocator differs; no walker can see the difference.
 *
 * API:
 *   rcuSnapshot(cpu)         start_poll_synchronize_rcu: the CPUs a grace period from now waits for
 *   rcuWaitGp(cpu, gp)       cond_synchronize_rcu: returns once that grace period is over
 */
import type { Cpu } from '../cpu/cpu.ts';
import { CpuMask } from '../cpu/cpumask.ts';
import { Activity, PERCPU_WORDS, ST_ACTIVITY, ST_IRQS_ON } from '../cpu/percpu-layout.ts';

/** How often a CPU waiting for a grace period looks again, in ms: a CPU turning IRQs on wakes no one. */
const GP_POLL_MS = 1;

/** Whether CPU `c` has IRQs on now (its status word, written by the owner with Atomics.store). */
function irqsOn(cpu: Cpu, c: number): boolean {
  return Atomics.load(cpu.v.percpu, c * PERCPU_WORDS + ST_IRQS_ON) !== 0;
}

/** start_poll_synchronize_rcu: the other CPUs that may be inside a read-side section now. */
export function rcuSnapshot(cpu: Cpu): CpuMask {
  const gp = new CpuMask();
  for (let c = 0; c < cpu.v.nrCpus; c++) if (c !== cpu.id && !irqsOn(cpu, c)) gp.set(c);
  return gp;
}

/** poll_state_synchronize_rcu: drops from `gp` each CPU seen in a quiescent state; true when none is left. */
function rcuGpDone(cpu: Cpu, gp: CpuMask): boolean {
  for (let c = gp.next(-1); c >= 0; c = gp.next(c)) if (irqsOn(cpu, c)) gp.clear(c);
  return gp.isEmpty();
}

/**
 * cond_synchronize_rcu: returns once every CPU of `gp` has left the read-side section it was in
 * at the snapshot. The caller has IRQs on; it sleeps meanwhile, taking IPIs, as the idle loop does.
 */
export function rcuWaitGp(cpu: Cpu, gp: CpuMask): void {
  if (rcuGpDone(cpu, gp)) return;
  const prev = cpu.v.percpu[cpu.base + ST_ACTIVITY];
  cpu.setActivity(Activity.Idle);
  cpu.fabric.idleUntil(cpu, () => rcuGpDone(cpu, gp), GP_POLL_MS);
  cpu.setActivity(prev);
}
