/*
 * Oracle reports as a kernel developer reads them: every detail word of a violation record named
 * and decoded. A PTE prints as `0x35067 [P RW US A D] pfn 0x35`, a promise as the system call
 * whose promise broke, a TLB permission difference as the TLB flags.
 *
 * The detail words of each kind, as the call sites pass them (grep reportViolation); a kind that
 * needs four leaves the fifth 0:
 *
 *   use-after-free        pfn, frame generation at fill (the TLB entry's), generation now, write
 *                         (cpu/cpu.ts checkHit)
 *   access-after-return   promise kind (check/promises.ts PromiseKind), pfn the TLB entry maps,
 *                         PTE now, write, the TLB entry's flags (TLBF_*) (check/promises.ts
 *                         checkPromises, given them by cpu/cpu.ts checkHit)
 *   lost-write            page-cache pfn, PTE now, the TLB entry's fill and the page's last
 *                         writeback in the global sequence (check/oracle.ts checkFileStore)
 *   freed-table-walk      from a paging-structure-cache entry: table pfn, its generation when
 *                         cached, its generation now, the table's level 1..3 (machine/walker.ts);
 *                         from GUP-fast: mm, pages, 0, 0 (kernel/gup.ts). The level word, never 0
 *                         for the walker, tells the two apart.
 *   lost-dirty-bit, lost-accessed-bit   pfn, PTE overwritten, PTE stored, word index of the PTE
 *                         (check/lost-bits.ts)
 *   gup-pin-unmapped      pfn pinned, PTE as GUP-fast read it, PTE after the pin, mm
 *                         (check/oracle.ts checkGupPin)
 *   tlb-conflict          pfn through the 4 KiB entry, pfn through the 2 MiB one, page shift of
 *                         the entry being filled, the TLB permission bits they differ on, and 16
 *                         when the larger entry is an arm64 contiguous one (64 KiB, its fill's
 *                         shift 16) (check/oracle.ts checkHugeTlbFill, checkPteTlbFill,
 *                         checkContTlbFill)
 *   lost-data             value found, a value expected, the CPU that stored it, where it was
 *                         found: 0 memory, 1 page cache, 2 disk (check/data.ts)
 *   foreign-translation   pfn, the mm whose walk filled the TLB entry, the mm loaded, the ASID
 *                         (PCID) the entry was found under, write (cpu/cpu.ts checkHit)
 *   fault-loop            the PTE faulted on, its word index, the fault code, write, the faults
 *                         in a row on it (cpu/cpu.ts translateSlow)
 *   assertion             the message's offset in the run's string table; the record carries the
 *                         message read back (Violation.text) (cpu/cpu.ts expect)
 *
 * A kind this file does not know (one added later) prints its raw words, so that adding a kind
 * never breaks a report.
 */
import type { Violation } from './oracle.ts';
import { pteFlagNames, ptePfn } from '../machine/pte.ts';
import { PromiseKind } from './promises.ts';
import { TLBF_DIRTY, TLBF_FILE, TLBF_GLOBAL, TLBF_HUGE, TLBF_NX, TLBF_USER, TLBF_VALID, TLBF_WRITE } from '../machine/tlb-layout.ts';

export interface ViolationDescription {
  /** one line: kind, where, and what the details say */
  message: string;
  /** the message without its kind and reporter: what a trace's mark says after them */
  detail: string;
  /** every detail word, named and decoded */
  fields: Record<string, string | number>;
}

/** Hex of an address, or of a detail word (an int32: read unsigned). */
export const hex = (n: number): string => `0x${(n < 0 ? n >>> 0 : n).toString(16)}`;

/** `0x35067 [P RW US A D] pfn 0x35`, or `0x0 (none)`. */
export function describePte(pte: number): string {
  if (pte === 0) return '0x0 (none)';
  return `${hex(pte)} [${pteFlagNames(pte).join(' ')}] pfn ${hex(ptePfn(pte))}`;
}

/** The system call whose promise a check/promises.ts PromiseKind stands for. */
const PROMISE_CALLS: Record<number, string> = {
  [PromiseKind.Unmapped]: 'munmap',
  [PromiseKind.Zapped]: 'madvise(MADV_DONTNEED)',
  [PromiseKind.WriteProtected]: 'mprotect(PROT_READ)',
  [PromiseKind.Inaccessible]: 'mprotect(PROT_NONE)',
  [PromiseKind.ForkWriteProtected]: 'fork (write-protect)',
  [PromiseKind.Truncated]: 'ftruncate',
};

