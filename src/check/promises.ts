/*
 * The promise oracle: an access must not complete through a translation that a munmap, madvise or
 * mprotect already returned from removing or demoting.
 *
 * Such a system call takes a place in the global sequence when it starts (promiseStart) and, when
 * it returns, records a promise in its mm (kind, range, that start): "no translation of
 * [start, end) filled before I started is usable any more". A TLB entry remembers the sequence at
 * its fill, and the mm's promise count when it was last checked. On a hit the CPU compares that
 * count with the mm's (one plain read); only when promises were made since does it look at them:
 * for each one that covers the address (a write-protect counts for stores only) and started after
 * the fill, it compares the entry with the page table as it is now. An entry that maps another
 * frame, a page no longer present, or a write the PTE no longer allows is an access after the
 * promise: a violation. Entries filled while the call ran may map what it put there, and are not
 * judged by it.
 *
 * Promises older than the ring are not checked (a missed report, never a false one).
 */
import type { MachineViews } from '../machine/memory.ts';
import { G_TRACE_SEQ } from '../machine/globals-layout.ts';
import { pteOffset, ptepGet } from '../machine/pagetable.ts';
import { ptePfn, ptePresent, pteWrite } from '../machine/pte.ts';
import { MAX_PROMISES, MM_PROMISES, MM_PROMISE_COUNT, PROMISE_WORDS } from '../kernel/mm-layout.ts';
import { mmBase, mmPgd } from '../kernel/mm.ts';
import { ViolationKind, reportViolation } from './oracle.ts';

export const enum PromiseKind {
  Unmapped = 1, // munmap returned
  Zapped = 2, // madvise(MADV_DONTNEED) returned
  WriteProtected = 3, // mprotect returned having removed write access
  Inaccessible = 4, // mprotect returned having removed all access
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
 * before `since` (its promiseStart).
 */
export function makePromise(v: MachineViews, mm: number, start: number, end: number, kind: PromiseKind, since: number): void {
  const b = mmBase(mm);
  // the record is written before the count that publishes it; concurrent callers may share a
  // slot for a moment when the ring wraps, costing at most a missed report
  const n = Atomics.load(v.mm, b + MM_PROMISE_COUNT);
  const r = b + MM_PROMISES + (n % MAX_PROMISES) * PROMISE_WORDS;
  Atomics.store(v.mm, r, Math.floor(start / 4096));
  Atomics.store(v.mm, r + 1, Math.ceil(end / 4096));
  Atomics.store(v.mm, r + 2, kind);
  Atomics.store(v.mm, r + 3, since);
  Atomics.add(v.mm, b + MM_PROMISE_COUNT, 1);
}

/**
 * The slow half of the check on a TLB hit whose epoch is behind the mm's promise count: reports a
 * violation if a promise made since the fill covers this access and the entry is stale. Returns
 * the count the entry may now carry.
 */
export function checkPromises(v: MachineViews, cpu: number, mm: number, vpn: number, pfn: number, write: boolean, epoch: number, fillSeq: number): number {
  const b = mmBase(mm);
  const now = Atomics.load(v.mm, b + MM_PROMISE_COUNT);
  for (let i = Math.max(epoch, now - MAX_PROMISES); i < now; i++) {
    const r = b + MM_PROMISES + (i % MAX_PROMISES) * PROMISE_WORDS;
    const kind = Atomics.load(v.mm, r + 2);
    if (vpn < Atomics.load(v.mm, r) || vpn >= Atomics.load(v.mm, r + 1)) continue;
    if (kind === PromiseKind.WriteProtected && !write) continue;
    // filled while the call ran: it may map what the call put there
    if (fillSeq > Atomics.load(v.mm, r + 3)) continue;
    const ptep = pteOffset(v, mmPgd(v, mm), vpn * 4096);
    const pte = ptep < 0 ? 0 : ptepGet(v, ptep);
    if (!ptePresent(pte) || ptePfn(pte) !== pfn || (write && !pteWrite(pte))) {
      reportViolation(v, cpu, ViolationKind.AccessAfterReturn, vpn, kind, pfn, pte, write ? 1 : 0);
      break;
    }
  }
  return now;
}
