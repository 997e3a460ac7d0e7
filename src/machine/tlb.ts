/*
 * The TLB and the paging-structure caches of one CPU (layout in tlb-layout.ts).
 *
 * Invariant (x86): only the owning CPU fills or invalidates its TLB. It reads its entries with
 * plain loads; an entry it fills is published to checkers on other CPUs through the entry's
 * sequence word (odd while the fill is in progress).
 *
 * The 2 MiB TLB (htlbLookup, htlbFill) is probed only on a 4 KiB miss; a hit installs the 4 KiB
 * piece for the missing page (tlbFillHugePiece), flagged TLBF_HUGE, from the same translation.
 *
 * Invalidation follows the x86 instructions the kernel uses:
 *   tlbInvlpg       INVLPG: the entries for one page under the current PCID, global ones too,
 *                   the 2 MiB entry covering the page and its pieces, and every
 *                   paging-structure-cache entry of that PCID (SDM 4.10.4.1)
 *   tlbFlushPcid    a CR3 write without NOFLUSH, or INVPCID single-context: every non-global
 *                   entry of one PCID, 4 KiB and 2 MiB, and its paging-structure-cache entries
 *   tlbFlushEverything   INVPCID all-context including globals (__flush_tlb_all)
 * and the arm64 ones (TLBI, Arm ARM D8.13), which name one VA and may spare the walk cache:
 *   tlbiVa          TLBI VAE1 / VALE1 (leafOnly) for one page of an ASID: its 4 KiB entry, the
 *                   2 MiB or contiguous entry covering it with their pieces, and unless leafOnly
 *                   the walk-cache entries that translate that VA, and only those
 *   tlbiVaPages     one of them every `stride` pages; tlbiRange   RVAE1 / RVALE1 over a range
 *   tlbiAsid        ASIDE1: every non-global entry of the ASID, walk cache included
 *   tlbiAll         VMALLE1: everything
 * Each returns how many TLB entries it invalidated.
 *
 * The contiguous TLB (ctlbLookup, ctlbFill, tlbFillContPiece) works as the 2 MiB TLB does, for
 * arm64's 16-page contiguous blocks; every invalidation above drops its entries and pieces as it
 * drops the 2 MiB ones.
 */
import {
  CONT_VPNS, CTLB_BASE, CTLB_ENTRIES, CTLB_SETS, CTLB_WAYS, TLB_CONT_PIECES, TLBF_CONT, TLBF_CONT_WALKED, TLBF_CONT_WALKED_SHIFT,
  HPAGE_VPNS, HTLB_BASE, HTLB_ENTRIES, HTLB_SETS, HTLB_WAYS, PSC_LEVELS, PSC_SLOTS, PSCE_GEN, PSCE_KEY, PSCE_PCID, PSCE_TABLE, PSCE_VALID, PSCE_WORDS,
  TLB_ENTRIES, TLB_HUGE_PIECES, TLB_SETS, TLB_WAYS, TLB_WORDS_PER_CPU, TLBE_EPOCH, TLBE_FILL_SEQ, TLBE_FLAGS, TLBE_GEN, TLBE_PCID, TLBE_PFN,
  TLBE_SEQ, TLBE_VPN, TLBE_WORDS, TLBF_DIRTY, TLBF_GLOBAL, TLBF_HUGE, TLBF_NX, TLBF_USER,
  TLBF_FILE, TLBF_VALID, TLBF_WRITE, pscOffset,
} from './tlb-layout.ts';

export function tlbBase(cpu: number): number {
  return cpu * TLB_WORDS_PER_CPU;
}

/**
 * The entry a store can complete through without the slow path: translating (vpn, pcid), writable,
 * with its cached D set, and not a page-cache page (those stores take the lost-write check); -1
 * otherwise. One pass over the set, the flags read once. Owner only.
 */
export function tlbLookupStore(t: Int32Array, base: number, vpn: number, pcid: number): number {
  let e = base + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
  for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
    if (t[e + TLBE_VPN] !== vpn) continue;
    const flags = t[e + TLBE_FLAGS];
    if ((flags & STORE_FAST_MASK) === STORE_FAST && (t[e + TLBE_PCID] === pcid || (flags & TLBF_GLOBAL) !== 0)) return e;
  }
  return -1;
}

const STORE_FAST_MASK = TLBF_VALID | TLBF_WRITE | TLBF_DIRTY | TLBF_FILE;
const STORE_FAST = TLBF_VALID | TLBF_WRITE | TLBF_DIRTY;

