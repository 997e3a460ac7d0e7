/*
 * The oracles: rules checked at the moment of the access, on the CPU that makes it, so that a
 * report points at the access that broke the rule. An oracle never trusts a flag a kernel path
 * sets about itself; it looks at what the hardware did. The trust rule (DESIGN 3): each oracle
 * reports one exact condition that mainline can never reach, so that under a fixed or mainline
 * kernel any report is a bug of the emulator or of the kernel, never noise. For each kind, what
 * it reports and why mainline never gets there:
 *
 *   use-after-free   an access completes through a TLB entry whose frame generation (read at the
 *                    fill, while the PTE mapped the frame) differs from the frame's now: the
 *                    frame was freed since the fill. Checked on every TLB hit, one plain read.
 *                    Mainline frees a page only after the flush that removed every translation
 *                    of it (tlb_finish_mmu, try_to_unmap_flush before the free); a CPU it skips
 *                    (lazy) runs no user code of the mm, and catches up on tlb_gen before it does.
 *   access-after-return   an access through a translation filled before a munmap, madvise or
 *                    mprotect that covers it returned, that no longer agrees with the PTE
 *                    (promises.ts, which states the exact rule for entries filled during the call).
 *                    Mainline flushes every TLB of the mm before such a call returns (with
 *                    flush_tlb_batched_pending for what reclaim left pending).
 *   lost-write       a store through an entry filled before writeback last copied the page, onto
 *                    a page that is clean and that no dirty PTE maps (checkFileStore below, with
 *                    the argument). Mainline flushes every writable translation before the copy.
 *   freed-table-walk a page walk starts from a paging-structure-cache entry whose table frame
 *                    has been freed since it was cached (walker.ts), or GUP-fast, with IRQs off,
 *                    read a table that was freed before it finished (kernel/gup.ts). Mainline
 *                    frees a table only after a flush with freed_tables set, which also reaches
 *                    lazy CPUs and drops the paging-structure caches, and after GUP-fast walkers
 *                    have left (the IRQ-disabled walk holds off the sync IPI or the RCU grace
 *                    period that frees the table).
 *   lost-dirty-bit / lost-accessed-bit   a kernel store over a PTE wipes a D or A bit that the
 *                    walker set and that no kernel primitive ever returned (lost-bits.ts); on the
 *                    CPU whose store wiped it, at the store. Mainline takes bits away only with
 *                    xchg or cmpxchg, whose returned value carries them.
 *   gup-pin-unmapped a GUP-fast pin that survives to its caller although, once the pin was taken,
 *                    the PTE no longer mapped that frame (kernel/gup.ts). Mainline's GUP-fast
 *                    rechecks the PTE after taking the reference and drops the pin if it changed.
 *   tlb-conflict     two entries of one TLB translate one address differently: a 2 MiB entry
 *                    enters the TLB while a 4 KiB entry of its range maps another frame than the
 *                    2 MiB page's or with other permissions, or a 4 KiB entry from a PTE enters
 *                    it while a 2 MiB translation of its page differs (SDM vol. 3 4.10.2.3: the
 *                    processor may use either, or fail, AMD erratum 383). Checked by the walker at
 *                    the fill, on the filling CPU's own TLB, once per fill. Mainline replaces a
 *                    PMD's table by a huge entry (and back) only after clearing the PMD and
 *                    flushing the range (pmdp_collapse_flush, pmdp_invalidate).
 *                    arm64's contiguous entries (16 pages, PTE_CONT): a translation of one size
 *                    entering beside one of the other size for the same address is a conflict
 *                    whatever the two map (Arm ARM D8.16.1: changing the contiguous bit without
 *                    break-before-make may raise a TLB conflict abort or use an amalgam), so a
 *                    4 KiB fill from a PTE without PTE_CONT while the contiguous entry covering
 *                    the page (or its TLBF_CONT piece for the page) is cached, and a contiguous
 *                    fill while a 4 KiB entry of its block that is not a piece of it is cached,
 *                    are reported; a contiguous fill beside pieces of its block that map other
 *                    frames too (the block was refolded onto other frames without BBM). Mainline
 *                    changes PTE_CONT only in contpte_convert, which clears the 16 entries, flushes
 *                    the range and waits for the DSB before it writes the new ones, so no CPU can
 *                    still hold the old size when the new descriptors become visible (the model's
 *                    CPUs lack BBML2_NOABORT, with which the flush is elided).
 *   lost-data        the ground truth, at the end of a trial: a word no longer holds any value a
 *                    CPU last stored to it since the program last discarded it (data.ts).
 *   foreign-translation   a user access completes through a TLB entry that another mm's walk
 *                    filled (another allocation of the mm's slot counts as another mm): the
 *                    entry's epoch carries its filler's tag (promises.ts), checked on the hit's
 *                    slow half only, since a foreign epoch never equals the loaded mm's word.
 *                    Mainline never tags two live mms' entries alike on one CPU: x86 flushes a
 *                    PCID slot before it serves another mm (choose_new_asid, a new ctx_id), and
 *                    a freed global ASID only after a flush of every CPU; arm64 hands an ASID to
 *                    one mm per generation, and every CPU flushes its TLB before it runs an ASID
 *                    of a new generation (flush_context's tlb_flush_pending). User entries are
 *                    never global.
 *   fault-loop       a livelock in the fault path: the page-fault handler reported a fault
 *                    resolved, yet left the PTE exactly as it was (same word, same value), and the
 *                    retried access faulted on it again in the same way (same CPU, address,
 *                    access and fault code), FAULT_LOOP_ROUNDS times in a row (cpu/cpu.ts
 *                    translateSlow, on the retries of one access only: never on the hot path).
 *                    The walker's decision is a function of the PTE (the fault dropped this CPU's
 *                    TLB entry for the page), so once nobody else changes the PTE the CPU faults
 *                    forever. Mainline's handler changes a PTE that does not allow the access
 *                    (ptep_set_access_flags, do_wp_page, a new mapping), or fails the access; it
 *                    returns without a change only when the PTE it finds under the PTL allows the
 *                    access (a spurious fault: the retry's walk succeeds) or another CPU is in the
 *                    middle of changing it (a truncate, a racing fault). One round of that is an
 *                    ABA of the PTE by other CPUs or a wait on their progress; the report asks
 *                    for FAULT_LOOP_ROUNDS in a row with the PTE never seen changed, far more than
 *                    any such window lasts. The access then fails (SIGSEGV) so that the run ends.
 *   assertion        the scenario's own check: a program's cpu.expect(condition, message) found
 *                    its condition false (cpu/cpu.ts). Not an oracle of the emulator: what it
 *                    means is the scenario's; the report carries the program's message.
 *
 * A violation is recorded in the shared violation log (violation-layout.ts) and as an event in the
 * CPU's ring; the access itself completes, as it would on hardware.
 */
