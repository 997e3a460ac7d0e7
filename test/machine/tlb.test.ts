import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import {
  HTLB_SETS, HTLB_WAYS, PSC_LEVELS, PSC_SLOTS, PSCE_GEN, PSCE_TABLE, TLB_ENTRIES, TLB_SETS, TLB_WAYS, TLBE_EPOCH, TLBE_FILL_SEQ, TLBE_SEQ,
  TLBE_WORDS,
  TLBF_DIRTY, TLBF_GLOBAL, TLBF_HUGE, TLBF_NX, TLBF_USER, TLBF_WRITE,
} from '../../src/machine/tlb-layout.ts';
import {
  dumpHugeTlb, dumpPsc, dumpTlb, htlbFill, htlbLookup, pscFill, pscLookup, readTlbEntry, tlbBase, tlbEntriesForVpn, tlbFill,
  tlbFillHugePiece, tlbFlushEverything, tlbFlushPcid, tlbInvalidateOnFault, tlbInvlpg, tlbLookup, type TlbEntrySnapshot,
} from '../../src/machine/tlb.ts';

const V = 0x1234; // a VPN; V + k * TLB_SETS falls in the same set
const W = 0x777; // a VPN in another set

const newTlb = () => viewsOf(createMachineMemory(2, 16)).tlb;

interface FillOpts {
  pfn?: number;
  flags?: number;
  gen?: number;
  victim?: number;
  cpu?: number;
}

function fill(t: Int32Array, vpn: number, pcid: number, { pfn = 100, flags = 0, gen = 1, victim = 0, cpu = 0 }: FillOpts = {}): number {
  return tlbFill(t, tlbBase(cpu), vpn, pcid, pfn, flags, gen, victim);
}

const hits = (t: Int32Array, vpn: number, pcid: number, cpu = 0) => tlbLookup(t, tlbBase(cpu), vpn, pcid) >= 0;

/** The (vpn, pcid) pairs `cpu`'s TLB holds, in a stable order. */
const resident = (t: Int32Array, cpu = 0) =>
  dumpTlb(t, cpu).map((e) => [e.vpn, e.pcid]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);

/** The (level, pcid) pairs `cpu`'s paging-structure caches hold. */
const cachedTables = (t: Int32Array, cpu = 0) => dumpPsc(t, cpu).map((p) => [p.level, p.pcid]);

/** One paging-structure-cache entry per level for each of `pcids`, keyed away from V. */
function fillPscs(t: Int32Array, pcids: number[], cpu = 0): void {
  pcids.forEach((pcid, i) => {
    for (let level = 1; level <= PSC_LEVELS; level++) pscFill(t, cpu, level, 3 + i, pcid, 50 + level, 1);
  });
}

describe('tlbLookup', () => {
  it('hits only the (vpn, pcid) an entry was filled for', () => {
    const t = newTlb();
    fill(t, V, 1);
    expect(hits(t, V, 1)).toBe(true);
    expect(hits(t, V, 2)).toBe(false);
    expect(hits(t, V + TLB_SETS, 1)).toBe(false);
    expect(hits(t, V + 1, 1)).toBe(false);
  });

  it('hits a global entry under every PCID', () => {
    const t = newTlb();
    fill(t, V, 1, { flags: TLBF_GLOBAL });
    expect([hits(t, V, 1), hits(t, V, 2), hits(t, V, 4095)]).toEqual([true, true, true]);
  });

  it('looks only into the given CPU\'s TLB', () => {
    const t = newTlb();
    fill(t, V, 1, { cpu: 1 });
    expect([hits(t, V, 1, 0), hits(t, V, 1, 1)]).toEqual([false, true]);
  });
});