/** The word index of the entry translating (vpn, pcid), or -1 on a miss. Owner only. */
export function tlbLookup(t: Int32Array, base: number, vpn: number, pcid: number): number {
  let e = base + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
  for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
    // the tag first: most ways differ there
    if (t[e + TLBE_VPN] !== vpn) continue;
    const flags = t[e + TLBE_FLAGS];
    if ((flags & TLBF_VALID) !== 0 && (t[e + TLBE_PCID] === pcid || (flags & TLBF_GLOBAL) !== 0)) return e;
  }
  return -1;
}

/** The first invalid way of the set at `set` (of `ways` ways), else way `victim`. */
function pickWay(t: Int32Array, set: number, ways: number, victim: number): number {
  for (let way = 0, w = set; way < ways; way++, w += TLBE_WORDS) {
    if ((t[w + TLBE_FLAGS] & TLBF_VALID) === 0) return w;
  }
  return set + (victim & (ways - 1)) * TLBE_WORDS;
}

function writeEntry(t: Int32Array, e: number, vpn: number, pcid: number, pfn: number, flags: number, gen: number, epoch: number, fillSeq: number): void {
  const seq = t[e + TLBE_SEQ];
  // a checker that reads an odd sequence, or two different ones around its read, retries
  Atomics.store(t, e + TLBE_SEQ, seq + 1);
  t[e + TLBE_VPN] = vpn;
  t[e + TLBE_PCID] = pcid;
  t[e + TLBE_PFN] = pfn;
  t[e + TLBE_GEN] = gen;
  t[e + TLBE_EPOCH] = epoch;
  t[e + TLBE_FILL_SEQ] = fillSeq;
  t[e + TLBE_FLAGS] = flags | TLBF_VALID;
  Atomics.store(t, e + TLBE_SEQ, seq + 2);
}

/**
 * Fills an entry for (vpn, pcid), replacing any entry already translating it (the hardware
 * invalidates the entry a fault or a re-walk was about), else an invalid way, else way `victim`.
 * Returns the entry's word index. Owner only.
 */
export function tlbFill(t: Int32Array, base: number, vpn: number, pcid: number, pfn: number, flags: number, gen: number, victim: number, epoch = 0, fillSeq = 0): number {
  let e = tlbLookup(t, base, vpn, pcid);
  if (e < 0) e = pickWay(t, base + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS, TLB_WAYS, victim);
  writeEntry(t, e, vpn, pcid, pfn, flags, gen, epoch, fillSeq);
  return e;
}

const hugeBase = (vpn: number): number => vpn & ~(HPAGE_VPNS - 1);
const htlbSet = (cpu: number, vpn: number): number => tlbBase(cpu) + HTLB_BASE + ((vpn >>> 9) & (HTLB_SETS - 1)) * HTLB_WAYS * TLBE_WORDS;

/** Whether entry `e` is valid and translates under `pcid`: it was filled for it, or it is global. */
export function tlbEntryServesPcid(t: Int32Array, e: number, pcid: number): boolean {
  const flags = t[e + TLBE_FLAGS];
  return (flags & TLBF_VALID) !== 0 && (t[e + TLBE_PCID] === pcid || (flags & TLBF_GLOBAL) !== 0);
}

/** The word index of the 2 MiB entry covering `vpn` under `pcid`, or -1. Owner only. */
export function htlbLookup(t: Int32Array, cpu: number, vpn: number, pcid: number): number {
  const hvpn = hugeBase(vpn);
  let e = htlbSet(cpu, vpn);
  for (let way = 0; way < HTLB_WAYS; way++, e += TLBE_WORDS) {
    if (t[e + TLBE_VPN] === hvpn && tlbEntryServesPcid(t, e, pcid)) return e;
  }
  return -1;
}

/**
 * Fills the 2 MiB entry covering `vpn` for `pcid`, mapping it to the frames from `basePfn` on;
 * `gen` is frame `basePfn`'s generation. Replaces the entry already covering it, else an invalid
 * way, else way `victim`. Returns the entry's word index. Owner only.
 */
export function htlbFill(t: Int32Array, cpu: number, vpn: number, pcid: number, basePfn: number, flags: number, gen: number, victim: number, epoch: number, fillSeq: number): number {
  let e = htlbLookup(t, cpu, vpn, pcid);
  if (e < 0) e = pickWay(t, htlbSet(cpu, vpn), HTLB_WAYS, victim);
  writeEntry(t, e, hugeBase(vpn), pcid, basePfn, flags, gen, epoch, fillSeq);
  return e;
}

