/*
 * Kernel variants: one switch per patch, fix or bug from the reference threads (../shared/seeds) and
 * the mainline commits around them, gathered in one configuration object that every kernel path
 * reads. The default of every switch is today's mainline behaviour; a scenario's presets (`buggy`,
 * `fixed`) and the user's `--set switch=value` flip individual switches away from it.
 *
 * Where each switch takes effect, by the kernel code it models:
 *
 *   delayedRmap                 mm/memory.c:zap_pte_range, mm/mmu_gather.c:tlb_flush_rmaps
 *   ptepGetAndClear             arch/x86/include/asm/pgtable_64.h:native_ptep_get_and_clear,
 *                               arch/arm64/include/asm/pgtable.h:__ptep_get_and_clear
 *   nestedForceFlush            mm/mmu_gather.c:tlb_finish_mmu (the mm_tlb_flush_nested() check)
 *   nestedRange                 mm/mmu_gather.c:tlb_finish_mmu (what the forced flush covers)
 *   batchedPending              mm/rmap.c:set_tlb_ubc_flush_pending, flush_tlb_batched_pending
 *   madviseBatchedPending       mm/madvise.c:madvise_free_pte_range, madvise_cold_or_pageout_pte_range
 *   syncIpi                     mm/mmu_gather.c:tlb_remove_table_sync_one (khugepaged's collapse)
 *   mprotectFlush               mm/mprotect.c:change_pte_range, arch/x86 pte_needs_flush
 *   deferredFlushGen            inc_mm_tlb_gen for a deferred flush (arch_tlbbatch_add_mm, mmu_gather)
 *   pteAccessibleChecksPending  arch/x86/include/asm/pgtable.h:pte_accessible
 *   mprotectBatching            mm/mprotect.c:change_protection
 *   numaPidFilter               kernel/sched/fair.c:task_numa_work, vma_is_accessed
 *   completedGen                mm/rmap.c:try_to_unmap_flush, flush_tlb_batched_pending (seed 000 patches 08, 15, 17)
 *   lazyTlb                     arch/x86/mm/tlb.c:switch_mm_irqs_off, should_flush_tlb, flush_tlb_func
 *   x86TlbFlush                 arch/x86/mm/tlb.c:flush_tlb_mm_range, broadcast_tlb_flush, arch_tlbbatch_flush;
 *                               arch/x86/kernel/kvm.c:kvm_flush_tlb_multi
 *   asidTransition              arch/x86/mm/tlb.c:finish_asid_transition (the wait for a CPU in switch_mm)
 *   tlbbatchFlush               arch/x86/mm/tlb.c:arch_tlbbatch_flush under x86TlbFlush=invlpgb
 *   perVmaLock                  arch/x86/mm/fault.c:do_user_addr_fault (lock_vma_under_rcu first),
 *                               mm/memory.c:lock_vma_under_rcu, include/linux/mmap_lock.h
 *   forkFlush                   kernel/fork.c:dup_mmap (the flush_tlb_mm(oldmm) before the parent's mmap_lock is released)
 *   forkVmaLock                 kernel/fork.c:dup_mmap (vma_start_write on each parent VMA it copies)
 *   lazyfreeCheck               mm/rmap.c:try_to_unmap_one (the MADV_FREE branch)
 *   filemapFaultLock            mm/filemap.c:filemap_fault, mm/memory.c:do_read_fault (a read fault on a file page)
 *   mremapFlush                 mm/mremap.c:move_ptes, move_page_tables
 *   arm64AsidFastPath           arch/arm64/mm/context.c:check_and_switch_context (the fast path)
 *   arm64BatchedPending         mm/rmap.c:flush_tlb_batched_pending (arm64's arch_flush_tlb_batched_pending)
 *   anonMthp                    mm/memory.c:do_anonymous_page, alloc_anon_folio (/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled)
 *   contpteUnfold               arch/arm64/include/asm/pgtable.h:contpte_try_unfold, arch/arm64/mm/contpte.c:contpte_convert
 *   contpteAccessFlags          arch/arm64/mm/contpte.c:contpte_ptep_set_access_flags (its no-op check)
 *
 * A switch that models one architecture's code says so (SwitchSpec.arch; a value of a generic
 * switch that only one architecture has, SwitchSpec.valueArch): a run of the other architecture
 * rejects it (applySwitches with the run's arch, scenario/scenario.ts configFor). x86 only:
 * mprotectFlush (its values are x86's pte_needs_flush), deferredFlushGen and completedGen (x86's
 * tlb_gen), lazyTlb, x86TlbFlush, asidTransition, tlbbatchFlush; batchedPending=cpumask. arm64
 * only: arm64AsidFastPath, arm64BatchedPending, contpteUnfold,
 * contpteAccessFlags.
 *
 * A config is a frozen plain object ({ switch: value }): it can be posted to CPU threads as is.
 *
 * A scenario may declare switches of its own in the same shape (scenario/scenario.ts
 * ScenarioSpec.switches): presets, --set and `list` take them beside these, and only the
 * scenario's programs read them (Cpu.scenarioSwitch); kernel code reads only these.
 */