import { H_STEP, H_STRATEGY, KIND_STEP_BASE } from '../schedule/layout.ts';
import type { MachineViews } from '../machine/memory.ts';
import { G_TRACE_SEQ } from '../machine/globals-layout.ts';
import { Ev, seqDiff, traceEvent } from '../trace/events.ts';
import { FRAME_META_WORDS, META_FLAGS, META_WRITTEN_SEQ, PAGE_SIZE, PG_DIRTY } from '../machine/phys-layout.ts';
import { pteAtNoSideEffects } from '../machine/pagetable.ts';
import { pteDirty, ptePfn, ptePresent } from '../machine/pte.ts';
import {
  CONT_VPNS, HPAGE_VPNS, TLB_CONT_PIECES, TLB_ENTRIES, TLB_HUGE_PIECES, TLB_SETS, TLB_WAYS, TLBE_FLAGS, TLBE_PFN, TLBE_VPN, TLBE_WORDS,
  TLBF_CONT, TLBF_HUGE, TLBF_NX, TLBF_USER, TLBF_WRITE,
} from '../machine/tlb-layout.ts';
import { readText } from './user-text.ts';
import { ctlbLookup, htlbLookup, tlbBase, tlbEntryServesPcid, tlbLookup } from '../machine/tlb.ts';
import {
  DETAIL_WORDS, MAX_KINDS, MAX_VIOLATIONS, V_BASE, V_COUNT, V_FIRST_BASE, V_KIND_COUNT, VR_A0, VR_CPU, VR_KIND, VR_SEQ, VR_VPN, VR_WORDS,
} from './violation-layout.ts';