/**
 * Installs in the 4 KiB TLB the piece of 2 MiB entry `h` that translates `vpn`: frame base +
 * offset, the entry's flags with TLBF_HUGE, its fill epoch and sequence; `gen` is that frame's
 * generation at the 2 MiB fill (the caller knows frames). Returns the piece's word index.
 */
export function tlbFillHugePiece(t: Int32Array, cpu: number, h: number, vpn: number, gen: number, victim: number): number {
  t[tlbBase(cpu) + TLB_HUGE_PIECES] = 1;
  return tlbFill(t, tlbBase(cpu), vpn, t[h + TLBE_PCID], t[h + TLBE_PFN] + (vpn & (HPAGE_VPNS - 1)), t[h + TLBE_FLAGS] | TLBF_HUGE, gen, victim, t[h + TLBE_EPOCH], t[h + TLBE_FILL_SEQ]);
}

/**
 * Invalidates, under `pcid`, the 2 MiB entry covering `vpn` and the pieces of that 2 MiB page in
 * the 4 KiB TLB (looked for only while TLB_HUGE_PIECES says some may be cached). Returns how many.
 */
function invalidateHugeCovering(t: Int32Array, cpu: number, vpn: number, pcid: number): number {
  let n = 0;
  for (let e = htlbLookup(t, cpu, vpn, pcid); e >= 0; e = htlbLookup(t, cpu, vpn, pcid), n++) t[e + TLBE_FLAGS] = 0;
  const base = tlbBase(cpu);
  if (t[base + TLB_HUGE_PIECES] === 0) return n;
  const hvpn = hugeBase(vpn);
  for (let i = 0, e = base; i < TLB_ENTRIES; i++, e += TLBE_WORDS) {
    if ((t[e + TLBE_FLAGS] & TLBF_HUGE) !== 0 && hugeBase(t[e + TLBE_VPN]) === hvpn && tlbEntryServesPcid(t, e, pcid)) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  return n;
}

const contBase = (vpn: number): number => vpn & ~(CONT_VPNS - 1);
const ctlbSet = (cpu: number, vpn: number): number => tlbBase(cpu) + CTLB_BASE + ((vpn >>> 4) & (CTLB_SETS - 1)) * CTLB_WAYS * TLBE_WORDS;

/** The word index of the contiguous entry covering `vpn` under `pcid`, or -1. Owner only. */
export function ctlbLookup(t: Int32Array, cpu: number, vpn: number, pcid: number): number {
  const cvpn = contBase(vpn);
  let e = ctlbSet(cpu, vpn);
  for (let way = 0; way < CTLB_WAYS; way++, e += TLBE_WORDS) {
    if (t[e + TLBE_VPN] === cvpn && tlbEntryServesPcid(t, e, pcid)) return e;
  }
  return -1;
}

/**
 * Fills the contiguous entry covering `vpn` for `pcid` from the descriptor walked for `vpn`:
 * frames from `basePfn` (that descriptor's frame less vpn's offset in the block), `flags` its
 * permissions, `gen` the walked frame's generation (the walked offset goes in TLBF_CONT_WALKED).
 * Replaces the entry already covering the block, else an invalid way, else way `victim`. Returns
 * the entry's word index. Owner only.
 */
export function ctlbFill(t: Int32Array, cpu: number, vpn: number, pcid: number, basePfn: number, flags: number, gen: number, victim: number, epoch: number, fillSeq: number): number {
  let e = ctlbLookup(t, cpu, vpn, pcid);
  if (e < 0) e = pickWay(t, ctlbSet(cpu, vpn), CTLB_WAYS, victim);
  const walked = (vpn & (CONT_VPNS - 1)) << TLBF_CONT_WALKED_SHIFT;
  writeEntry(t, e, contBase(vpn), pcid, basePfn, (flags & ~TLBF_CONT_WALKED) | walked, gen, epoch, fillSeq);
  return e;
}

/**
 * Installs in the 4 KiB TLB the piece of contiguous entry `c` that translates `vpn`: frame base +
 * offset, the entry's permissions with TLBF_CONT (`file`: TLBF_FILE when that frame is a
 * page-cache page), its fill epoch and sequence; `gen` is that frame's generation as the caller
 * derives it. Returns the piece's word index. Owner only.
 */
export function tlbFillContPiece(t: Int32Array, cpu: number, c: number, vpn: number, gen: number, file: number, victim: number): number {
  t[tlbBase(cpu) + TLB_CONT_PIECES] = 1;
  const flags = (t[c + TLBE_FLAGS] & ~(TLBF_CONT_WALKED | TLBF_FILE)) | TLBF_CONT | file;
  return tlbFill(t, tlbBase(cpu), vpn, t[c + TLBE_PCID], t[c + TLBE_PFN] + (vpn & (CONT_VPNS - 1)), flags, gen, victim, t[c + TLBE_EPOCH], t[c + TLBE_FILL_SEQ]);
}

/**
 * Invalidates, under `pcid`, the contiguous entry covering `vpn` and the pieces of its block in
 * the 4 KiB TLB (looked for only while TLB_CONT_PIECES says some may be cached). Returns how many.
 */
function invalidateContCovering(t: Int32Array, cpu: number, vpn: number, pcid: number): number {
  let n = 0;
  for (let e = ctlbLookup(t, cpu, vpn, pcid); e >= 0; e = ctlbLookup(t, cpu, vpn, pcid), n++) t[e + TLBE_FLAGS] = 0;
  const base = tlbBase(cpu);
  if (t[base + TLB_CONT_PIECES] === 0) return n;
  const cvpn = contBase(vpn);
  // the pieces of one block sit in CONT_VPNS consecutive sets
  for (let i = 0; i < CONT_VPNS; i++) {
    let e = base + ((cvpn + i) & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
    for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
      if ((t[e + TLBE_FLAGS] & TLBF_CONT) !== 0 && t[e + TLBE_VPN] === cvpn + i && tlbEntryServesPcid(t, e, pcid)) {
        t[e + TLBE_FLAGS] = 0;
        n++;
      }
    }
  }
  return n;
}

function invalidatePscOfPcid(t: Int32Array, cpu: number, pcid: number): void {
  // every level's slots, one after the other
  const end = pscOffset(cpu, PSC_LEVELS, PSC_SLOTS - 1) + PSCE_WORDS;
  for (let p = pscOffset(cpu, 1, 0); p < end; p += PSCE_WORDS) {
    if (t[p + PSCE_PCID] === pcid) t[p + PSCE_VALID] = 0;
  }
}

/** INVLPG for `vpn` under `pcid`. Returns the entries it invalidated. */
export function tlbInvlpg(t: Int32Array, cpu: number, vpn: number, pcid: number): number {
  return tlbInvlpgPages(t, cpu, vpn, vpn + 1, 1, pcid);
}

/**
 * One INVLPG for every `step`-th page of [startVpn, endVpn) under `pcid`, as flush_tlb_func's
 * loop issues them. Each also drops the PCID's paging-structure-cache entries; nothing refills
 * them between two INVLPGs of one loop (the loop runs with IRQs off, and the CPU walks at no
 * point of it), so they are dropped once. Returns the entries invalidated.
 */
export function tlbInvlpgPages(t: Int32Array, cpu: number, startVpn: number, endVpn: number, step: number, pcid: number): number {
  const base = tlbBase(cpu);
  let n = 0;
  for (let vpn = startVpn; vpn < endVpn; vpn += step) {
    n += invalidateHugeCovering(t, cpu, vpn, pcid);
    let e = base + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
    for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
      if (t[e + TLBE_VPN] === vpn && tlbEntryServesPcid(t, e, pcid)) {
        t[e + TLBE_FLAGS] = 0;
        n++;
      }
    }
  }
  invalidatePscOfPcid(t, cpu, pcid);
  return n;
}