import { UsageError } from '../errors.ts';
import { archName, type Arch, type ArchName } from '../arch/arch.ts';

/** One switch: each value with what it does in kernel terms, the default, and where it comes from. */
export interface SwitchSpec<V extends string = string> {
  /** The architecture whose code the switch models; absent: generic mm code, every architecture. */
  readonly arch?: ArchName;
  /** Values of a generic switch that only one architecture's code has (the default may not be one). */
  readonly valueArch?: { readonly [K in V]?: ArchName };
  /** value -> one line on what the kernel does with it; listed in this order. */
  readonly values: { readonly [K in V]: string };
  /** Today's mainline behaviour. */
  readonly default: NoInfer<V>;
  /** The seed thread and patch, or the mainline commit, the switch models. */
  readonly from: string;
}

/** Checks at compile time that the default is one of the switch's values. */
function defineSwitch<const V extends string>(spec: SwitchSpec<V>): SwitchSpec<V> {
  return spec;
}

export const SWITCHES = {
  delayedRmap: defineSwitch({
    values: {
      on: 'zap_pte_range gathers the page with a delayed rmap; tlb_flush_rmaps removes it after the TLB flush, still under the PTL',
      off: 'zap_pte_range calls page_remove_rmap at zap time and defers only the flush: folio_mkclean misses a mapping that a stale TLB entry still writes through',
    },
    default: 'on',
    from: 'seed 003: "mm: delay page_remove_rmap() until after the TLB has been flushed" (mainline 5df397dec7c4)',
  }),
  ptepGetAndClear: defineSwitch({
    values: {
      xchg: 'ptep_get_and_clear is one atomic exchange (Atomics.exchange), so an A/D bit the walker sets is in the value it returns',
      'read-then-clear': 'ptep_get_and_clear reads the PTE, then stores 0: an accessed or dirty bit the walker sets between the two is lost',
    },
    default: 'xchg',
    from: 'seed 000, review of the RFC: only an xchg keeps the bits the hardware sets (x86 native_ptep_get_and_clear)',
  }),
  nestedForceFlush: defineSwitch({
    values: {
      on: 'tlb_finish_mmu forces a flush when mm_tlb_flush_nested(): a zapper that found pte_none still flushes before returning',
      off: 'tlb_finish_mmu flushes only what it gathered: a MADV_DONTNEED that gathered nothing returns before the other zapper flushed',
    },
    default: 'on',
    from: 'mainline 99baac21e458 "mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem"; seed 002',
  }),
  nestedRange: defineSwitch({
    values: {
      'flush-all': 'the forced flush of a nested gather covers the whole range with freed_tables and every cleared_* level set',
      'reset-range': '__tlb_reset_range() before the forced flush drops freed_tables and the cleared levels: lazy CPUs and paging-structure caches keep freed tables',
    },
    default: 'flush-all',
    from: 'seed 002: "mm: mmu_gather: remove __tlb_reset_range() for force flush" and its review (mainline 7a30df49f63a)',
  }),
  batchedPending: defineSwitch({
    valueArch: { cpumask: 'x86' },
    values: {
      counters: 'mm->tlb_flush_batched holds pending and flushed counts; flush_tlb_batched_pending records a flush by cmpxchg, which fails if an unmap was batched meanwhile',
      flag: 'mm->tlb_flush_batched is a bool that flush_tlb_batched_pending clears after flush_tlb_mm, losing a set_tlb_ubc_flush_pending that ran during the flush',
      cpumask: 'a global cpumask of CPUs with batched flushes pending; each CPU clears its own bit when it does a full flush (IPI shootdowns only)',
    },
    default: 'counters',
    from: 'seed 000 patch 20 "mm/rmap: avoid potential races" (flag race, cpumask scheme); mainline 5ee2fa2f0636 "mm/rmap: fix potential batched TLB flush race" (counters)',
  }),
  madviseBatchedPending: defineSwitch({
    values: {
      on: 'madvise calls flush_tlb_batched_pending each time it takes the PTL, before it looks at the PTEs',
      off: 'madvise skips flush_tlb_batched_pending: a PTE that reclaim cleared with a batched, unflushed unmap looks gone, and madvise returns while other TLBs still map it',
    },
    default: 'on',
    from: 'mainline 383c4613c67c "mm: close theoretical race where stale TLB entries could linger"',
  }),
  syncIpi: defineSwitch({
    values: {
      always: 'tlb_remove_table_sync_one IPIs every CPU after khugepaged\'s pmdp_collapse_flush, so no GUP-fast walk (IRQs off) is still in the old table when its pages are checked and copied',
      'skip-after-ipi-flush': 'tlb_remove_table_sync_one is skipped when the flush before it was a native IPI flush (tlb_table_flush_implies_ipi_broadcast), which every CPU running the mm took; never after an INVLPGB or paravirt flush',
      'skip-after-any-flush': 'tlb_remove_table_sync_one is skipped after every flush, as if every flush interrupted each CPU running the mm: wrong under x86TlbFlush=invlpgb or kvm-pv, where a walker with IRQs off is not waited for (the condition the review put on seed 001)',
      never: 'no sync IPI at all, even after a flush that interrupted no one',
    },
    default: 'always',
    from: 'seed 001: "[PATCH v2 0/3] skip redundant TLB sync IPIs" (Lance Yang, posted through v5 in 2026-03, not merged); mainline 2ba99c5e0881 "mm/khugepaged: fix GUP-fast interaction by sending IPI". Page tables freed by munmap wait for an RCU grace period instead (a37259732a7d)',
  }),
  mprotectFlush: defineSwitch({
    arch: 'x86',
    values: {
      mainline: 'change_pte_range asks x86 pte_needs_flush: no flush for a non-present old PTE, the accessed bit, software bits or setting D; a flush for every RW change, promotions included',
      'skip-promotions': 'the corrected pte_may_need_flush of seed 000 patch 03: no flush for a promotion, nor for write-protecting a PTE that was clean or read-only',
      always: 'change_pte_range flushes every present PTE it changes',
      'rfc-condition': 'pte_may_need_flush as first posted: !(pte_dirty(old) || !pte_write(old)), the misplaced negation found in review',
    },
    default: 'mainline',
    from: 'seed 000 patch 03 "mm/mprotect: do not flush on permission promotion" and its review; mainline c9fe66560bf2 "mm/mprotect: do not flush when not required architecturally"',
  }),
  deferredFlushGen: defineSwitch({
    arch: 'x86',
    values: {
      bump: 'every deferred flush takes a new mm tlb_gen, so a CPU that switches back to the mm sees it is behind and flushes',
      reuse: 'a deferred flush reuses the tlb_gen when nothing bumped it since: a CPU switched out keeps its PCID-tagged entries as up to date',
    },
    default: 'bump',
    from: 'seed 000 patch 15 "mm: detect deferred TLB flushes in vma granularity" and its review',
  }),
  pteAccessibleChecksPending: defineSwitch({
    values: {
      on: 'pte_accessible() counts a PROT_NONE PTE as accessible while mm_tlb_flush_pending(), so migration flushes before it copies the page',
      off: 'pte_accessible() ignores a pending deferred flush: migration copies a page that another CPU still writes through its TLB',
    },
    default: 'on',
    from: 'mainline 20841405940e "mm: fix TLB flush race between migration, and change_protection_range"',
  }),
  mprotectBatching: defineSwitch({
    values: {
      'mmu-gather': 'change_protection batches its flushes in an mmu_gather (tlb_gather_mmu / tlb_finish_mmu)',
      'flush-pending': 'change_protection brackets the walk with inc/dec_tlb_flush_pending and ends with one flush_tlb_range',
    },
    default: 'mmu-gather',
    from: 'seed 000 patch 02 "mm/mprotect: use mmu_gather" (mainline 4a18419f71cd, v5.19)',
  }),
  numaPidFilter: defineSwitch({
    values: {
      on: 'task_numa_work skips a VMA in which the scanning task never took a hinting fault (after the first two scans of the mm)',
      off: 'task_numa_work makes every PTE of every accessible VMA PROT_NONE on each scan',
    },
    default: 'on',
    from: 'seed 003: NUMA scanning skips the VMAs a task never touched, after two unconditional scans (Raghavendra K T, 2023)',
  }),
  completedGen: defineSwitch({
    arch: 'x86',
    values: {
      off: 'every deferred flush is made, even one that a later flush of the mm already covered',
      'skip-completed': 'mm->tlb_gen_completed holds the newest generation whose flush finished; try_to_unmap_flush and flush_tlb_batched_pending skip a flush whose deferred generation is behind it (needs deferredFlushGen=bump)',
    },
    default: 'off',
    from: 'seed 000 patches 08 "mm: store completed TLB generation", 15 "mm: detect deferred TLB flushes in vma granularity", 17 "mm/tlb: updated completed deferred TLB flush conditionally"',
  }),
  lazyTlb: defineSwitch({
    arch: 'x86',
    values: {
      'lazy-cpumask': 'a CPU stays in mm_cpumask after switching away; a flush that freed no tables IPIs only the CPUs of the mask that have the mm loaded and are not lazy (should_flush_tlb), and a stale CPU leaves the mask when a flush reaches it',
      'clear-at-switch': 'switch_mm clears the CPU from the old mm\'s mm_cpumask; a flush that freed no tables IPIs every CPU of the mask that is not lazy (tlb_is_not_lazy)',
    },
    default: 'lazy-cpumask',
    from: 'mainline 209954cbc7d0 "x86/mm/tlb: Update mm_cpumask lazily" and 6db2526c1d69 "x86/mm/tlb: Only trim the mm_cpumask once a second" (v6.14; the once-a-second trim is not modelled); clear-at-switch is the rule before them',
  }),
  x86TlbFlush: defineSwitch({
    arch: 'x86',
    values: {
      ipi: 'native_flush_tlb_multi: the initiator IPIs the CPUs that may cache the range and waits for each to flush (bare metal without INVLPGB)',
      invlpgb: 'AMD INVLPGB/TLBSYNC (v6.15): an mm running on more than three CPUs gets a global ASID and is flushed by broadcast invalidation, which interrupts no one and completes at the initiator\'s TLBSYNC; reclaim\'s batch flushes every non-global ASID the same way',
      'kvm-pv': 'a KVM guest (kvm_flush_tlb_multi): a vCPU the host has preempted is not IPIed; the flush is left in its steal_time.preempted as KVM_VCPU_FLUSH_TLB, and the host flushes its TLB before it runs guest code again',
    },
    default: 'ipi',
    from: 'mainline INVLPGB: b7aa05cbdc52 "x86/mm: Add INVLPGB support code", d504d1247e36 global ASID helpers, 4afeb0ed1753 "x86/mm: Enable broadcast TLB invalidation for multi-threaded processes", 72a920eacd8a and 0b7eb55cb706 for reclaim (v6.15); mainline kvm-pv: "KVM: X86: use paravirtualized TLB Shootdown" (Wanpeng Li, v4.16: arch/x86/kernel/kvm.c kvm_flush_tlb_multi, arch/x86/kvm/x86.c record_steal_time)',
  }),
  asidTransition: defineSwitch({
    arch: 'x86',
    values: {
      mainline: 'finish_asid_transition waits for every CPU of mm_cpumask that is in the middle of switch_mm (loaded_mm == LOADED_MM_SWITCHING), then IPIs the mask if any CPU running the mm is not on its global ASID yet',
      'no-switching-wait': 'finish_asid_transition skips a CPU in the middle of switch_mm as one that does not run the mm: a CPU that chose its per-CPU ASID before the mm got its global one loads it unseen, the transition is declared over, and the broadcasts (which name only the global PCID) never reach its entries',
    },
    default: 'mainline',
    from: 'mainline 4afeb0ed1753 "x86/mm: Enable broadcast TLB invalidation for multi-threaded processes" (v6.15), finish_asid_transition: "The remote CPU is context switching. Wait for that to finish, to catch the unlikely case of it switching to the target mm with an out of date ASID."; no-switching-wait is that loop without the wait (not a posted version: every version of the series found has the wait)',
  }),
  tlbbatchFlush: defineSwitch({
    arch: 'x86',
    values: {
      broadcast: 'with INVLPGB, arch_tlbbatch_flush is one INVLPGB of every non-global entry of every PCID and a TLBSYNC: global ASIDs are flushed on every CPU, running their mm or not',
      'ipi-cpumask': 'with INVLPGB, arch_tlbbatch_flush IPIs the batch\'s cpumask as without it: a CPU on a global ASID answers without flushing (flush_tlb_func leaves global ASIDs to INVLPGB), and reclaim frees pages its TLB still maps',
    },
    default: 'broadcast',
    from: 'mainline 72a920eacd8a "x86/mm: Use broadcast TLB flushing in page reclaim" and 0b7eb55cb706 (v6.15); the INVLPGB series fixed its reclaim flush twice in review: v2 "Fix bug in arch_tlbbatch_flush, where we need to do both the TLBSYNC, and flush the CPUs that are in the cpumask", v5 "fix a race between reclaim and ASID transition (Jann)". ipi-cpumask is the batch flush left as it was before the series, with global ASIDs in use',
  }),
  perVmaLock: defineSwitch({
    values: {
      on: 'the page fault first looks the VMA up under RCU and read-locks it alone (lock_vma_under_rcu); it takes the mmap_lock only when the VMA is write-locked, gone or missing. mmap, munmap, mprotect, khugepaged write-lock each VMA they change (vma_start_write)',
      off: 'every page fault takes the mmap_lock for reading and vma_start_write does nothing (CONFIG_PER_VMA_LOCK=n): a fault waits behind any mmap, munmap or mprotect of the process, whatever VMA they touch',
    },
    default: 'on',
    from: 'seed 003: "mm: introduce lock_vma_under_rcu to be used from arch-specific code" (Suren Baghdasaryan, 20230227173632.3292573-24-surenb@google.com), "mm: add per-VMA lock and helper functions to control it", "x86/mm: try VMA lock-based page fault handling first" (v6.4); mainline c46000458d57 "mm/mmap: write-lock VMAs before merging, splitting or expanding them"',
  }),
  forkFlush: defineSwitch({
    values: {
      'flush-tlb-mm': "dup_mmap ends with flush_tlb_mm(oldmm) before it releases the parent's mmap_lock: once fork returns, no CPU writes through an entry to a page that copy_present_pte write-protected",
      none: "dup_mmap write-protects the parent's private PTEs and returns without a flush: a thread of the parent keeps storing through its cached writable entry into the page the child now shares, and a copy-on-write copies the page without the stores that follow",
    },
    default: 'flush-tlb-mm',
    from: "mainline kernel/fork.c:dup_mmap, whose flush_tlb_mm(oldmm) sits between mmap_write_unlock(mm) and mmap_write_unlock(oldmm); mainline 77fff4ae2b7b (Atsushi Nemoto, Ralf Baechle, 2006) describes the window it closes: another thread of the parent writes COW pages between the write-protect and the flush, and a later wp_page_copy must still see those writes. none is no mainline or posted version: the fork without the flush, to show what the flush is for",
  }),
  forkVmaLock: defineSwitch({
    values: {
      on: "dup_mmap write-locks every VMA of the parent as it copies it (vma_start_write): a fault under the per-VMA lock waits, or falls back to the mmap_lock fork holds, until fork has flushed and returned",
      off: "dup_mmap relies on the mmap_lock alone, as before the fix: with perVmaLock=on a thread of the parent takes a write fault under the VMA lock while fork copies the VMA, and copies a page fork just write-protected while another thread still writes it through an entry fork's flush has not yet removed: those stores stay in the child's page",
    },
    default: 'on',
    from: 'mainline fb49c455323f "fork: lock VMAs of the parent process when forking" (v6.5, Fixes: 0bff0aaea03e "x86/mm: try VMA lock-based page fault handling first"); bugzilla 217624 and the reports it closes (memory corruption in forking programs with per-VMA locks)',
  }),
  lazyfreeCheck: defineSwitch({
    values: {
      'refcount-after-clear': 'try_to_unmap_one clears the lazyfree page\'s PTE, then (smp_mb) reads its reference count and keeps the page mapped when it holds more than reclaim\'s and the mappings\' (a GUP pin, maybe a direct IO read still writing): GUP-fast takes its reference, then reads the PTE again, so one of the two sees the other',
      'dirty-only': 'try_to_unmap_one discards a lazyfree page\'s mapping when the page and the PTE are clean, whoever holds it: a direct IO read that pinned the page and has not yet marked it dirty writes into a page the process no longer maps, which reads as zeros afterwards',
    },
    default: 'refcount-after-clear',
    from: 'mainline 6c8e2a256915 "mm: fix race between MADV_FREE reclaim and blkdev direct IO read" (v5.18); faeb2831b517 "mm: set folio swapbacked iff folios are dirty in try_to_unmap_one" (v6.15) leaves a page with an extra reference lazyfree',
  }),
  filemapFaultLock: defineSwitch({
    values: {
      locked: 'filemap_fault returns the page locked after checking, under the lock, that it is still in the page cache and inside i_size; finish_fault maps it before it is unlocked, and truncate, which removes each page under its lock after lowering i_size, either unmaps what the fault mapped or makes the fault fail with SIGBUS',
      unlocked: 'a read fault maps the page its lookup found without locking it or looking again: a truncate that removed it meanwhile returns, and the fault then maps a page the file no longer has, past the end; loads there read it instead of raising SIGBUS',
    },
    default: 'locked',
    from: 'mainline d00806b18315 "mm: fix fault vs invalidate race for linear mappings" (v2.6.23): the page lock in the fault path, which closed the race for invalidation inside i_size; before it truncate relied on mapping->truncate_count, a sequence count do_no_page rechecked, not modelled: unlocked is the fault path with neither',
  }),
  mremapFlush: defineSwitch({
    values: {
      'under-ptl': 'move_ptes flushes the old range whenever it moved a present PTE, before it drops the old and new PTLs: by the time truncate or reclaim can reach the page at its new address, no TLB translates the old one',
      'after-unlock': 'move_ptes flushes under the PTLs only when it moved a dirty PTE; for clean ones it sets need_flush, and move_page_tables flushes the old range after its loop, every PTL and rmap lock dropped: truncate can find the page at its new address, zap it there (flushing the new address only) and free it while a CPU still reads it through its old TLB entry',
    },
    default: 'under-ptl',
    from: 'mainline eb66ae030829 "mremap: properly flush TLB before releasing the page" (v4.19, CVE-2018-18281, reported by Jann Horn); after-unlock is move_ptes as 5d1904204c99 "mremap: fix race between mremap() and page cleanning" (v4.9) left it. The PMD-level move (move_normal_pmd, v4.20) flushes under its locks either way',
  }),
  // arm64 only (arch/arm64/context.ts): to be marked arch: 'arm64' once SwitchSpec says which
  // architectures a switch applies to
  arm64AsidFastPath: defineSwitch({
    arch: 'arm64',
    values: {
      cmpxchg: 'check_and_switch_context reads active_asids first and keeps its ASID on the fast path only if that value is not 0 and a cmpxchg from it succeeds: a rollover that zeroed active_asids in between sends the CPU to the slow path with active_asids still 0, so the next rollover reserves nothing stale for it',
      xchg: 'the fast path xchg()es the ASID into active_asids whatever it holds: when a rollover zeroed it in between, the xchg returns 0 and the CPU takes the slow path, but active_asids now holds the old generation\'s ASID; a second rollover before the CPU gets cpu_asid_lock reserves that stale ASID, which another mm was given meanwhile, and two live mms end up with one ASID in one generation',
    },
    default: 'cmpxchg',
    from: 'mainline a8ffaaa060b8 "arm64: asid: Do not replace active_asids if already 0" (found by Catalin Marinas\'s TLA+ model, cmarinas/kernel-tla asidalloc.tla). The commit text itself is not in the sources searched; the fast paths are read from arch/arm64/mm/context.c before it (the xchg of 5aec715d7d3b "arm64: mm: rewrite ASID allocator and MM context-switching code") and after it',
  }),
  arm64BatchedPending: defineSwitch({
    arch: 'arm64',
    values: {
      'flush-tlb-mm': 'flush_tlb_batched_pending flushes the mm by ASID (TLBI ASIDE1IS, then DSB ISH): every entry of the mm is gone from every CPU when it returns, whatever TLBIs reclaim posted on other CPUs',
      dsb: 'arch_flush_tlb_batched_pending is a bare DSB ISH on the calling CPU: it completes only the TLBIs this CPU posted, none of those reclaim posted on another CPU without its DSB, so madvise or mprotect may return while a CPU still translates through an entry reclaim cleared',
    },
    default: 'flush-tlb-mm',
    from: 'mainline 4b634918384c "arm64/mm: Close theoretical race where stale TLB entry remains valid" (Ryan Roberts) made it flush_tlb_mm; dsb is arm64\'s arch_flush_tlb_batched_pending as 43b3dfdd0455 "arm64: support batched/deferred tlb shootdown during page reclamation/migration" (Barry Song) added it. Later "mm: remove arch_flush_tlb_batched_pending() arch helper" put flush_tlb_mm in mm/rmap.c for every arch',
  }),
  anonMthp: defineSwitch({
    values: {
      off: 'hugepages-64kB/enabled is never: do_anonymous_page maps one zeroed 4 KiB page per fault',
      '64k': 'hugepages-64kB/enabled is always: an anonymous fault whose naturally aligned 64 KiB lies inside the VMA with all 16 PTEs none allocates one order-4 folio, zeroed, and maps it with one set_ptes of 16 entries; otherwise, or when no aligned block of frames is free, it falls back to order 0',
    },
    default: 'off',
    from: 'mainline 19eaf44954df "mm: thp: support allocation of anonymous multi-size THP" (v6.8, Ryan Roberts): alloc_anon_folio, thp_vma_suitable_order, pte_range_none; every size\'s sysfs control defaults to never',
  }),
  contpteUnfold: defineSwitch({
    arch: 'arm64',
    values: {
      bbm: 'a change of one PTE inside a valid contiguous block (set_pte_at, ptep_get_and_clear, ptep_set_wrprotect of one page) unfolds the block first: contpte_try_unfold -> contpte_convert clears the 16 entries gathering dirty and young, flushes the block by VA (TLBI VALE1IS, DSB ISH) and writes them back without PTE_CONT (break-before-make), then changes the one PTE',
      'no-bbm': 'the single-PTE change is written straight over the valid block: no unfold, no clear, no TLBI; the other 15 entries keep PTE_CONT, so the block is left misprogrammed and a CPU may cache a contiguous entry beside a 4 KiB entry for one address',
    },
    default: 'bbm',
    from: 'mainline 4602e5757bcc "arm64/mm: wire up PTE_CONT for user mappings" (Ryan Roberts, v6.9): contpte_try_unfold before every single-PTE modifier. no-bbm is what arm64\'s set_pte does (seed 004 quotes it from the v-series, and it is still in pgtable.h: "set_pte() is not used in core code... Regardless do our best to service any call and emit a warning if there is any attempt to set a pte on top of an existing contig range", WARN_ON_ONCE, then __set_pte of the non-contiguous PTE), applied here to the single-PTE changes that do unfold in every merged kernel: a what-if, not a bug that shipped',
  }),
  contpteAccessFlags: defineSwitch({
    arch: 'arm64',
    values: {
      'per-subpte': 'contpte_ptep_set_access_flags returns "nothing to do" only when every one of the 16 sub-PTEs already has the PTE_RDONLY, PTE_AF, PTE_WRITE and PTE_DIRTY of the entry asked for (contpte_all_subptes_match_access_flags), and decides whether to unfold on the raw target\'s write bit; otherwise the whole block is updated',
      gathered: 'the no-op check compares the block\'s gathered ptep_get (dirty and young ORed over the 16 sub-PTEs) with the entry: a dirty or young sibling hides a target sub-PTE that still has PTE_RDONLY (write fault) or lacks PTE_AF (read fault), the handler does nothing, and a walker that evaluates each descriptor on its own faults again on the same PTE forever',
    },
    default: 'per-subpte',
    from: 'mainline "arm64: contpte: fix set_access_flags() no-op check for SMMU/ATS faults" (Piotr Jaroszynski, March 2026, for v7.0-rc; Fixes: 4602e5757bcc "arm64/mm: wire up PTE_CONT for user mappings", v6.9). gathered is contpte_ptep_set_access_flags from 4602e5757bcc until that fix',
  }),
} as const;