/**
 * Faults in a row on one PTE, each resolved by the handler without a change, that make a
 * fault-loop report (cpu/cpu.ts). A livelocked CPU makes them in milliseconds; mainline's windows
 * in which a racing CPU holds a PTE in a state another CPU's fault must wait out (or changes and
 * restores it) last a few rounds.
 */
export const FAULT_LOOP_ROUNDS = 4096;

export const enum ViolationKind {
  UseAfterFree = 1,
  AccessAfterReturn = 2,
  LostWrite = 3, // details: pfn, PTE now, the entry's fill sequence, the page's last writeback sequence
  FreedTableWalk = 4,
  LostDirtyBit = 5, // details: pfn, PTE overwritten, PTE stored, word index of the PTE
  LostAccessedBit = 6, // details as for LostDirtyBit
  GupPinUnmapped = 7, // details: pfn pinned, PTE as GUP-fast read it, PTE after the pin, mm
  // details: pfn through the 4 KiB entry, pfn through the 2 MiB one, the page shift of the entry
  // being filled (12 or 21), the permission bits (TLBF_*) on which they differ; for an arm64
  // contiguous entry the larger one's page shift, 16 (0 for 2 MiB), and shift 16 for its fill
  TlbConflict = 8,
  // details: the value found, a value expected (the last one recorded), the CPU that stored it,
  // where it was found (0 memory through a load, 1 the page cache, 2 the disk) (data.ts)
  LostData = 9,
  // details: the message's offset in the run's string table (check/user-text.ts)
  Assertion = 10,
  // details: pfn, the mm whose walk filled the entry, the mm loaded, the ASID (PCID) tag, write
  ForeignTranslation = 11,
  // details: the PTE faulted on, its word index, the fault code (machine/walker*.ts FAULT_*), write,
  // the faults in a row on it
  FaultLoop = 12,
}

export const VIOLATION_KIND_NAMES: Record<number, string> = {
  [ViolationKind.UseAfterFree]: 'use-after-free',
  [ViolationKind.AccessAfterReturn]: 'access-after-return',
  [ViolationKind.LostWrite]: 'lost-write',
  [ViolationKind.FreedTableWalk]: 'freed-table-walk',
  [ViolationKind.LostDirtyBit]: 'lost-dirty-bit',
  [ViolationKind.LostAccessedBit]: 'lost-accessed-bit',
  [ViolationKind.GupPinUnmapped]: 'gup-pin-unmapped',
  [ViolationKind.TlbConflict]: 'tlb-conflict',
  [ViolationKind.LostData]: 'lost-data',
  [ViolationKind.Assertion]: 'assertion',
  [ViolationKind.ForeignTranslation]: 'foreign-translation',
  [ViolationKind.FaultLoop]: 'fault-loop',
};

function writeRecord(v: MachineViews, r: number, cpu: number, kind: ViolationKind, seq: number, vpn: number, a0: number, a1: number, a2: number, a3: number, a4: number): void {
  v.violations[r + VR_KIND] = kind;
  v.violations[r + VR_CPU] = cpu;
  v.violations[r + VR_SEQ] = seq;
  v.violations[r + VR_VPN] = vpn;
  v.violations[r + VR_A0] = a0;
  v.violations[r + VR_A0 + 1] = a1;
  v.violations[r + VR_A0 + 2] = a2;
  v.violations[r + VR_A0 + 3] = a3;
  v.violations[r + VR_A0 + 4] = a4;
}