/**
 * What a page fault at `vpn` invalidates (SDM 4.10.4.1): the TLB entries for the page under
 * `pcid`, 4 KiB and 2 MiB (with its pieces), and the paging-structure-cache entries that would be
 * used to translate it. Without the latter a fault through a stale cached table would repeat
 * forever.
 */
export function tlbInvalidateOnFault(t: Int32Array, cpu: number, vpn: number, pcid: number): void {
  const base = tlbBase(cpu);
  invalidateHugeCovering(t, cpu, vpn, pcid);
  invalidateContCovering(t, cpu, vpn, pcid);
  for (let e = tlbLookup(t, base, vpn, pcid); e >= 0; e = tlbLookup(t, base, vpn, pcid)) t[e + TLBE_FLAGS] = 0;
  for (let level = 1; level <= PSC_LEVELS; level++) {
    const p = pscLookup(t, cpu, level, vpn >>> (9 * level), pcid);
    if (p >= 0) t[p + PSCE_VALID] = 0;
  }
}

/** invalidateEntries' `pcid` for every entry, global ones too, and for every non-global one */
const EVERY = -1;
const NON_GLOBAL = -2;

/**
 * Invalidates the valid entries among the `count` entries from word `first`: the non-global ones
 * of `pcid`, every one (EVERY), or every non-global one (NON_GLOBAL). Returns how many.
 */
