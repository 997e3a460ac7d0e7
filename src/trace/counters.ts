/*
 * Event counters, per CPU, as the kernel's per-CPU vm_event_states (include/linux/vm_event_item.h)
 * plus counts of the tlb:tlb_flush tracepoint by reason (include/linux/mm_types.h: enum
 * tlb_flush_reason) and the emulator's own hardware counts. The owner increments its own block
 * with plain stores; readers sum the blocks after a run.
 *
 * Layout: nrCpus blocks of COUNTER_STRIDE float64 words (so blocks never share a line).
 */

export const COUNTER_NAMES = [
  // /proc/vmstat
  'nr_tlb_remote_flush',
  'nr_tlb_remote_flush_received',
  'nr_tlb_local_flush_all',
  'nr_tlb_local_flush_one',
  // tlb:tlb_flush by reason
  'TLB_FLUSH_ON_TASK_SWITCH',
  'TLB_REMOTE_SHOOTDOWN',
  'TLB_LOCAL_SHOOTDOWN',
  'TLB_LOCAL_MM_SHOOTDOWN',
  'TLB_REMOTE_SEND_IPI',
  // the emulated hardware and IPI fabric
  'ipis_sent',
  'ipis_received',
  'tlb_fills',
  'tlb_entries_invalidated',
  // flush_tlb_func runs that flushed, on any CPU: the whole PCID, or page by page (one INVLPG each)
  'tlb_flushes_full',
  'tlb_flushes_ranged',
  'invlpg',
  'page_walks',
  'psc_hits',
  'dirty_bit_walks',
  'speculative_walks',
  'page_faults',
  // the kernel
  'tlb_remove_table_sync_one',
  'page_tables_freed',
  'numa_pte_updates',
  'numa_hint_faults',
  // deferred flushes whose generation a later completed flush covered (switch completedGen): all
  // of them, and those the switch skipped
  'deferred_flushes_redundant',
  'deferred_flushes_skipped',
  // the workload's own operations (scenario/measure: what one operation costs)
  'workload_ops',
  // 4 KiB TLB misses the 2 MiB TLB served, each installing a piece (machine/walker.ts: lookupHugeTlb)
  'huge_tlb_hits',
  // broadcast invalidation (x86TlbFlush=invlpgb): INVLPGBs issued, the pages the ranged ones named,
  // TLBSYNCs, those that had to wait for another CPU, global ASIDs handed out, resets of their space
  'invlpgb',
  'invlpgb_pages',
  'tlbsync',
  'tlbsync_waits',
  'global_asids_assigned',
  'global_asid_space_resets',
  // x86TlbFlush=kvm-pv (arch/x86/kvm.ts): CPUs a paravirt flush left to the host instead of an
  // IPI; the host's preemptions of vCPUs, and its flushes of a vCPU's TLB on resume
  'pv_tlb_flushes_deferred',
  'host_preemptions',
  'host_tlb_flushes',
  // per-VMA locks (/proc/vmstat vma_lock_*, switch perVmaLock): faults handled under the VMA's
  // lock alone; lookups that fell back to the mmap_lock (no VMA, VMA write-locked, or changed
  // under us); lookups that found the VMA detached after locking it and looked again; and
  // vma_start_write calls that waited for a fault to leave the VMA
  'vma_lock_success',
  'vma_lock_abort',
  'vma_lock_miss',
  'vma_lock_write_waits',
  // mmap_lock acquisitions that had to wait, for reading and for writing; page faults among the
  // readers that waited, and their time waiting in microseconds
  'mmap_lock_read_contended',
  'mmap_lock_write_contended',
  'mmap_lock_fault_waits',
  'mmap_lock_fault_wait_us',
  // milliseconds the workload's CPUs spent in their measured loops, summed over the CPUs (a
  // measurement's time base: per second of the workload, compare columns)
  'workload_ms',
  // mremap (kernel/mremap.ts): present PTEs moved one by one (move_ptes), PTE tables moved whole
  // (move_normal_pmd)
  'mremap_ptes_moved',
  'mremap_pmds_moved',
  // the arm64 ASID allocator (arch/arm64/context.ts): generation rollovers, context switches
  // that kept their ASID on the fast path, those that took cpu_asid_lock, and local_flush_tlb_all
  // (a rollover's flush on the next switch of each CPU)
  'asid_rollovers',
  'asid_fast_path',
  'asid_slow_path',
  'local_flush_all',
  // multi-size THP (switch anonMthp; /sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats):
  // anonymous faults that mapped a 64 KiB folio; those that wanted one (the aligned block inside
  // the VMA, its PTEs none) and fell back to a 4 KiB page because no aligned block of frames was
  // free; large folios a path could not split and left whole (MADV_FREE over part of one)
  'mthp_anon_fault_alloc',
  'mthp_anon_fault_fallback',
  'mthp_split_failed',
  // arm64 broadcast TLB maintenance (machine/tlbi-broadcast.ts): TLBI ... IS by kind (vae1is,
  // vale1is, rvae1is/rvale1is and the pages the range ops named, aside1is, vmalle1is), DSB ISH and
  // those that had to wait for another CPU (local_flush_tlb_all counts in local_flush_all above);
  // 4 KiB misses the contiguous TLB served, each installing a piece (machine/walker-arm64.ts)
  'tlbi_va',
  'tlbi_va_leaf',
  'tlbi_range',
  'tlbi_range_pages',
  'tlbi_asid',
  'tlbi_all',
  'dsb_ish',
  'dsb_ish_waits',
  'cont_tlb_hits',
  // faults on a present PTE that handle_pte_fault resolved with ptep_set_access_flags (a CPU
  // without hardware A/D management, arm64 without FEAT_HAFDBS): read faults that made the PTE
  // young (access-flag faults), write faults that made a writable PTE dirty and young
  'pte_set_access_flags_young',
  'pte_set_access_flags_dirty',
  // contpte_convert calls (arch/arm64/contpte.ts): blocks folded into PTE_CONT, blocks unfolded
  'contpte_folds',
  'contpte_unfolds',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export type Counters = Record<CounterName, number>;

/**
 * The counters that add up host time rather than events (mmap_lock waits, the workload's timed
 * loops): two runs of one controlled schedule agree on every other counter, never on these.
 */
export const HOST_TIME_COUNTERS: readonly CounterName[] = ['mmap_lock_fault_wait_us', 'workload_ms'];

/** `counters` without HOST_TIME_COUNTERS: what a replay of a schedule reproduces exactly. */
export function eventCounts(counters: Partial<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(counters)) if (value !== undefined && !(HOST_TIME_COUNTERS as readonly string[]).includes(name)) out[name] = value;
  return out;
}

