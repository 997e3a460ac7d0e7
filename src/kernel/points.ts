/*
 * Named kernel points: the places in kernel paths that a scenario may order its programs against,
 * listed here, in one place, with where each sits. They are the race windows the kernel paths
 * already mark (Cpu.raceWindow, which the noise injector may stretch) and the entry and return of
 * each system call (Cpu.passPoint). A CPU that passes a point adds one to its own counter of that
 * point (cpu/percpu-layout.ts POINTS_BASE: a plain Atomics.add on a word only it writes, no
 * allocation); a program reads the counters with Cpu.pointCount and waits on them with
 * Cpu.waitPoint, which sleeps in the idle loop and so keeps taking IPIs: a program waiting on a
 * point never holds up the flush of the CPU it waits for.
 *
 * A point is passed, not held: the CPU that passes it goes on at once. Waiting for
 * 'zap:pte-cleared' tells a program that some PTE is gone and its flush not yet made; it does not
 * keep the window open. To widen a window, run with noise (campaign/noise.ts).
 *
 * The names are stable: scenarios use them. A new point goes at the end of the enum.
 */

export const enum KernelPoint {
  // race windows (Cpu.raceWindow)
  ZapPteCleared = 0,
  PtepClearBetweenReadAndClear = 1,
  MmuGatherBeforeFlush = 2,
  ReclaimBeforeBatchedFlush = 3,
  BatchedPendingFlushedBeforeClear = 4,
  MprotectPtlDroppedFlushPending = 5,
  GupFastInTable = 6,
  // system calls (Cpu.passPoint)
  MmapEnter = 7,
  MmapReturn = 8,
  MunmapEnter = 9,
  MunmapReturn = 10,
  MadviseEnter = 11,
  MadviseReturn = 12,
  MprotectEnter = 13,
  MprotectReturn = 14,
  // later: a race window, then a point passed
  SwitchMmAsidChosen = 15,
  AsidTransitionSwitching = 16,
  VmaFoundNotLocked = 17,
  // fork and copy-on-write
  WpPageCopied = 18,
  ForkWrprotectedBeforeFlush = 19,
  ForkEnter = 20,
  ForkReturn = 21,
  // truncate (kernel/truncate.ts) and the fault that races with it (kernel/fault.ts)
  FtruncateEnter = 22,
  FtruncateReturn = 23,
  FilemapFaultPageFound = 24,
  DirectIoBeforeCompletion = 25,
  // mremap: a race window, then its entry and return
  MremapPtlDropped = 26,
  MremapEnter = 27,
  MremapReturn = 28,
  // arm64 check_and_switch_context: the fast path between its generation check and its
  // xchg/cmpxchg of active_asids, and the slow path before cpu_asid_lock
  AsidFastPathChecked = 29,
  AsidSlowPath = 30,
  // arm64: the last TLBI ... IS of a flush posted, its DSB ISH not yet executed
  TlbiIssuedNotSynced = 31,
  TlbbatchBeforeTlbi = 32,
}

