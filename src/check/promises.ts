/*
 * The promise oracle: an access must not complete through a translation that a munmap, madvise,
 * mprotect, ftruncate or fork already returned from removing or demoting (fork write-protects the
 * parent's private pages, as mprotect(PROT_READ) would, and holds the mmap_lock for writing
 * throughout the same way: it is judged as mprotect is).
 *
 * Such a system call takes a place in the global sequence when it starts (promiseStart) and, when
 * it returns, records a promise in its mm (kind, range, that start, and how long it ran): "no
 * translation of [start, end) filled before I returned is usable any more". A TLB entry remembers
 * the sequence at its fill, and the mm's promise count when it was last checked. On a hit the CPU
 * compares that count with the mm's (one plain read); only when promises were made since does it
 * look at them: for each one that covers the address (a write-protect counts for stores only), it
 * compares the entry with the page table as it is now. An entry that maps another frame, a page
 * no longer present, or a write the PTE no longer allows is an access after the promise: a
 * violation.
 *
 * Entries filled while the call ran: munmap and madvise run with the mmap_lock held for reading
 * (munmap after its downgrade), so faults on other CPUs may map new pages in the range while they
 * run, and an entry filled from such a page maps what is there now; judged against a later call
 * still in progress, it would look stale. So entries filled after a munmap or MADV_DONTNEED
 * started are not judged by it (a missed report at worst). mprotect holds the mmap_lock for
 * writing from before its first PTE change to after its promise: no fault runs meanwhile, and a
 * translation filled while it ran was filled from a PTE as it was before the change (the walker
 * never fills from a PROT_NONE PTE, and a fill from the new read-only PTE is not writable). So an
 * mprotect judges every entry filled before it returned, also those filled while it ran: that is
 * what catches a walker that sets D by cmpxchg in mprotect's own window and refills a writable,
 * dirty entry from the PTE mprotect is about to change (scenario mprotect-skip-nonatomic-clear).
 * Only entries filled after the call returned are left out, since the promise says nothing about
 * them.
 *
 * A promise record is four words (kernel/mm-layout.ts): start VPN, end VPN, kind with the call's
 * duration in the sequence above it (PROMISE_KIND_BITS; a duration beyond 2^28 events saturates,
 * judging a little more than the call, never less), and the call's start in the sequence.
 * Sequence numbers wrap at 2^32 (trace/events.ts): they are compared by their difference.
 *
 * Promises older than the ring are not checked (a missed report, never a false one).
 *
 * The promise count shares its word with the mm's epoch tag (kernel/mm-layout.ts): the count in
 * the low PROMISE_COUNT_BITS, wrapping there (compared by difference, as the sequence is), the
 * mm's slot and allocation above it. A TLB entry filled by another mm's walk so never carries the
 * loaded mm's word, fails the hot path's one compare and comes to cpu.ts checkHit, which reports
 * it as a foreign translation (foreignEpochMm) instead of judging it by this mm's promises.
 *
 * What is reported, exactly: a user access through a TLB entry of the mm, filled before a
 * munmap or MADV_DONTNEED covering its address started (before an mprotect covering it returned),
 * that completes after that call returned, while the PTE now is not present, maps another frame,
 * or (a store) is not writable. Why mainline never gets there: each of these calls changes the
 * PTEs of its range under the PTL and flushes them from every CPU that runs the mm before it
 * returns; a PTE it found already clear was cleared by someone whose flush it waits for first
 * (flush_tlb_batched_pending for reclaim's batch, the forced flush of mm_tlb_flush_nested for a
 * concurrent zapper). A lazy CPU may keep the entry, but runs no user access of the mm until
 * switch_mm has flushed it. So an entry older than the call cannot answer an access after the
 * return; the comparison with the PTE only keeps the report to an entry that is also wrong now.

 */
import type { MachineViews } from '../machine/memory.ts';
import { G_TRACE_SEQ } from '../machine/globals-layout.ts';
import { pteAtNoSideEffects } from '../machine/pagetable.ts';
import { ptePfn, ptePresent, pteWrite } from '../machine/pte.ts';
import { MAX_PROMISES, MM_PROMISES, MM_PROMISE_COUNT, PROMISE_COUNT_MASK, PROMISE_WORDS, promiseEpochMm, promiseEpochOwner } from '../kernel/mm-layout.ts';
import { mmBase, mmPgd } from '../kernel/mm.ts';
import { ViolationKind, reportViolation } from './oracle.ts';
import { seqDiff } from '../trace/events.ts';

/** The low bits of a promise's kind word hold the kind; the rest, the call's duration. */
const PROMISE_KIND_BITS = 3;
const PROMISE_KIND_MASK = (1 << PROMISE_KIND_BITS) - 1;
const MAX_SPAN = (1 << (31 - PROMISE_KIND_BITS)) - 1;