/**
 * Records a violation seen on `cpu` at `vpn`; `a0..a4` are the kind's details (check/describe.ts
 * names them; a4 is 0 for the kinds that need four). `cpu` is -1 for the control plane (no CPU,
 * no ring: the record only).
 */
export function reportViolation(v: MachineViews, cpu: number, kind: ViolationKind, vpn: number, a0: number, a1: number, a2: number, a3: number, a4 = 0): void {
  // the Violation event's own stamp; the control plane, which has no ring, takes a place of its own
  const seq = cpu >= 0 ? traceEvent(v, cpu, Ev.Violation, kind, vpn, a0, a1) : Atomics.add(v.globals, G_TRACE_SEQ, 1);
  if (kind >= 1 && kind <= MAX_KINDS && Atomics.add(v.violations, V_KIND_COUNT + kind, 1) === 0) {
    writeRecord(v, V_FIRST_BASE + (kind - 1) * VR_WORDS, cpu, kind, seq, vpn, a0, a1, a2, a3, a4);
    // where a controlled run's schedule stood (schedule/layout.ts): a schedule file's verdict
    if (v.sched[H_STRATEGY] !== 0) v.sched[KIND_STEP_BASE + kind] = Atomics.load(v.sched, H_STEP);
  }
  const n = Atomics.add(v.violations, V_COUNT, 1);
  if (n >= MAX_VIOLATIONS) return;
  writeRecord(v, V_BASE + n * VR_WORDS, cpu, kind, seq, vpn, a0, a1, a2, a3, a4);
}

export interface Violation {
  kind: string;
  cpu: number;
  seq: number;
  va: number;
  details: number[];
  /** an assertion's message (check/user-text.ts) */
  text?: string;
}

export function violationCount(v: MachineViews): number {
  return Atomics.load(v.violations, V_COUNT);
}

/** How many reports of `kind` were made (all of them, beyond the log's records too). */
export function violationCountOf(v: MachineViews, kind: ViolationKind): number {
  return Atomics.load(v.violations, V_KIND_COUNT + kind);
}

/** A kind's name; `kind-N` for a number no name was given to. */
const kindName = (kind: number): string => VIOLATION_KIND_NAMES[kind] ?? `kind-${kind}`;

function readRecord(v: MachineViews, r: number): Violation {
  const kind = v.violations[r + VR_KIND];
  const record: Violation = {
    kind: kindName(kind),
    cpu: v.violations[r + VR_CPU],
    seq: v.violations[r + VR_SEQ] >>> 0, // unsigned: the sequence wraps (trace/events.ts)
    va: v.violations[r + VR_VPN] * 4096,
    details: Array.from(v.violations.subarray(r + VR_A0, r + VR_A0 + DETAIL_WORDS)),
  };
  if (kind === ViolationKind.Assertion) record.text = readText(v, record.details[0]);
  return record;
}

/** The kinds reported in this run, 1..MAX_KINDS. */
function reportedKinds(v: MachineViews): number[] {
  return Array.from({ length: MAX_KINDS }, (_, i) => i + 1).filter((kind) => Atomics.load(v.violations, V_KIND_COUNT + kind) > 0);
}

/**
 * The recorded violations, in the order they were claimed, then the first report of each kind
 * that the log had no room left for. Read after the run.
 */
export function readViolations(v: MachineViews): Violation[] {
  const n = Math.min(MAX_VIOLATIONS, violationCount(v));
  const out = Array.from({ length: n }, (_, i) => readRecord(v, V_BASE + i * VR_WORDS));
  const logged = new Set(Array.from({ length: n }, (_, i) => v.violations[V_BASE + i * VR_WORDS + VR_KIND]));
  for (const kind of reportedKinds(v)) if (!logged.has(kind)) out.push(readRecord(v, V_FIRST_BASE + (kind - 1) * VR_WORDS));
  return out;
}

/** The first report of each kind reported in this run, by kind number. Read after the run. */
export function readFirstReports(v: MachineViews): Violation[] {
  return reportedKinds(v).map((kind) => readRecord(v, V_FIRST_BASE + (kind - 1) * VR_WORDS));
}