/** Where the data check found a word (check/data.ts). */
const DATA_PLACES: Record<number, string> = { 0: 'memory', 1: 'page cache', 2: 'disk' };

const TABLE_LEVELS: Record<number, string> = { 1: 'PTE table', 2: 'PMD table', 3: 'PUD table' };

const TLB_FLAG_NAMES: [number, string][] = [
  [TLBF_VALID, 'V'], [TLBF_WRITE, 'W'], [TLBF_USER, 'U'], [TLBF_DIRTY, 'D'], [TLBF_GLOBAL, 'G'], [TLBF_NX, 'NX'],
  [TLBF_HUGE, '2M-piece'], [TLBF_FILE, 'file'],
];

/** The names of the TLB entry flags (machine/tlb-layout.ts TLBF_*) set in `flags`. */
const tlbFlagNames = (flags: number): string[] => TLB_FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);

const access = (write: number): string => (write !== 0 ? 'write' : 'read');

type Describe = (d: number[], text?: string) => { at: string; what: string; fields: Record<string, string | number> };

const KINDS: Record<string, Describe> = {
  'use-after-free': ([pfn, genAtFill, genNow, write]) => ({
    at: access(write),
    what: `through a TLB entry for pfn ${hex(pfn)} filled at frame generation ${genAtFill}; the frame is at generation ${genNow} now (freed since)`,
    fields: { access: access(write), pfn: hex(pfn), frameGenerationAtFill: genAtFill, frameGenerationNow: genNow },
  }),
  'access-after-return': ([promise, pfn, pte, write, tlbFlags]) => {
    const call = PROMISE_CALLS[promise] ?? `promise kind ${promise}`;
    const entry = `pfn ${hex(pfn)} [${tlbFlagNames(tlbFlags).join(' ')}]`;
    return {
      at: access(write),
      what: `after ${call} returned: the TLB entry still maps ${entry}, the PTE is now ${describePte(pte)}`,
      fields: { access: access(write), promiseBrokenBy: call, tlbEntry: entry, pteNow: describePte(pte) },
    };
  },
  'lost-write': ([pfn, pte, fillSeq, writtenSeq]) => ({
    at: 'write',
    what: `to page-cache pfn ${hex(pfn)} through a TLB entry filled at seq ${fillSeq >>> 0}, before writeback copied the page at seq ${writtenSeq >>> 0}; the page is clean and the PTE ${describePte(pte)} is no dirty mapping of it: writeback will not see the store`,
    fields: { access: 'write', pfn: hex(pfn), pteNow: describePte(pte), tlbEntryFilledAtSeq: fillSeq >>> 0, writtenBackAtSeq: writtenSeq >>> 0 },
  }),
  'lost-data': ([found, expected, by, where]) => {
    const place = DATA_PLACES[where] ?? `place ${where}`;
    return {
      at: 'end-of-trial check',
      what: `the word holds ${hex(found)} (${place}), none of the values last stored to it (CPU ${by} stored ${hex(expected)})`,
      fields: { found: hex(found), expected: hex(expected), storedBy: by, foundIn: place },
    };
  },
  'freed-table-walk': ([a0, a1, a2, level]): ReturnType<Describe> =>
    level === 0
      ? {
          at: 'GUP-fast',
          what: `of ${a1} pages of mm ${a0} walked a page table freed under it`,
          fields: { walker: 'GUP-fast', mm: a0, pages: a1 },
        }
      : {
          at: 'page walk',
          what: `started from a cached pointer to ${TABLE_LEVELS[level] ?? `level ${level} table`} pfn ${hex(a0)} cached at generation ${a1}; the table frame is at generation ${a2} now (freed since)`,
          fields: { walker: 'page walk (paging-structure cache)', table: TABLE_LEVELS[level] ?? `level ${level}`, tablePfn: hex(a0), tableGenerationAtFill: a1, tableGenerationNow: a2 },
        },
  assertion: (_d, text) => ({
    at: 'cpu.expect',
    what: text ?? '(no message)',
    fields: { message: text ?? '(no message)' },
  }),
  'lost-dirty-bit': (d) => lostBit('D', d),
  'lost-accessed-bit': (d) => lostBit('A', d),
  'gup-pin-unmapped': ([pfn, pteRead, pteAfter, mm]) => ({
    at: 'GUP-fast',
    what: `kept a pin on pfn ${hex(pfn)} read from PTE ${describePte(pteRead)}, but at the pin the PTE no longer mapped it (now ${describePte(pteAfter)}), mm ${mm}`,
    fields: { pfn: hex(pfn), pteAsRead: describePte(pteRead), pteAfterPin: describePte(pteAfter), mm },
  }),
  'foreign-translation': ([pfn, filler, loaded, asid, write]) => ({
    at: write ? 'write' : 'read',
    what: `of mm ${loaded} through a TLB entry for pfn ${hex(pfn)} that ${filler === loaded ? `an earlier mm of slot ${filler}` : `mm ${filler}`}'s walk filled, found under ASID ${asid}`,
    fields: { access: write ? 'write' : 'read', pfn: hex(pfn), filledByMm: filler, loadedMm: loaded, asid },
  }),
  'fault-loop': ([pte, ptep, code, write, rounds]) => ({
    at: write ? 'write' : 'read',
    what: `faulted ${rounds} times in a row (fault code ${code}) on PTE ${describePte(pte)} at word ${hex(ptep)}, which the fault handler reported resolved each time without changing it`,
    fields: { access: write ? 'write' : 'read', pte: describePte(pte), pteWord: hex(ptep), faultCode: code, faultsInARow: rounds },
  }),
  'tlb-conflict': ([pfn4k, pfn2m, shift, perms, largerShift]) => {
    const filled = shift === 21 ? '2 MiB' : shift === 16 ? '64 KiB contiguous' : '4 KiB';
    const differ = tlbFlagNames(perms);
    // arm64: the larger entry may be a 64 KiB contiguous one
    const larger = largerShift === 16 ? '64 KiB contiguous' : '2 MiB';
    const largerField = largerShift === 16 ? 'pfnViaContiguous' : 'pfnVia2MiB';
    return {
      at: `${filled} TLB fill`,
      what: `the 4 KiB entry maps pfn ${hex(pfn4k)}, the ${larger} one pfn ${hex(pfn2m)}${differ.length > 0 ? `, permissions differ on ${differ.join(' ')}` : ''}`,
      fields: { entryFilled: filled, pfnVia4KiB: hex(pfn4k), [largerField]: hex(pfn2m), permissionsDiffer: differ.join(' ') || 'none' },
    };
  },
};