export const enum PromiseKind {
  Unmapped = 1, // munmap returned
  Zapped = 2, // madvise(MADV_DONTNEED) returned
  WriteProtected = 3, // mprotect returned having removed write access
  Inaccessible = 4, // mprotect returned having removed all access
  ForkWriteProtected = 5, // fork returned having write-protected the parent's private pages
  Truncated = 6, // ftruncate returned: the file's pages past the new size are mapped nowhere
}

/** The word a CPU compares its TLB entries' epochs with, for `mm`. */
export function promiseCountIndex(mm: number): number {
  return mmBase(mm) + MM_PROMISE_COUNT;
}

/** A system call that will promise something takes its place in the global order. */
export function promiseStart(v: MachineViews): number {
  return Atomics.add(v.globals, G_TRACE_SEQ, 1);
}

/**
 * Called by a system call as it returns: [start, end) (bytes) keeps no translation filled
 * before now; `since` is its promiseStart.
 */
export function makePromise(v: MachineViews, mm: number, start: number, end: number, kind: PromiseKind, since: number): void {
  const b = mmBase(mm);
  // the call's last place in the order: a fill stamped after this one came after the return
  const returned = Atomics.add(v.globals, G_TRACE_SEQ, 1);
  const span = Math.min(MAX_SPAN, (returned - since) >>> 0);
  // the record is written before the count that publishes it; concurrent callers may share a
  // slot for a moment when the ring wraps, costing at most a missed report
  const n = Atomics.load(v.mm, b + MM_PROMISE_COUNT);
  const r = b + MM_PROMISES + ((n & PROMISE_COUNT_MASK) % MAX_PROMISES) * PROMISE_WORDS;
  Atomics.store(v.mm, r, Math.floor(start / 4096));
  Atomics.store(v.mm, r + 1, Math.ceil(end / 4096));
  Atomics.store(v.mm, r + 2, kind | (span << PROMISE_KIND_BITS));
  Atomics.store(v.mm, r + 3, since);
  // the count goes up by one inside its bits, the mm's tag above them untouched
  for (let cur = n; ; ) {
    const next = (cur & ~PROMISE_COUNT_MASK) | ((cur + 1) & PROMISE_COUNT_MASK);
    const seen = Atomics.compareExchange(v.mm, b + MM_PROMISE_COUNT, cur, next);
    if (seen === cur) return;
    cur = seen;
  }
}

/**
 * The foreign-translation oracle, on a hit whose epoch is not the loaded mm's word: `epoch` is the
 * entry's, `now` the loaded mm's. Returns the mm slot whose walk filled the entry when that was
 * another mm (or another allocation of the slot), else -1.
 */
export function foreignEpochMm(epoch: number, now: number): number {
  return promiseEpochOwner(epoch) === promiseEpochOwner(now) ? -1 : promiseEpochMm(epoch);
}

/**
 * The slow half of the check on a TLB hit whose epoch is behind the mm's promise count: reports a
 * violation if a promise made since the fill covers this access and the entry is stale (`pfn` and
 * `tlbFlags` are the entry's, for the report). Returns the count the entry may now carry.
 */
export function checkPromises(v: MachineViews, cpu: number, mm: number, vpn: number, pfn: number, write: boolean, epoch: number, fillSeq: number, tlbFlags: number): number {
  const b = mmBase(mm);
  const now = Atomics.load(v.mm, b + MM_PROMISE_COUNT);
  // the promises made since the entry's epoch, oldest first, the ring's worth at most
  const made = Math.min(MAX_PROMISES, (now - epoch) & PROMISE_COUNT_MASK);
  for (let k = made; k > 0; k--) {
    const i = (now - k) & PROMISE_COUNT_MASK;
    const r = b + MM_PROMISES + (i % MAX_PROMISES) * PROMISE_WORDS;
    const kindWord = Atomics.load(v.mm, r + 2);
    const kind = kindWord & PROMISE_KIND_MASK;
    if (vpn < Atomics.load(v.mm, r) || vpn >= Atomics.load(v.mm, r + 1)) continue;
    if ((kind === PromiseKind.WriteProtected || kind === PromiseKind.ForkWriteProtected) && !write) continue;
    // how far into the call the entry was filled (wrap-aware); > 0: after the call started
    const into = seqDiff(fillSeq, Atomics.load(v.mm, r + 3));
    if (into > 0) {
      // filled while a munmap or madvise ran: it may map what a fault put there meanwhile
      if (kind === PromiseKind.Unmapped || kind === PromiseKind.Zapped || kind === PromiseKind.Truncated) continue;
      // filled after the call returned: the promise is not about it
      if (into > kindWord >>> PROMISE_KIND_BITS) continue;
    }
    const pte = pteAtNoSideEffects(v, mmPgd(v, mm), vpn * 4096);
    if (!ptePresent(pte) || ptePfn(pte) !== pfn || (write && !pteWrite(pte))) {
      reportViolation(v, cpu, ViolationKind.AccessAfterReturn, vpn, kind, pfn, pte, write ? 1 : 0, tlbFlags);
      break;
    }
  }
  return now;
}