describe('tlbFill', () => {
  it('replaces the entry for the same (vpn, pcid) rather than adding a second, even with a free way', () => {
    const t = newTlb();
    fill(t, V, 1);
    const e = fill(t, V + TLB_SETS, 1, { pfn: 100 });
    tlbInvlpg(t, 0, V, 1); // frees the way before e
    expect(fill(t, V + TLB_SETS, 1, { pfn: 200, flags: TLBF_DIRTY })).toBe(e);
    expect(dumpTlb(t, 0)).toHaveLength(1);
    expect(readTlbEntry(t, e)).toMatchObject({ vpn: V + TLB_SETS, pcid: 1, pfn: 200, dirty: true });
  });

  it('keeps entries for one vpn under different PCIDs side by side', () => {
    const t = newTlb();
    fill(t, V, 1, { pfn: 10 });
    fill(t, V, 2, { pfn: 20 });
    expect(tlbEntriesForVpn(t, 0, V).map((e) => [e.pcid, e.pfn]).sort()).toEqual([[1, 10], [2, 20]]);
  });

  it('takes free ways before evicting anything', () => {
    const t = newTlb();
    const vpns = Array.from({ length: TLB_WAYS }, (_, k) => V + k * TLB_SETS);
    const ways = vpns.map((vpn) => fill(t, vpn, 1, { victim: 0 }));
    expect(new Set(ways).size).toBe(TLB_WAYS);
    expect(vpns.every((vpn) => hits(t, vpn, 1))).toBe(true);
  });

  it.each([0, 1, 2, 3, 6])('evicts way %i (mod TLB_WAYS) when the set is full, and only that entry', (victim) => {
    const t = newTlb();
    const vpns = Array.from({ length: TLB_WAYS }, (_, k) => V + k * TLB_SETS);
    vpns.forEach((vpn) => fill(t, vpn, 1));
    fill(t, W, 1);
    const newcomer = V + TLB_WAYS * TLB_SETS;
    fill(t, newcomer, 1, { victim });
    const evicted = vpns[victim % TLB_WAYS];
    expect(vpns.filter((vpn) => !hits(t, vpn, 1))).toEqual([evicted]);
    expect([hits(t, newcomer, 1), hits(t, W, 1)]).toEqual([true, true]);
    expect(dumpTlb(t, 0)).toHaveLength(TLB_WAYS + 1);
  });

  it('leaves the entry\'s sequence word even, two higher per fill', () => {
    const t = newTlb();
    const e = fill(t, V, 1);
    expect(t[e + TLBE_SEQ]).toBe(2);
    fill(t, V, 1, { pfn: 7 });
    expect(t[e + TLBE_SEQ]).toBe(4);
  });
});

describe('tlbInvlpg', () => {
  it('invalidates only that vpn under that PCID', () => {
    const t = newTlb();
    for (const [vpn, pcid] of [[V, 1], [V, 2], [V + TLB_SETS, 1], [V + 1, 1]]) fill(t, vpn, pcid);
    expect(tlbInvlpg(t, 0, V, 1)).toBe(1);
    expect(resident(t)).toEqual([[V, 2], [V + 1, 1], [V + TLB_SETS, 1]]);
  });

  it('also invalidates a global entry for that vpn, whatever PCID filled it, and no other global', () => {
    const t = newTlb();
    fill(t, V, 3, { flags: TLBF_GLOBAL });
    fill(t, V + TLB_SETS, 3, { flags: TLBF_GLOBAL });
    expect(tlbInvlpg(t, 0, V, 1)).toBe(1);
    expect(resident(t)).toEqual([[V + TLB_SETS, 3]]);
  });

  it('invalidates every paging-structure-cache entry of that PCID, whatever its address, and no other', () => {
    const t = newTlb();
    fillPscs(t, [1, 2]);
    tlbInvlpg(t, 0, V, 1);
    expect(cachedTables(t)).toEqual([[1, 2], [2, 2], [3, 2]]);
  });

  it('touches only the given CPU', () => {
    const t = newTlb();
    fill(t, V, 1, { cpu: 0 });
    fill(t, V, 1, { cpu: 1 });
    fillPscs(t, [1], 0);
    tlbInvlpg(t, 1, V, 1);
    expect([hits(t, V, 1, 0), hits(t, V, 1, 1)]).toEqual([true, false]);
    expect(dumpPsc(t, 0)).toHaveLength(PSC_LEVELS);
  });
});