/** How many reports of each kind this run made, by kind name; kinds not reported are left out. */
export function readReportCounts(v: MachineViews): Record<string, number> {
  return Object.fromEntries(reportedKinds(v).map((kind) => [kindName(kind), Atomics.load(v.violations, V_KIND_COUNT + kind)]));
}

/**
 * Writeback has copied page-cache frame `pfn` to the disk (called by the kernel's writeback right
 * after the copy): from now on a TLB entry filled before this moment has outlived a writeback.
 */
export function noteWrittenBack(v: MachineViews, pfn: number): void {
  // its own place in the global order, after the copy: a fill stamped before it came before it
  Atomics.store(v.frameMeta, pfn * FRAME_META_WORDS + META_WRITTEN_SEQ, Atomics.add(v.globals, G_TRACE_SEQ, 1));
}

/**
 * The lost-write oracle, for a store about to land on page-cache frame `pfn` at `vpn` through a
 * TLB entry filled at `fillSeq` (machine/tlb-layout.ts TLBE_FILL_SEQ). Reported when all three
 * hold:
 *   1. writeback copied the page to the disk after the entry was filled (META_WRITTEN_SEQ);
 *   2. the page is clean (PG_dirty clear);
 *   3. the PTE does not map the page dirty.
 * Then this store lands after the copy on a page nothing marks for writeback again: the data
 * reaches the disk only if some later write happens to redirty the page.
 *
 * Why mainline never gets here: a writable translation exists only of a dirty PTE (write-notify,
 * fault.ts), and writeback copies the page only after folio_mkclean has cleaned every PTE that
 * maps it and flushed its translations from every TLB of the mm, under the PTL (writeback.ts);
 * a PTE that zap or reclaim cleared first had its translations flushed before the PTL was dropped
 * (zap's force flush for a dirty file page) or before the I/O (try_to_unmap_flush_dirty). So an
 * entry filled before a copy cannot outlive it, and condition 1 alone is the kernel's bug; 2 and
 * 3 keep the report to a write that is really lost.
 *
 * What it leaves out on purpose: a store while a dirty bit is in flight (a PTE cleared by zap or
 * folio_mkclean, its D not yet carried to PG_dirty, or a write fault between setting its PTE and
 * marking the page dirty). The page looks clean and unmapped for a moment, but no writeback has
 * passed since the fill, and the dirty bit reaches the page right after: nothing is lost. The
 * three reads are not one atomic snapshot; condition 1 is read first, and once it holds the kernel
 * has already broken its rule, so a page redirtied between the other two reads cannot make a
 * report out of a correct kernel. The end-of-trial data check (data.ts) is the ground truth
 * behind this early warning.
 */
export function checkFileStore(v: MachineViews, cpu: number, cr3: number, vpn: number, pfn: number, fillSeq: number): void {
  const meta = pfn * FRAME_META_WORDS;
  const writtenSeq = Atomics.load(v.frameMeta, meta + META_WRITTEN_SEQ);
  if (seqDiff(writtenSeq, fillSeq) <= 0) return;
  if ((Atomics.load(v.frameMeta, meta + META_FLAGS) & PG_DIRTY) !== 0) return;
  // a look that marks nothing seen (lost-bits.ts): the oracle is not the kernel
  const pte = pteAtNoSideEffects(v, cr3, vpn * PAGE_SIZE);
  if (ptePresent(pte) && ptePfn(pte) === pfn && pteDirty(pte)) return;
  reportViolation(v, cpu, ViolationKind.LostWrite, vpn, pfn, pte, fillSeq, writtenSeq);
}

/**
 * The GUP pin oracle, first half, called right after GUP-fast took its pin on `pfn` for `va`:
 * does the page table of `pgd` map `pfn` at `va` now? A look that marks nothing seen, from the
 * root, so that a PTE table unhooked under the walk does not count as a mapping.
 */
export function gupPinMappedNoSideEffects(v: MachineViews, pgd: number, va: number, pfn: number): boolean {
  const pte = pteAtNoSideEffects(v, pgd, va);
  return ptePresent(pte) && ptePfn(pte) === pfn;
}

