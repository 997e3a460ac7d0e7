/*
 * Layout of the machine-wide control words: run control, barriers and the ID counters.
 * Words that every CPU writes at once (the trace sequence, the barrier) have their own lines.
 */
export const G_ABORT = 0; // nonzero: every CPU stops at its next check (a CPU failed)
export const G_ABORT_CPU = 1; // the CPU that aborted the run
export const G_STOP = 2; // nonzero: workloads should wind down (set by a workload)
export const G_NEXT_CTX_ID = 3; // last_mm_ctx_id
export const G_PROGRESS = 5; // units of work done, for the control plane's progress line
// the oracle kind whose report ends a trial's programs, 0 for any (RunOptions.stopOnKind); set by
// the control plane before the CPUs start, read-only during the run
export const G_STOP_ON_KIND = 6;
// CPUs waiting in Cpu.waitPoint: while nonzero, passing a kernel point wakes the sleepers
export const G_POINT_WAITERS = 7;
// smpBarrier's word: CPUs arrived at the current barrier (low 16 bits) and CPUs whose program
// returned (high bits), which no barrier waits for any more (cpu/smp.ts)
export const G_BARRIER_COUNT = 16;
export const G_BARRIER_GEN = 17; // barrier generation, futex word
export const G_DONE = 32; // CPUs that finished their program in this run
export const G_TRACE_SEQ = 48; // the global event sequence: an int32 that wraps, compared by seqDiff (trace/events.ts)
export const G_TLB_FLUSH_BATCHED_CPUMASK = 56; // seed 000 patch 20: CPUs that may cache a batched unmap, two words
// the run's architecture and CPU features (arch/arch.ts Arch, Hardware): set by the control plane
// before the CPUs start (RunOptions.arch, RunOptions.hardware), read-only during the run
export const G_ARCH = 8;
export const G_HW_ASID_BITS = 9;
export const G_HW_TLB_RANGE = 10; // 1: FEAT_TLBIRANGE
export const G_HW_HAFDBS = 11; // 1: FEAT_HAFDBS
export const GLOBALS_WORDS = 64;