describe('tlbFlushPcid', () => {
  it('invalidates every non-global entry of that PCID and nothing else', () => {
    const t = newTlb();
    fill(t, V, 1);
    fill(t, W, 1);
    fill(t, V, 2);
    fill(t, V + 1, 1, { flags: TLBF_GLOBAL });
    expect(tlbFlushPcid(t, 0, 1)).toBe(2);
    expect(resident(t)).toEqual([[V, 2], [V + 1, 1]]);
  });

  it('invalidates that PCID\'s paging-structure-cache entries only', () => {
    const t = newTlb();
    fillPscs(t, [1, 2]);
    tlbFlushPcid(t, 0, 2);
    expect(cachedTables(t)).toEqual([[1, 1], [2, 1], [3, 1]]);
  });
});

describe('tlbFlushEverything', () => {
  it('invalidates every entry of every PCID, globals included, and every paging-structure cache', () => {
    const t = newTlb();
    fill(t, V, 1);
    fill(t, W, 2);
    fill(t, V + 1, 3, { flags: TLBF_GLOBAL });
    fillPscs(t, [1, 2]);
    fill(t, V, 1, { cpu: 1 });
    fillPscs(t, [1], 1);

    expect(tlbFlushEverything(t, 0)).toBe(3);
    expect(dumpTlb(t, 0)).toEqual([]);
    expect(dumpPsc(t, 0)).toEqual([]);
    expect([dumpTlb(t, 1).length, dumpPsc(t, 1).length]).toEqual([1, PSC_LEVELS]);
  });
});

describe('pscLookup', () => {
  it('matches level, key and PCID, and returns the table and its generation', () => {
    const t = newTlb();
    pscFill(t, 0, 1, 5, 1, 42, 7);
    const p = pscLookup(t, 0, 1, 5, 1);
    expect([t[p + PSCE_TABLE], t[p + PSCE_GEN]]).toEqual([42, 7]);
    expect([pscLookup(t, 0, 1, 5, 2), pscLookup(t, 0, 2, 5, 1), pscLookup(t, 1, 1, 5, 1)]).toEqual([-1, -1, -1]);
  });

  it('is direct-mapped: a key in the same slot replaces the one before', () => {
    const t = newTlb();
    pscFill(t, 0, 1, 5, 1, 42, 7);
    pscFill(t, 0, 1, 5 + PSC_SLOTS, 1, 43, 7);
    expect(pscLookup(t, 0, 1, 5, 1)).toBe(-1);
    expect(pscLookup(t, 0, 1, 5 + PSC_SLOTS, 1)).toBeGreaterThanOrEqual(0);
  });
});

