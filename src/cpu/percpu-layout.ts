/*
 * Layout of the per-CPU region: one block of PERCPU_WORDS words per CPU.
 *
 * The doorbell, which IPI senders write, sits on its own 64-byte line, apart from the words the
 * owner writes as it runs (its status, read by the watchdog) and from x86's TLB state. The
 * acknowledgements of this CPU's calls are on its CSD line (ipi/csd-layout.ts).
 */
import { TLBSTATE_WORDS } from '../arch/x86/tlbstate-layout.ts';

// The doorbell line, written by senders (ipi/fabric.ts).
export const IPI_WAKE = 0; // futex word: bumped by every event that should wake this CPU
export const IPI_PENDING = 1; // nonzero when some sender bit is set in IPI_MASK, an INVLPGB was posted, or the run aborts
export const IPI_MASK = 2; // two words: bit s set when CPU s posted on its port to this CPU
export const IPI_SLEEPING = 4; // 1 while this CPU is in Atomics.wait on IPI_WAKE (its own write)
// kvm_steal_time.preempted (arch/x86/kvm.ts): the host sets KVM_VCPU_PREEMPTED while this vCPU is
// off, a paravirt flush cmpxchg's KVM_VCPU_FLUSH_TLB into it, the host xchg's it to 0 on resume
export const KVM_STEAL_PREEMPTED = 5;
export const INVLPGB_PENDING = 6; // nonzero when some CPU posted an INVLPGB this CPU has not applied (machine/tlbi-broadcast.ts)
export const TLB_OWNER = 7; // who may touch this CPU's TLB: machine/tlbi-broadcast.ts TLB_ACTIVE, TLB_QUIESCENT, TLB_REMOTE

// The status line, written by the owner, read by the watchdog and by reports.
export const ST_IRQS_ON = 32; // 1 when IRQs are enabled
export const ST_ACTIVITY = 33; // Activity
export const ST_OPS = 34; // user operations retired, low 31 bits
export const ST_WAITING_ON = 35; // two words: the CPUs a CSD wait is waiting for
export const ST_IPI_FN = 37; // the IPI function being run, -1 when none
export const ST_IRQ_OFF_SINCE = 38; // ST_OPS when IRQs were last disabled
export const ST_BEAT = 39; // interrupt points passed, wrapping: the run watchdog's sign of progress
export const ST_WAIT = 40; // Wait: what an idle wait of this CPU waits for (0 when not waiting)
export const ST_WAIT_ARG = 41; // the wait's argument (the kernel point, the barrier's generation)
// the host's record of its flushes of this vCPU's TLB (arch/x86/kvm.ts), for the flush
// postcondition only: a seqcount, odd while the host resumes the vCPU; the mm loaded and its
// tlb_gen when the host last flushed
export const ST_HOST_RESUME_SEQ = 42;
export const ST_HOST_FLUSH_MM = 43;
export const ST_HOST_FLUSH_GEN = 44;

export const TLBSTATE_BASE = 48;
/**
 * How often this CPU passed each named kernel point (kernel/points.ts), one word per point,
 * written by the owner only (Atomics.add), read by any CPU waiting on the point.
 */
export const POINTS_BASE = TLBSTATE_BASE + TLBSTATE_WORDS;
export const POINT_WORDS = 32;
export const PERCPU_WORDS = POINTS_BASE + POINT_WORDS;

/** What an idle wait waits for (ST_WAIT), for the run watchdog's report. */
export const enum Wait {
  None = 0,
  Barrier = 1, // smpBarrier: the others of the run to arrive (ST_WAIT_ARG: the generation)
  KernelPoint = 2, // Cpu.waitPoint: a kernel point to be passed (ST_WAIT_ARG: the point)
  Condition = 3, // a Cpu.idleUntil of the program or the kernel (a flag, a handshake, a page lock)
  Finished = 4, // the program returned: the others to finish
}

export const WAIT_NAMES = ['', 'smpBarrier', 'kernel point', 'a condition (a flag, a handshake, a lock)', 'the other CPUs to finish'];

export const enum Activity {
  Offline = 0,
  User = 1,
  Kernel = 2,
  Idle = 3,
  CsdWait = 4,
  Irq = 5,
  Done = 6,
}

export const ACTIVITY_NAMES = ['offline', 'user', 'kernel', 'idle', 'csd-wait', 'irq', 'done'];
