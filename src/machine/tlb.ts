/*
 * The TLB and the paging-structure caches of one CPU (layout in tlb-layout.ts).
 *
 * Invariant (x86): only the owning CPU fills or invalidates its TLB. It reads its entries with
 * plain loads; an entry it fills is published to checkers on other CPUs through the entry's
 * sequence word (odd while the fill is in progress).
 *
 * Invalidation follows the x86 instructions the kernel uses:
 *   tlbInvlpg       INVLPG: the entries for one page under the current PCID, global ones too,
 *                   and every paging-structure-cache entry of that PCID (SDM 4.10.4.1)
 *   tlbFlushPcid    a CR3 write without NOFLUSH, or INVPCID single-context: every non-global
 *                   entry of one PCID and its paging-structure-cache entries
 *   tlbFlushEverything   INVPCID all-context including globals (__flush_tlb_all)
 * Each returns how many TLB entries it invalidated.
 */
import {
  PSC_LEVELS, PSC_SLOTS, PSCE_GEN, PSCE_KEY, PSCE_PCID, PSCE_TABLE, PSCE_VALID,
  TLB_ENTRIES, TLB_SETS, TLB_WAYS, TLB_WORDS_PER_CPU, TLBE_EPOCH, TLBE_FILL_SEQ, TLBE_FLAGS, TLBE_GEN, TLBE_PCID, TLBE_PFN,
  TLBE_SEQ, TLBE_VPN, TLBE_WORDS, TLBF_DIRTY, TLBF_GLOBAL, TLBF_HUGE, TLBF_NX, TLBF_USER,
  TLBF_VALID, TLBF_WRITE, pscOffset,
} from './tlb-layout.ts';

export function tlbBase(cpu: number): number {
  return cpu * TLB_WORDS_PER_CPU;
}

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

/**
 * Fills an entry for (vpn, pcid), replacing any entry already translating it (the hardware
 * invalidates the entry a fault or a re-walk was about), else an invalid way, else way `victim`.
 * Returns the entry's word index. Owner only.
 */
export function tlbFill(t: Int32Array, base: number, vpn: number, pcid: number, pfn: number, flags: number, gen: number, victim: number, epoch = 0, fillSeq = 0): number {
  const set = base + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
  let e = tlbLookup(t, base, vpn, pcid);
  if (e < 0) {
    e = set + (victim & (TLB_WAYS - 1)) * TLBE_WORDS;
    for (let way = 0, w = set; way < TLB_WAYS; way++, w += TLBE_WORDS) {
      if ((t[w + TLBE_FLAGS] & TLBF_VALID) === 0) {
        e = w;
        break;
      }
    }
  }
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
  return e;
}

function invalidatePscOfPcid(t: Int32Array, cpu: number, pcid: number): void {
  for (let level = 1; level <= PSC_LEVELS; level++) {
    for (let slot = 0; slot < PSC_SLOTS; slot++) {
      const p = pscOffset(cpu, level, slot);
      if (t[p + PSCE_PCID] === pcid) t[p + PSCE_VALID] = 0;
    }
  }
}

/** INVLPG for `vpn` under `pcid`. */
export function tlbInvlpg(t: Int32Array, cpu: number, vpn: number, pcid: number): number {
  const base = tlbBase(cpu);
  let n = 0;
  let e = base + (vpn & (TLB_SETS - 1)) * TLB_WAYS * TLBE_WORDS;
  for (let way = 0; way < TLB_WAYS; way++, e += TLBE_WORDS) {
    const flags = t[e + TLBE_FLAGS];
    if ((flags & TLBF_VALID) !== 0 && t[e + TLBE_VPN] === vpn && (t[e + TLBE_PCID] === pcid || (flags & TLBF_GLOBAL) !== 0)) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  invalidatePscOfPcid(t, cpu, pcid);
  return n;
}

/**
 * What a page fault at `vpn` invalidates (SDM 4.10.4.1): the TLB entries for the page under
 * `pcid`, and the paging-structure-cache entries that would be used to translate it. Without the
 * latter a fault through a stale cached table would repeat forever.
 */
export function tlbInvalidateOnFault(t: Int32Array, cpu: number, vpn: number, pcid: number): void {
  const base = tlbBase(cpu);
  for (let e = tlbLookup(t, base, vpn, pcid); e >= 0; e = tlbLookup(t, base, vpn, pcid)) t[e + TLBE_FLAGS] = 0;
  for (let level = 1; level <= PSC_LEVELS; level++) {
    const p = pscLookup(t, cpu, level, vpn >>> (9 * level), pcid);
    if (p >= 0) t[p + PSCE_VALID] = 0;
  }
}

/** Every non-global entry of `pcid`, and its paging-structure-cache entries. */
export function tlbFlushPcid(t: Int32Array, cpu: number, pcid: number): number {
  const base = tlbBase(cpu);
  let n = 0;
  for (let i = 0, e = base; i < TLB_ENTRIES; i++, e += TLBE_WORDS) {
    const flags = t[e + TLBE_FLAGS];
    if ((flags & TLBF_VALID) !== 0 && (flags & TLBF_GLOBAL) === 0 && t[e + TLBE_PCID] === pcid) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  invalidatePscOfPcid(t, cpu, pcid);
  return n;
}

/** Every entry of every PCID, global ones too, and all paging-structure caches. */
export function tlbFlushEverything(t: Int32Array, cpu: number): number {
  const base = tlbBase(cpu);
  let n = 0;
  for (let i = 0, e = base; i < TLB_ENTRIES; i++, e += TLBE_WORDS) {
    if ((t[e + TLBE_FLAGS] & TLBF_VALID) !== 0) {
      t[e + TLBE_FLAGS] = 0;
      n++;
    }
  }
  for (let level = 1; level <= PSC_LEVELS; level++) {
    for (let slot = 0; slot < PSC_SLOTS; slot++) t[pscOffset(cpu, level, slot) + PSCE_VALID] = 0;
  }
  return n;
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

/** Every valid entry of `cpu`'s TLB, read consistently. */
export function dumpTlb(t: Int32Array, cpu: number): TlbEntrySnapshot[] {
  const out: TlbEntrySnapshot[] = [];
  for (let i = 0, e = tlbBase(cpu); i < TLB_ENTRIES; i++, e += TLBE_WORDS) {
    const snap = readTlbEntry(t, e);
    if (snap !== null) out.push(snap);
  }
  return out;
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