/**
 * The GUP pin oracle, second half, called when GUP-fast keeps the pin on `pfn` for `va` and hands
 * it to its caller. A pin is only as good as the mapping it was taken through: if the PTE no
 * longer mapped the frame when the pin was taken (`mappedAtPin`, the first half's answer), the
 * caller's DMA goes to a page the address no longer shows. Judged again now, so that a mapping
 * of the same frame back in place meanwhile (the ABA that gup_fast_pte_range's recheck also
 * accepts) is not reported. `pte` is the PTE as GUP-fast read it.
 */
export function checkGupPin(v: MachineViews, cpu: number, mm: number, pgd: number, va: number, pfn: number, pte: number, mappedAtPin: boolean): void {
  if (mappedAtPin || gupPinMappedNoSideEffects(v, pgd, va, pfn)) return;
  reportViolation(v, cpu, ViolationKind.GupPinUnmapped, Math.floor(va / PAGE_SIZE), pfn, pte, pteAtNoSideEffects(v, pgd, va), mm);
}

/** The permissions two translations of one address must agree on. */
const TLB_PERMS = TLBF_WRITE | TLBF_USER | TLBF_NX;

/**
 * The TLB-conflict oracle for a 2 MiB entry about to enter `cpu`'s TLB (its own, plain reads):
 * 2 MiB-aligned range of `vpn`, frames from `basePfn` on, `flags`. Any valid 4 KiB entry of the
 * range under `pcid` that maps another frame than base + offset, or the same frame with other
 * permissions, conflicts; a TLBF_HUGE piece of the same 2 MiB page does not (it stands for an
 * earlier fill of this entry, which the new one replaces). The first conflict is reported.
 */
export function checkHugeTlbFill(v: MachineViews, cpu: number, vpn: number, pcid: number, basePfn: number, flags: number): void {
  const t = v.tlb;
  const hvpn = vpn & ~(HPAGE_VPNS - 1);
  for (let i = 0, e = tlbBase(cpu); i < TLB_ENTRIES; i++, e += TLBE_WORDS) {
    const evpn = t[e + TLBE_VPN];
    if ((evpn & ~(HPAGE_VPNS - 1)) !== hvpn || !tlbEntryServesPcid(t, e, pcid)) continue;
    const hugePfn = basePfn + (evpn & (HPAGE_VPNS - 1));
    const piece = (t[e + TLBE_FLAGS] & TLBF_HUGE) !== 0;
    const perms = (t[e + TLBE_FLAGS] ^ flags) & TLB_PERMS;
    if (t[e + TLBE_PFN] !== hugePfn || (perms !== 0 && !piece)) {
      reportViolation(v, cpu, ViolationKind.TlbConflict, evpn, t[e + TLBE_PFN], hugePfn, 21, perms);
      return;
    }
  }
}

/**
 * The TLB-conflict oracle for a 4 KiB entry from a PTE about to enter `cpu`'s TLB: `vpn` to
 * `pfn` with `flags`. The 2 MiB translation of the page that the TLB holds (the 2 MiB entry, or
 * when that was evicted, a piece of it for this very page) must map the same frame with the same
 * permissions; and no contiguous translation of the page may be cached at all (the contiguous
 * entry covering it, or its piece for this very page).
 */
export function checkPteTlbFill(v: MachineViews, cpu: number, vpn: number, pcid: number, pfn: number, flags: number): void {
  const t = v.tlb;
  if (hugeConflict(v, cpu, vpn, pcid, pfn, flags, 12)) return;
  // pieces are installed with every contiguous fill, and the flag cleared only with the whole TLB
  if (t[tlbBase(cpu) + TLB_CONT_PIECES] === 0) return;
  let contPfn = -1;
  let contFlags = 0;
  const c = ctlbLookup(t, cpu, vpn, pcid);
  if (c >= 0) {
    contPfn = t[c + TLBE_PFN] + (vpn & (CONT_VPNS - 1));
    contFlags = t[c + TLBE_FLAGS];
  } else {
    const e = tlbLookup(t, tlbBase(cpu), vpn, pcid);
    if (e >= 0 && (t[e + TLBE_FLAGS] & TLBF_CONT) !== 0) {
      contPfn = t[e + TLBE_PFN];
      contFlags = t[e + TLBE_FLAGS];
    }
  }
  if (contPfn >= 0) reportViolation(v, cpu, ViolationKind.TlbConflict, vpn, pfn, contPfn, 12, (contFlags ^ flags) & TLB_PERMS, 16);
}