function lostBit(bit: 'D' | 'A', [pfn, old, stored, ptep]: number[]): ReturnType<Describe> {
  return {
    at: 'PTE store',
    what: `a kernel store replaced PTE ${describePte(old)} with ${describePte(stored)}, wiping the ${bit} bit the walker had set on pfn ${hex(pfn)}`,
    fields: { pfn: hex(pfn), pteBefore: describePte(old), pteAfter: describePte(stored), pteWord: hex(ptep) },
  };
}

/** Where a report was made: a CPU, or the control plane (cpu -1, at the end of a trial). */
export const reporter = (cpu: number): string => (cpu < 0 ? 'the control plane' : `CPU ${cpu}`);

/** A violation record in words: the one-line message and every field named. */
export function describeViolation(v: Pick<Violation, 'kind' | 'cpu' | 'va' | 'details' | 'text'>): ViolationDescription {
  const known = KINDS[v.kind]?.(v.details, v.text);
  const fields = known?.fields ?? Object.fromEntries(v.details.map((d, i) => [`detail${i}`, hex(d)]));
  const what = known?.what ?? `(details ${v.details.map(hex).join(' ')})`;
  // an assertion is about the program, not an address
  if (v.kind === 'assertion') return { message: `${v.kind} on ${reporter(v.cpu)}: ${what}`, detail: what, fields };
  const at = `${known?.at ?? 'access'} at ${hex(v.va)}`;
  const detail = `${at}: ${what}`;
  return { message: `${v.kind} on ${reporter(v.cpu)}, ${detail}`, detail, fields: { address: hex(v.va), ...fields } };
}