describe('snapshots', () => {
  it('readTlbEntry decodes every field, and returns null for an empty or invalidated way', () => {
    const t = newTlb();
    const all = TLBF_WRITE | TLBF_USER | TLBF_DIRTY | TLBF_GLOBAL | TLBF_NX | TLBF_HUGE;
    const e = fill(t, V, 9, { pfn: 0x7ffff, flags: all, gen: 12 });
    expect(readTlbEntry(t, e)).toEqual({
      vpn: V, pcid: 9, pfn: 0x7ffff, gen: 12, write: true, user: true, dirty: true, global: true, nx: true, huge: true,
    });
    const plain = fill(t, W, 9);
    expect(readTlbEntry(t, plain)).toMatchObject({ write: false, user: false, dirty: false, global: false, nx: false, huge: false });
    expect(readTlbEntry(t, plain + TLBE_WORDS)).toBeNull();
    tlbInvlpg(t, 0, V, 9);
    expect(readTlbEntry(t, e)).toBeNull();
  });

  it('dumpTlb lists exactly the valid entries, each as readTlbEntry reads it where tlbLookup finds it', () => {
    const t = newTlb();
    const filled: [number, number][] = [[V, 1], [V, 2], [V + TLB_SETS, 1], [W, 1], [W + 1, 3], [0, 1]];
    filled.forEach(([vpn, pcid], i) => fill(t, vpn, pcid, { pfn: 100 + i, gen: i }));
    tlbInvlpg(t, 0, W, 1);
    fill(t, V, 1, { cpu: 1 });

    const dump = dumpTlb(t, 0);
    expect(dump.map((e) => [e.vpn, e.pcid])).toEqual(expect.arrayContaining(filled.filter(([vpn]) => vpn !== W)));
    expect(dump).toHaveLength(filled.length - 1);
    for (const snap of dump) expect(readTlbEntry(t, tlbLookup(t, tlbBase(0), snap.vpn, snap.pcid))).toEqual(snap);
  });

  it('dumpTlb sees a full TLB of TLB_ENTRIES entries', () => {
    const t = newTlb();
    for (let vpn = 0; vpn < TLB_ENTRIES; vpn++) fill(t, vpn, 1, { pfn: vpn });
    const dump = dumpTlb(t, 0);
    expect(dump).toHaveLength(TLB_ENTRIES);
    expect(dump.every((e: TlbEntrySnapshot) => e.pfn === e.vpn)).toBe(true);
  });

  it('tlbEntriesForVpn returns that vpn\'s entries under every PCID and none of its set neighbours', () => {
    const t = newTlb();
    fill(t, V, 1);
    fill(t, V, 2, { flags: TLBF_GLOBAL });
    fill(t, V + TLB_SETS, 1);
    expect(tlbEntriesForVpn(t, 0, V).map((e) => [e.pcid, e.global]).sort()).toEqual([[1, false], [2, true]]);
    expect(tlbEntriesForVpn(t, 1, V)).toEqual([]);
  });
});

describe('tlbInvalidateOnFault', () => {
  it('drops the page\'s entry and the cached tables that translate it, under that PCID only', () => {
    const t = newTlb();
    fill(t, V, 1);
    fill(t, V, 2);
    fill(t, W, 1);
    for (let level = 1; level <= PSC_LEVELS; level++) pscFill(t, 0, level, V >>> (9 * level), 1, 40 + level, 1);
    pscFill(t, 0, 1, (V >>> 9) + 1, 1, 60, 1); // the PDE of the next 2 MiB region
    const cached = () => [1, 2, 3].map((level) => pscLookup(t, 0, level, V >>> (9 * level), 1) >= 0);

    tlbInvalidateOnFault(t, 0, V, 2);
    expect(hits(t, V, 2)).toBe(false);
    expect(hits(t, V, 1)).toBe(true);
    expect(cached()).toEqual([true, true, true]);

    tlbInvalidateOnFault(t, 0, V, 1);
    expect(resident(t)).toEqual([[W, 1]]);
    expect(cached()).toEqual([false, false, false]);
    expect(pscLookup(t, 0, 1, (V >>> 9) + 1, 1)).toBeGreaterThanOrEqual(0);
  });
});