export type SwitchName = keyof typeof SWITCHES;
export type SwitchValue<N extends SwitchName> = keyof (typeof SWITCHES)[N]['values'];
/** One value per switch; frozen. */
export type KernelConfig = { readonly [N in SwitchName]: SwitchValue<N> };
export type SwitchAssignment = { [N in SwitchName]: { name: N; value: SwitchValue<N> } }[SwitchName];

export const SWITCH_NAMES = Object.keys(SWITCHES) as SwitchName[];

/** A switch's values, in the table's order. */
export function switchValues<N extends SwitchName>(name: N): SwitchValue<N>[] {
  return Object.keys(SWITCHES[name].values) as SwitchValue<N>[];
}

const DEFAULTS: KernelConfig = Object.freeze(
  Object.fromEntries(SWITCH_NAMES.map((name) => [name, SWITCHES[name].default])) as KernelConfig,
);

/** Today's mainline kernel. */
export function defaultKernelConfig(): KernelConfig {
  return DEFAULTS;
}

export function isSwitchName(name: string): name is SwitchName {
  return Object.hasOwn(SWITCHES, name);
}

/** Splits 'switch=value' (not checked against any switch); a UsageError when it is malformed. */
export function splitAssignment(assignment: string): { name: string; value: string } {
  const eq = assignment.indexOf('=');
  if (eq <= 0 || eq === assignment.length - 1) {
    throw new UsageError(`malformed switch assignment ${JSON.stringify(assignment)}; expected --set switch=value`);
  }
  return { name: assignment.slice(0, eq), value: assignment.slice(eq + 1) };
}