/** Each point's name, by KernelPoint, and where it is passed. */
export const KERNEL_POINTS: readonly { name: string; where: string }[] = [
  { name: 'zap:pte-cleared', where: 'kernel/zap.ts zapPteRange: a present PTE was cleared, its TLB entries not yet flushed (mm/memory.c:zap_pte_range)' },
  { name: 'ptep-clear:between-read-and-clear', where: 'arch/ptep-get-and-clear.ts ptepGetAndClear with ptepGetAndClear=read-then-clear: the PTE read, not yet cleared' },
  { name: 'mmu-gather:before-flush', where: 'kernel/mmu-gather.ts tlbFlushMmuTlbonly, before the arch tlb_flush: the gathered entries are out of the page tables, not yet out of other TLBs (mm/mmu_gather.c:tlb_flush_mmu_tlbonly)' },
  { name: 'reclaim:before-batched-flush', where: 'kernel/reclaim.ts: PTEs cleared with a batched flush (set_tlb_ubc_flush_pending), try_to_unmap_flush not yet made (mm/vmscan.c:shrink_folio_list)' },
  { name: 'batched-pending:flushed-before-clear', where: 'kernel/tlb-batch.ts flushTlbBatchedPending with batchedPending=flag: flushed, the flag not yet cleared (mm/rmap.c:flush_tlb_batched_pending)' },
  { name: 'mprotect:ptl-dropped-flush-pending', where: 'kernel/mprotect.ts changePteRange: PTEs changed, PTL dropped, their flush still deferred (mm/mprotect.c:change_pte_range)' },
  { name: 'gup-fast:in-table', where: 'kernel/gup.ts: GUP-fast, IRQs off, inside a table another CPU may be unhooking (mm/gup.c:gup_fast_pgd_range)' },
  { name: 'mmap:enter', where: 'kernel/mmap.ts sysMmap: entry' },
  { name: 'mmap:return', where: 'kernel/mmap.ts sysMmap: return, the mmap_lock released' },
  { name: 'munmap:enter', where: 'kernel/mmap.ts sysMunmap: entry' },
  { name: 'munmap:return', where: 'kernel/mmap.ts sysMunmap: return, every TLB flushed' },
  { name: 'madvise:enter', where: 'kernel/madvise.ts sysMadvise: entry (a valid advice and range)' },
  { name: 'madvise:return', where: 'kernel/madvise.ts sysMadvise: return, the mmap_lock released' },
  { name: 'mprotect:enter', where: 'kernel/mprotect.ts sysMprotect: entry (a valid range and protection)' },
  { name: 'mprotect:return', where: 'kernel/mprotect.ts sysMprotect: return, the mmap_lock released' },
  { name: 'switch-mm:asid-chosen', where: 'arch/x86/flush.ts switchMmIrqsOff under x86TlbFlush=invlpgb: loaded_mm is LOADED_MM_SWITCHING, the ASID chosen, CR3 not yet loaded (arch/x86/mm/tlb.c:switch_mm_irqs_off)' },
  { name: 'asid-transition:switching', where: 'arch/x86/flush.ts finishAsidTransition: the flusher found a CPU of mm_cpumask in the middle of switch_mm (loaded_mm == LOADED_MM_SWITCHING), before it waits for it (arch/x86/mm/tlb.c:finish_asid_transition)' },
  { name: 'vma-lock:found-not-locked', where: 'kernel/vma-lock.ts lockVmaUnderRcu: the VMA found without the mmap_lock, not yet read-locked: munmap may detach it, or its slot hold a new VMA, meanwhile (mm/memory.c:lock_vma_under_rcu)' },
  { name: 'wp-page:copied', where: 'kernel/fault.ts wpPageCopy: the old page copied into the new one, the PTL not yet taken again, the old PTE still in place (mm/memory.c:wp_page_copy)' },
  { name: 'fork:wrprotected-before-flush', where: "kernel/fork.ts dupMmap: every private PTE of the parent write-protected and copied, flush_tlb_mm(oldmm) not yet made (kernel/fork.c:dup_mmap)" },
  { name: 'fork:enter', where: 'kernel/fork.ts sysFork: entry' },
  { name: 'fork:return', where: "kernel/fork.ts sysFork: return, the parent's mmap_lock released" },
  { name: 'ftruncate:enter', where: 'kernel/truncate.ts sysFtruncate: entry (a valid file and size)' },
  { name: 'ftruncate:return', where: 'kernel/truncate.ts sysFtruncate: return, every mapping past the new size zapped and flushed, its pages out of the cache' },
  { name: 'filemap-fault:page-found', where: 'kernel/fault.ts filemapFault: the page-cache page found with a reference, not yet locked; a truncate may remove it (mm/filemap.c:filemap_fault)' },
  { name: 'direct-io:before-completion', where: 'kernel/direct-io.ts directIoRead: the device wrote the pinned pages, the completion has not marked them dirty nor unpinned them (block/bio.c:bio_release_pages)' },
  { name: 'mremap:ptl-dropped', where: 'kernel/mremap.ts movePtes: PTEs moved, both PTLs and the rmap locks dropped; under mremapFlush=after-unlock the old range\'s flush is still to come (mm/mremap.c:move_ptes)' },
  { name: 'mremap:enter', where: 'kernel/mremap.ts sysMremap: entry (valid flags and addresses)' },
  { name: 'mremap:return', where: 'kernel/mremap.ts sysMremap: return, the mmap_lock released' },
  { name: 'asid:fast-path-checked', where: "arch/arm64/context.ts checkAndSwitchContext: the mm's ASID found of the current generation, active_asids not yet exchanged; a rollover on another CPU may zero it meanwhile (arch/arm64/mm/context.c:check_and_switch_context)" },
  { name: 'asid:slow-path', where: 'arch/arm64/context.ts checkAndSwitchContext: the fast path failed, cpu_asid_lock not yet taken; other CPUs may roll the generation over meanwhile (arch/arm64/mm/context.c:check_and_switch_context)' },
  { name: 'tlbi:issued-not-synced', where: 'arm64 flush paths, before their dsbIsh (machine/tlbi-broadcast.ts): the last TLBI ... IS posted, the DSB ISH that completes it not yet executed; other CPUs may still translate through the old entries (arch/arm64/include/asm/tlbflush.h:__tlbi_sync_s1ish)' },
  { name: 'tlbbatch:before-tlbi', where: "arch/arm64/tlbflush.ts archTlbbatchAddPending: reclaim cleared the PTE, its TLBI not yet posted; without a DSB nothing bounds when the TLBI reaches another CPU, and this window stands for that (arch/arm64/include/asm/tlbflush.h:arch_tlbbatch_add_pending)" },
];

export const KERNEL_POINT_NAMES: readonly string[] = KERNEL_POINTS.map((p) => p.name);

const BY_NAME = new Map(KERNEL_POINT_NAMES.map((name, i) => [name, i]));

/** The KernelPoint of a name; an Error naming the points for one that does not exist. */
export function kernelPoint(name: string): KernelPoint {
  const point = BY_NAME.get(name);
  if (point === undefined) throw new Error(`unknown kernel point '${name}'; points: ${KERNEL_POINT_NAMES.join(', ')}`);
  return point;
}