/**
 * The 2 MiB half of the 4 KiB and contiguous checks: the 2 MiB translation of `vpn` the TLB holds
 * differs from `pfn` and `flags`; reported with `shift`, the entry being filled. Whether it was.
 */
function hugeConflict(v: MachineViews, cpu: number, vpn: number, pcid: number, pfn: number, flags: number, shift: number): boolean {
  const t = v.tlb;
  let hugePfn: number;
  let hugeFlags: number;
  const h = htlbLookup(t, cpu, vpn, pcid);
  if (h >= 0) {
    hugePfn = t[h + TLBE_PFN] + (vpn & (HPAGE_VPNS - 1));
    hugeFlags = t[h + TLBE_FLAGS];
  } else {
    const e = t[tlbBase(cpu) + TLB_HUGE_PIECES] === 0 ? -1 : tlbLookup(t, tlbBase(cpu), vpn, pcid);
    if (e < 0 || (t[e + TLBE_FLAGS] & TLBF_HUGE) === 0) return false;
    hugePfn = t[e + TLBE_PFN];
    hugeFlags = t[e + TLBE_FLAGS];
  }
  const perms = (hugeFlags ^ flags) & TLB_PERMS;
  if (hugePfn === pfn && perms === 0) return false;
  reportViolation(v, cpu, ViolationKind.TlbConflict, vpn, pfn, hugePfn, shift, perms);
  return true;
}

/**
 * The TLB-conflict oracle for an arm64 contiguous entry about to enter `cpu`'s TLB from the
 * descriptor walked for `vpn`: the 16-page block of `vpn`, frames from `basePfn` on, `flags`.
 * A 4 KiB entry of the block under `pcid` that is not a contiguous piece conflicts whatever it
 * maps (a translation of the other size); a piece of a 2 MiB entry conflicts if it maps another
 * frame or permissions; a contiguous piece if it maps another frame than base + offset (its
 * permissions may differ: each sub-PTE has its own dirty and access state, and any of them may
 * become the block's translation). The 2 MiB translation of `vpn` is checked as for a 4 KiB fill.
 * The first conflict is reported.
 */
export function checkContTlbFill(v: MachineViews, cpu: number, vpn: number, pcid: number, basePfn: number, flags: number): void {
  const t = v.tlb;
  if (hugeConflict(v, cpu, vpn, pcid, basePfn + (vpn & (CONT_VPNS - 1)), flags, 16)) return;
  const cvpn = vpn & ~(CONT_VPNS - 1);
  const base = tlbBase(cpu);
  // the 4 KiB entries of one block sit in CONT_VPNS consecutive sets
  for (let i = 0; i < CONT_VPNS; i++) {
    let e = base + ((cvpn + i) & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
    for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
      if (t[e + TLBE_VPN] !== cvpn + i || !tlbEntryServesPcid(t, e, pcid)) continue;
      const eflags = t[e + TLBE_FLAGS];
      const contPfn = basePfn + i;
      const perms = (eflags ^ flags) & TLB_PERMS;
      const conflict = (eflags & TLBF_CONT) !== 0 ? t[e + TLBE_PFN] !== contPfn
        : (eflags & TLBF_HUGE) !== 0 ? t[e + TLBE_PFN] !== contPfn || perms !== 0
        : true;
      if (conflict) {
        reportViolation(v, cpu, ViolationKind.TlbConflict, cvpn + i, t[e + TLBE_PFN], contPfn, 16, perms, 16);
        return;
      }
    }
  }
}