/** Checks that `value` is one of switch `name`'s values; the UsageError lists them. */
export function checkSwitchValue(name: string, spec: Pick<SwitchSpec, 'values'>, value: string): void {
  const values = Object.keys(spec.values);
  if (!values.includes(value)) throw new UsageError(`unknown value '${value}' for switch ${name}; values: ${values.join(', ')}`);
}

/** Parses 'switch=value'; a UsageError names what is wrong and what is accepted. */
export function parseSwitchAssignment(assignment: string): SwitchAssignment {
  const { name, value } = splitAssignment(assignment);
  if (!isSwitchName(name)) {
    throw new UsageError(`unknown switch '${name}'; switches: ${SWITCH_NAMES.join(', ')}`);
  }
  checkSwitchValue(name, SWITCHES[name], value);
  return { name, value } as SwitchAssignment;
}

/** The architecture a switch's value belongs to, or null for generic mm code (every architecture). */
export function switchArch(spec: Pick<SwitchSpec, 'arch' | 'valueArch'>, value: string): ArchName | null {
  return spec.arch ?? spec.valueArch?.[value] ?? null;
}

/** Whether a switch applies to `arch`: generic, of that architecture, or with a value of it. */
export function switchAppliesTo(spec: Pick<SwitchSpec, 'arch'>, arch: Arch): boolean {
  return spec.arch === undefined || spec.arch === archName(arch);
}

/** Checks that `name=value` is of the run's architecture; the UsageError names the switch's. */
export function checkSwitchArch(name: string, spec: Pick<SwitchSpec, 'arch' | 'valueArch'>, value: string, arch: Arch): void {
  const of = switchArch(spec, value);
  if (of !== null && of !== archName(arch)) {
    const what = spec.arch !== undefined ? `switch ${name} models ${of} code` : `${name}=${value} is ${of} only`;
    throw new UsageError(`${what}; this run is ${archName(arch)} (--arch ${of} to use it)`);
  }
}

/**
 * A new frozen config: base with each 'switch=value' applied in order; base is not touched. With
 * `arch`, a switch (or value) of another architecture is a UsageError.
 */
export function applySwitches(base: KernelConfig, assignments: readonly string[], arch?: Arch): KernelConfig {
  const config: Record<string, string> = { ...base };
  for (const assignment of assignments) {
    const { name, value } = parseSwitchAssignment(assignment);
    if (arch !== undefined) checkSwitchArch(name, SWITCHES[name], value, arch);
    config[name] = value;
  }
  return Object.freeze(config) as KernelConfig;
}