function invalidateEntries(t: Int32Array, first: number, count: number, pcid: number): number {
  let n = 0;
  for (let i = 0, e = first; i < count; i++, e += TLBE_WORDS) {
    const flags = t[e + TLBE_FLAGS];
    if ((flags & TLBF_VALID) !== 0 && (pcid === EVERY || ((flags & TLBF_GLOBAL) === 0 && (pcid === NON_GLOBAL || t[e + TLBE_PCID] === pcid)))) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  return n;
}

/**
 * Every non-global entry of `pcid`, 4 KiB and 2 MiB, and its paging-structure-cache entries.
 * TLB_HUGE_PIECES stays as it was: pieces of other PCIDs may remain.
 */
export function tlbFlushPcid(t: Int32Array, cpu: number, pcid: number): number {
  const base = tlbBase(cpu);
  const n = invalidateEntries(t, base, TLB_ENTRIES, pcid) + invalidateEntries(t, base + HTLB_BASE, HTLB_ENTRIES, pcid) +
    invalidateEntries(t, base + CTLB_BASE, CTLB_ENTRIES, pcid);
  invalidatePscOfPcid(t, cpu, pcid);
  return n;
}

/**
 * Every non-global entry of every PCID, 4 KiB and 2 MiB, and all paging-structure caches: what an
 * INVLPGB with neither a PCID nor an address does (invlpgb_flush_all_nonglobals).
 */
export function tlbFlushNonGlobal(t: Int32Array, cpu: number): number {
  const base = tlbBase(cpu);
  const n = invalidateEntries(t, base, TLB_ENTRIES, NON_GLOBAL) + invalidateEntries(t, base + HTLB_BASE, HTLB_ENTRIES, NON_GLOBAL) +
    invalidateEntries(t, base + CTLB_BASE, CTLB_ENTRIES, NON_GLOBAL);
  invalidateAllPsc(t, cpu);
  return n;
}

function invalidateAllPsc(t: Int32Array, cpu: number): void {
  for (let level = 1; level <= PSC_LEVELS; level++) {
    for (let slot = 0; slot < PSC_SLOTS; slot++) t[pscOffset(cpu, level, slot) + PSCE_VALID] = 0;
  }
}

/** Every entry of every PCID, 4 KiB and 2 MiB, global ones too, and all paging-structure caches. */
export function tlbFlushEverything(t: Int32Array, cpu: number): number {
  const base = tlbBase(cpu);
  const n = invalidateEntries(t, base, TLB_ENTRIES, EVERY) + invalidateEntries(t, base + HTLB_BASE, HTLB_ENTRIES, EVERY) +
    invalidateEntries(t, base + CTLB_BASE, CTLB_ENTRIES, EVERY);
  t[base + TLB_HUGE_PIECES] = 0;
  t[base + TLB_CONT_PIECES] = 0;
  invalidateAllPsc(t, cpu);
  return n;
}

/**
 * TLBI VAE1 (or VALE1 with `leafOnly`) for `vpn` under `asid`, on this CPU's TLB: the leaf
 * entries that translate the VA (its 4 KiB entry, the 2 MiB or contiguous entry covering it and
 * their pieces) and, unless `leafOnly`, the walk-cache entries used to translate that VA, one per
 * level; the walk-cache entries of other VAs stay (x86's INVLPG drops every one of the PCID).
 * Returns the TLB entries invalidated.
 */
export function tlbiVa(t: Int32Array, cpu: number, vpn: number, asid: number, leafOnly: boolean): number {
  let n = invalidateHugeCovering(t, cpu, vpn, asid) + invalidateContCovering(t, cpu, vpn, asid);
  for (let e = tlbLookup(t, tlbBase(cpu), vpn, asid); e >= 0; e = tlbLookup(t, tlbBase(cpu), vpn, asid), n++) t[e + TLBE_FLAGS] = 0;
  if (!leafOnly) {
    for (let level = 1; level <= PSC_LEVELS; level++) {
      const p = pscLookup(t, cpu, level, vpn >>> (9 * level), asid);
      if (p >= 0) t[p + PSCE_VALID] = 0;
    }
  }
  return n;
}

/** tlbiVa for `pages` pages from `startVpn`, every `stride` pages: one TLBI each. */
export function tlbiVaPages(t: Int32Array, cpu: number, startVpn: number, pages: number, stride: number, asid: number, leafOnly: boolean): number {
  let n = 0;
  for (let i = 0, vpn = startVpn; i < pages; i++, vpn += stride) n += tlbiVa(t, cpu, vpn, asid, leafOnly);
  return n;
}

/** Whether the `size` pages from `first` overlap [start, end). */
const overlaps = (first: number, size: number, start: number, end: number): boolean => first < end && first + size > start;

/**
 * TLBI RVAE1 (or RVALE1 with `leafOnly`) for [startVpn, endVpn) under `asid`: every leaf entry
 * translating a page of the range (a 2 MiB or contiguous entry that overlaps it, with its pieces)
 * and, unless `leafOnly`, every walk-cache entry that translates some VA of it. Returns the TLB
 * entries invalidated.
 */
export function tlbiRange(t: Int32Array, cpu: number, startVpn: number, endVpn: number, asid: number, leafOnly: boolean): number {
  const base = tlbBase(cpu);
  let n = 0;
  for (let i = 0, e = base; i < TLB_ENTRIES; i++, e += TLBE_WORDS) {
    if (!tlbEntryServesPcid(t, e, asid)) continue;
    const flags = t[e + TLBE_FLAGS];
    const vpn = t[e + TLBE_VPN];
    const hit = (flags & TLBF_HUGE) !== 0 ? overlaps(hugeBase(vpn), HPAGE_VPNS, startVpn, endVpn)
      : (flags & TLBF_CONT) !== 0 ? overlaps(contBase(vpn), CONT_VPNS, startVpn, endVpn)
      : vpn >= startVpn && vpn < endVpn;
    if (hit) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  for (let i = 0, e = base + HTLB_BASE; i < HTLB_ENTRIES; i++, e += TLBE_WORDS) {
    if (tlbEntryServesPcid(t, e, asid) && overlaps(t[e + TLBE_VPN], HPAGE_VPNS, startVpn, endVpn)) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  for (let i = 0, e = base + CTLB_BASE; i < CTLB_ENTRIES; i++, e += TLBE_WORDS) {
    if (tlbEntryServesPcid(t, e, asid) && overlaps(t[e + TLBE_VPN], CONT_VPNS, startVpn, endVpn)) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  if (!leafOnly) {
    for (let level = 1; level <= PSC_LEVELS; level++) {
      for (let slot = 0; slot < PSC_SLOTS; slot++) {
        const p = pscOffset(cpu, level, slot);
        const span = 2 ** (9 * level);
        if (t[p + PSCE_VALID] !== 0 && t[p + PSCE_PCID] === asid && overlaps(t[p + PSCE_KEY] * span, span, startVpn, endVpn)) t[p + PSCE_VALID] = 0;
      }
    }
  }
  return n;
}

/** TLBI ASIDE1: every non-global entry of `asid`, and its walk-cache entries. */
export function tlbiAsid(t: Int32Array, cpu: number, asid: number): number {
  return tlbFlushPcid(t, cpu, asid);
}

/** TLBI VMALLE1: every entry, global ones too, and the whole walk cache. */
export function tlbiAll(t: Int32Array, cpu: number): number {
  return tlbFlushEverything(t, cpu);
}

/**
 * Paging-structure cache at `level` (1: PDE cache, 2: PDPTE cache, 3: PML4E cache): the word
 * index of the entry caching the table that `key` (vpn >>> 9 * level) selects, or -1.
 */
export function pscLookup(t: Int32Array, cpu: number, level: number, key: number, pcid: number): number {
  const p = pscOffset(cpu, level, key & (PSC_SLOTS - 1));
  return t[p + PSCE_VALID] !== 0 && t[p + PSCE_KEY] === key && t[p + PSCE_PCID] === pcid ? p : -1;
}

export function pscFill(t: Int32Array, cpu: number, level: number, key: number, pcid: number, table: number, gen: number): void {
  const p = pscOffset(cpu, level, key & (PSC_SLOTS - 1));
  t[p + PSCE_VALID] = 0;
  t[p + PSCE_KEY] = key;
  t[p + PSCE_PCID] = pcid;
  t[p + PSCE_TABLE] = table;
  t[p + PSCE_GEN] = gen;
  t[p + PSCE_VALID] = 1;
}

export interface TlbEntrySnapshot {
  vpn: number;
  pcid: number;
  pfn: number;
  gen: number;
  write: boolean;
  user: boolean;
  dirty: boolean;
  global: boolean;
  nx: boolean;
  huge: boolean;
}

/**
 * Reads entry `e` of another CPU's TLB consistently (the sequence is even and unchanged around
 * the read). Returns null for an invalid entry.
 */
export function readTlbEntry(t: Int32Array, e: number): TlbEntrySnapshot | null {
  for (;;) {
    const seq = Atomics.load(t, e + TLBE_SEQ);
    if ((seq & 1) !== 0) continue;
    const flags = Atomics.load(t, e + TLBE_FLAGS);
    const snap = {
      vpn: Atomics.load(t, e + TLBE_VPN),
      pcid: Atomics.load(t, e + TLBE_PCID),
      pfn: Atomics.load(t, e + TLBE_PFN),
      gen: Atomics.load(t, e + TLBE_GEN),
      write: (flags & TLBF_WRITE) !== 0,
      user: (flags & TLBF_USER) !== 0,
      dirty: (flags & TLBF_DIRTY) !== 0,
      global: (flags & TLBF_GLOBAL) !== 0,
      nx: (flags & TLBF_NX) !== 0,
      huge: (flags & TLBF_HUGE) !== 0,
    };
    if (Atomics.load(t, e + TLBE_SEQ) !== seq) continue;
    return (flags & TLBF_VALID) !== 0 ? snap : null;
  }
}

/** The valid entries of `cpu`'s TLB that translate `vpn` (under any PCID), read consistently. */
export function tlbEntriesForVpn(t: Int32Array, cpu: number, vpn: number): TlbEntrySnapshot[] {
  const out: TlbEntrySnapshot[] = [];
  let e = tlbBase(cpu) + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
  for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
    const snap = readTlbEntry(t, e);
    if (snap !== null && snap.vpn === vpn) out.push(snap);
  }
  return out;
}

function dumpEntries(t: Int32Array, first: number, count: number): TlbEntrySnapshot[] {
  const out: TlbEntrySnapshot[] = [];
  for (let i = 0, e = first; i < count; i++, e += TLBE_WORDS) {
    const snap = readTlbEntry(t, e);
    if (snap !== null) out.push(snap);
  }
  return out;
}

/** Every valid entry of `cpu`'s 4 KiB TLB, read consistently. */
export function dumpTlb(t: Int32Array, cpu: number): TlbEntrySnapshot[] {
  return dumpEntries(t, tlbBase(cpu), TLB_ENTRIES);
}

/** Every valid entry of `cpu`'s contiguous TLB, read consistently: `vpn` and `pfn` are the block's first. */
export function dumpContTlb(t: Int32Array, cpu: number): TlbEntrySnapshot[] {
  return dumpEntries(t, tlbBase(cpu) + CTLB_BASE, CTLB_ENTRIES);
}

/** Every valid entry of `cpu`'s 2 MiB TLB, read consistently: `vpn` and `pfn` are the bases. */
export function dumpHugeTlb(t: Int32Array, cpu: number): TlbEntrySnapshot[] {
  return dumpEntries(t, tlbBase(cpu) + HTLB_BASE, HTLB_ENTRIES);
}

export interface PscEntrySnapshot {
  level: number;
  key: number;
  pcid: number;
  table: number;
  gen: number;
}

export function dumpPsc(t: Int32Array, cpu: number): PscEntrySnapshot[] {
  const out: PscEntrySnapshot[] = [];
  for (let level = 1; level <= PSC_LEVELS; level++) {
    for (let slot = 0; slot < PSC_SLOTS; slot++) {
      const p = pscOffset(cpu, level, slot);
      if (Atomics.load(t, p + PSCE_VALID) !== 0) {
        out.push({ level, key: t[p + PSCE_KEY], pcid: t[p + PSCE_PCID], table: t[p + PSCE_TABLE], gen: t[p + PSCE_GEN] });
      }
    }
  }
  return out;
}