export const enum Counter {
  NrTlbRemoteFlush = 0,
  NrTlbRemoteFlushReceived,
  NrTlbLocalFlushAll,
  NrTlbLocalFlushOne,
  TlbFlushOnTaskSwitch,
  TlbRemoteShootdown,
  TlbLocalShootdown,
  TlbLocalMmShootdown,
  TlbRemoteSendIpi,
  IpisSent,
  IpisReceived,
  TlbFills,
  TlbEntriesInvalidated,
  TlbFlushesFull,
  TlbFlushesRanged,
  Invlpg,
  PageWalks,
  PscHits,
  DirtyBitWalks,
  SpeculativeWalks,
  PageFaults,
  TlbRemoveTableSyncOne,
  PageTablesFreed,
  NumaPteUpdates,
  NumaHintFaults,
  DeferredFlushesRedundant,
  DeferredFlushesSkipped,
  WorkloadOps,
  HugeTlbHits,
  Invlpgb,
  InvlpgbPages,
  Tlbsync,
  TlbsyncWaits,
  GlobalAsidsAssigned,
  GlobalAsidSpaceResets,
  PvTlbFlushesDeferred,
  HostPreemptions,
  HostTlbFlushes,
  VmaLockSuccess,
  VmaLockAbort,
  VmaLockMiss,
  VmaLockWriteWaits,
  MmapLockReadContended,
  MmapLockWriteContended,
  MmapLockFaultWaits,
  MmapLockFaultWaitUs,
  WorkloadMs,
  MremapPtesMoved,
  MremapPmdsMoved,
  AsidRollovers,
  AsidFastPath,
  AsidSlowPath,
  LocalFlushAll,
  MthpAnonFaultAlloc,
  MthpAnonFaultFallback,
  MthpSplitFailed,
  TlbiVa,
  TlbiVaLeaf,
  TlbiRange,
  TlbiRangePages,
  TlbiAsid,
  TlbiAll,
  DsbIsh,
  DsbIshWaits,
  ContTlbHits,
  PteSetAccessFlagsYoung,
  PteSetAccessFlagsDirty,
  ContpteFolds,
  ContpteUnfolds,
}

/** Room for every counter of COUNTER_NAMES; a multiple of 8, so that blocks never share a line. */
export const COUNTER_STRIDE = Math.ceil(COUNTER_NAMES.length / 8) * 8;

/** Sums every CPU's block into one record named as the kernel names them. */
export function sumCounters(counters: Float64Array, nrCpus: number): Counters {
  const out = {} as Counters;
  COUNTER_NAMES.forEach((name, i) => {
    let sum = 0;
    for (let cpu = 0; cpu < nrCpus; cpu++) sum += counters[cpu * COUNTER_STRIDE + i];
    out[name] = sum;
  });
  return out;
}

/** Adds `b` into `a`, name by name. */
export function addCounters(a: Counters, b: Counters): Counters {
  for (const name of COUNTER_NAMES) a[name] += b[name];
  return a;
}

export function zeroCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Counters;
}