describe('the 2 MiB TLB', () => {
  const H = 0x4000; // a 2 MiB-aligned VPN
  const hfill = (t: Int32Array, vpn: number, pcid: number, { pfn = 1024, flags = TLBF_WRITE, victim = 0, cpu = 0 }: FillOpts = {}) =>
    htlbFill(t, cpu, vpn, pcid, pfn, flags, 1, victim, 3, 9);
  const hugeResident = (t: Int32Array, cpu = 0) => dumpHugeTlb(t, cpu).map((e) => [e.vpn, e.pcid]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  /** The 2 MiB entry covering `vpn`, and its pieces for `pieces` (offsets in the 2 MiB page). */
  function cacheHuge(t: Int32Array, vpn: number, pcid: number, pieces: number[], flags = TLBF_WRITE): void {
    const h = hfill(t, vpn, pcid, { flags });
    for (const off of pieces) tlbFillHugePiece(t, 0, h, (vpn & ~511) + off, 1, 0);
  }

  it('covers the 512 pages of its 2 MiB under its PCID, keyed by the aligned base', () => {
    const t = newTlb();
    const h = hfill(t, H + 77, 1);
    expect(dumpHugeTlb(t, 0)).toEqual([expect.objectContaining({ vpn: H, pcid: 1, pfn: 1024, write: true })]);
    expect([htlbLookup(t, 0, H, 1), htlbLookup(t, 0, H + 511, 1)]).toEqual([h, h]);
    expect([htlbLookup(t, 0, H + 512, 1), htlbLookup(t, 0, H - 1, 1), htlbLookup(t, 0, H, 2), htlbLookup(t, 1, H, 1)]).toEqual([-1, -1, -1, -1]);
    expect(tlbLookup(t, tlbBase(0), H, 1)).toBe(-1);
  });

  it('replaces the entry covering the same 2 MiB, and evicts way `victim` of a full set', () => {
    const t = newTlb();
    const h = hfill(t, H, 1);
    expect(hfill(t, H + 5, 1, { pfn: 2048 })).toBe(h);
    expect(dumpHugeTlb(t, 0)).toEqual([expect.objectContaining({ vpn: H, pfn: 2048 })]);
    const sameSet = (k: number) => H + k * HTLB_SETS * 512;
    for (let k = 1; k < HTLB_WAYS; k++) hfill(t, sameSet(k), 1);
    hfill(t, sameSet(HTLB_WAYS), 1, { victim: 2 });
    expect(htlbLookup(t, 0, sameSet(2), 1)).toBe(-1);
    expect(dumpHugeTlb(t, 0)).toHaveLength(HTLB_WAYS);
  });

  it('installs a piece as a 4 KiB entry of base + offset with the entry\'s flags, epoch and sequence, flagged huge', () => {
    const t = newTlb();
    const h = hfill(t, H, 1, { flags: TLBF_WRITE | TLBF_DIRTY });
    const e = tlbFillHugePiece(t, 0, h, H + 300, 4, 0);
    expect(readTlbEntry(t, e)).toMatchObject({ vpn: H + 300, pcid: 1, pfn: 1324, gen: 4, write: true, dirty: true, huge: true });
    expect([t[e + TLBE_EPOCH], t[e + TLBE_FILL_SEQ]]).toEqual([3, 9]);
  });

  it('INVLPG of any page of the 2 MiB drops the entry and every piece of it, under that PCID only', () => {
    const t = newTlb();
    cacheHuge(t, H, 1, [0, 1, 300]);
    cacheHuge(t, H + 512, 1, [0]);
    cacheHuge(t, H, 2, [1]);
    fill(t, H + 7, 1); // a 4 KiB entry from a PTE, not the 2 MiB page's
    expect(tlbInvlpg(t, 0, H + 200, 1)).toBe(4);
    expect(hugeResident(t)).toEqual([[H, 2], [H + 512, 1]]);
    expect(resident(t)).toEqual([[H + 1, 2], [H + 7, 1], [H + 512, 1]]);
  });

  it('a fault drops the 2 MiB entry covering the page and its pieces', () => {
    const t = newTlb();
    cacheHuge(t, H, 1, [0, 2]);
    tlbInvalidateOnFault(t, 0, H + 9, 1);
    expect([dumpHugeTlb(t, 0), dumpTlb(t, 0)]).toEqual([[], []]);
  });

  it('a PCID flush drops that PCID\'s non-global 2 MiB entries, a full flush every one', () => {
    const t = newTlb();
    cacheHuge(t, H, 1, [0]);
    cacheHuge(t, H, 2, [0]);
    hfill(t, H + 512, 1, { flags: TLBF_GLOBAL });
    expect(tlbFlushPcid(t, 0, 1)).toBe(2);
    expect(hugeResident(t)).toEqual([[H, 2], [H + 512, 1]]);
    expect(tlbFlushEverything(t, 0)).toBe(3); // two 2 MiB entries and PCID 2's piece
    expect(dumpHugeTlb(t, 0)).toEqual([]);
  });
});
