/*
 * Layout of mm_struct slots in shared memory (include/linux/mm_types.h). Slot 0 is init_mm, the
 * mm of kernel threads, whose page tables map no user address.
 *
 * Words that many CPUs write (tlb_gen, mm_cpumask, the flush-pending counts, mmap_lock) each
 * have their own 64-byte line: context.tlb_gen is bumped by every flush of the mm on any CPU and mm_cpumask is written by
 * every CPU that switches to or from the mm: each has its own 64-byte line.
 */
export const MAX_MMS = 64;
export const INIT_MM = 0;

export const MM_PGD = 0; // PFN of the PGD
export const MM_CTX_ID = 1; // context.ctx_id, never reused
export const MM_USERS = 2; // mm_users; 0 for a free slot
export const MM_GLOBAL_ASID = 3; // context.global_asid (x86 INVLPGB): 0, or the mm's ASID on every CPU
export const MM_ASID_TRANSITION = 4; // context.asid_transition: some CPU may still run the mm on a per-CPU ASID
export const MM_ANON_VMA_ROOT = 5; // anon_vma->root: the mm whose MM_ANON_VMA_LOCK the whole fork family's anon rmap shares
export const MM_CONTEXT_ID = 6; // arm64 context.id: the ASID, its generation above asid_bits (arch/arm64/context.ts); 0 until the mm first runs
export const MM_TLB_GEN = 16; // context.tlb_gen
export const MM_TLB_GEN_COMPLETED = 17; // tlb_gen_completed (seed 000 patch 08), beside tlb_gen
export const MM_CPUMASK = 32; // mm_cpumask, two words
export const MM_TLB_FLUSH_PENDING = 48; // tlb_flush_pending: deferred flushes under way
export const MM_MMAP_LOCK = 64; // mmap_lock, a reader-writer semaphore (kernel/rwsem.ts), 2 words
export const MM_LOCK_SEQ = 66; // mm_lock_seq: bumped as the mmap_lock's write side is dropped (vma_end_write_all)
export const MM_TLB_FLUSH_BATCHED = 80; // tlb_flush_batched (mm/rmap.c), by the batchedPending scheme
export const MM_TLB_BATCHED_GEN = 81; // the newest generation a batched unmap of this mm deferred (completedGen)
export const MM_RSS = 96; // resident pages
export const MM_NUMA_SCAN_SEQ = 97; // numa_scan_seq: task_numa_work passes over the mm
export const MM_ANON_VMA_LOCK = 100; // the anon_vma rwsem: anon rmap walks read, VMA unlinking writes (2 words)
export const MM_PROMISE_COUNT = 112; // promises made so far, below the mm's epoch tag (check/promises.ts), own line
export const MM_PROMISES = 128; // a ring of the last MAX_PROMISES promises
export const MAX_PROMISES = 32;
export const PROMISE_WORDS = 4; // start VPN, end VPN, kind with the call's duration above it (check/promises.ts), the call's start in the trace sequence
export const MM_WORDS = MM_PROMISES + MAX_PROMISES * PROMISE_WORDS;

/*
 * The promise count's word (check/promises.ts): the count in its low PROMISE_COUNT_BITS, wrapping
 * there; above it the mm's epoch tag, its slot and how many times the slot was allocated (modulo
 * 2^PROMISE_REUSE_BITS). A TLB entry carries the word as it was at the fill, so that an entry
 * another mm's walk filled never compares equal with the loaded mm's word on a hit.
 */
export const PROMISE_COUNT_BITS = 20;
export const PROMISE_COUNT_MASK = (1 << PROMISE_COUNT_BITS) - 1;
export const PROMISE_REUSE_BITS = 5;
const TAG_SHIFT = PROMISE_COUNT_BITS + PROMISE_REUSE_BITS;

/** The first word of a slot's promise count when `mm` is allocated, `previous` its word before. */
export function promiseCountSeed(mm: number, previous: number): number {
  const reuse = ((previous >>> PROMISE_COUNT_BITS) + 1) & ((1 << PROMISE_REUSE_BITS) - 1);
  return ((mm << TAG_SHIFT) | (reuse << PROMISE_COUNT_BITS)) >>> 0;
}

/** Which allocation of which mm slot a promise word (or a TLB entry's epoch) belongs to. */
export function promiseEpochOwner(word: number): number {
  return word >>> PROMISE_COUNT_BITS;
}

/** The mm slot a promise word (or a TLB entry's epoch) belongs to. */
export function promiseEpochMm(word: number): number {
  return word >>> TAG_SHIFT;
}
