import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { InFlight, Issuer, Sleeper } from '../fixtures/tlbi-workloads.ts';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { CTLB_SETS, HPAGE_VPNS, TLBF_CONT, TLBF_HUGE, TLBF_USER } from '../../src/machine/tlb-layout.ts';
import {
  ctlbFill, dumpContTlb, dumpHugeTlb, dumpPsc, htlbFill, pscFill, tlbBase, tlbEntriesForVpn, tlbFill, tlbFillContPiece, tlbFillHugePiece,
  tlbInvlpg, tlbiAll, tlbiAsid, tlbiRange, tlbiVa, tlbiVaPages,
} from '../../src/machine/tlb.ts';

describe('TLBI ... IS in flight and DSB ISH (machine/tlbi-broadcast.ts)', () => {
  const machine = useMachine({ cpus: 3 });
  const workload = (name: string) => fixtureUrl('tlbi-workloads', name);

  it('a TLBI takes effect on a running CPU only at its interrupt point; a DSB waits only for its own TLBIs', async () => {
    const run = await machine().run<unknown, InFlight | Issuer | null, object>(workload('inFlight'), {}, { seed: 1, speculationShift: -1 });
    const [cpu0, target, cpu2] = run.results as [Issuer, InFlight, Issuer];
    // both TLBIs were posted and CPU 1 ran on without an interrupt point: both entries still there
    expect(target).toEqual({ xCachedBeforeInterrupt: true, yCachedBeforeInterrupt: true, xCachedAfterInterrupt: false, yCachedAfterInterrupt: false });
    // the issuer's own TLB at once
    expect(cpu0.ownCachedAfterTlbi).toBe(false);
    expect(cpu2.ownCachedAfterTlbi).toBe(false);
    // CPU 0's DSB, with no TLBI of its own, returned while CPU 2's TLBI was still in flight on CPU 1
    expect(cpu0.otherCachedAfterOwnDsb).toBe(true);
    // each issuer's DSB returned only once its TLBI was applied on CPU 1, which it waited for
    expect(cpu0.targetCachedAfterDsb).toBe(false);
    expect(cpu0.dsbWaits).toBe(1);
    expect(cpu2.targetCachedAfterDsb).toBe(false);
    expect(cpu2.dsbWaits).toBe(1);
    expect(run.counters.tlbi_va).toBe(2);
    expect(run.counters.dsb_ish).toBe(3);
    expect(run.counters.ipis_sent).toBe(0);
  });

  it('the issuer applies its TLBI to a CPU that sleeps, and its DSB returns before that CPU wakes', async () => {
    const run = await machine().run<unknown, Sleeper | null, object>(workload('sleeper'), {}, { seed: 2, speculationShift: -1 });
    expect(run.results[0]).toEqual({ cachedOnWaking: false, targetCachedAfterDsb: false });
    expect(run.results[1]).toEqual({ cachedOnWaking: false });
    expect(run.counters.dsb_ish_waits).toBe(1);
  });
});

describe('local TLBI semantics (machine/tlb.ts)', () => {
  const V = 0x40_1234; // a VPN; its walk-cache keys: V >>> 9, >>> 18, >>> 27
  const OTHER = (5 * 2 ** 27) + (7 << 18) + (3 << 9); // other walk-cache keys and slots at every level
  const ASID = 7;
  const newTlb = () => viewsOf(createMachineMemory(2, 16)).tlb;
  const fill = (t: Int32Array, vpn: number, asid = ASID, flags = TLBF_USER) => tlbFill(t, tlbBase(0), vpn, asid, 100, flags, 1, 0);
  /** One walk-cache entry per level for `vpn` under `asid`. */
  function walkCache(t: Int32Array, vpn: number, asid = ASID): void {
    for (let level = 1; level <= 3; level++) pscFill(t, 0, level, vpn >>> (9 * level), asid, 50 + level, 1);
  }
  const walkCacheKeys = (t: Int32Array) => dumpPsc(t, 0).map((p) => [p.level, p.key]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const keysOf = (vpn: number) => [1, 2, 3].map((level) => [level, vpn >>> (9 * level)]);

  it('VAE1 drops the leaf and the walk-cache entries for that VA only; INVLPG drops the whole PCID\'s', () => {
    const t = newTlb();
    fill(t, V);
    walkCache(t, V);
    walkCache(t, OTHER);
    expect(tlbiVa(t, 0, V, ASID, false)).toBe(1);
    expect(tlbEntriesForVpn(t, 0, V)).toEqual([]);
    expect(walkCacheKeys(t)).toEqual(keysOf(OTHER));

    const x = newTlb();
    walkCache(x, V);
    walkCache(x, OTHER);
    tlbInvlpg(x, 0, V, ASID);
    expect(walkCacheKeys(x)).toEqual([]);
  });

  it('VALE1 drops the leaf and keeps the walk cache', () => {
    const t = newTlb();
    fill(t, V);
    walkCache(t, V);
    expect(tlbiVa(t, 0, V, ASID, true)).toBe(1);
    expect(tlbEntriesForVpn(t, 0, V)).toEqual([]);
    expect(walkCacheKeys(t)).toEqual(keysOf(V));
  });

  it('by VA: another ASID\'s entry stays; a 2 MiB entry covering the VA goes with its pieces', () => {
    const t = newTlb();
    fill(t, V, ASID + 1);
    const hvpn = V & ~(HPAGE_VPNS - 1);
    const h = htlbFill(t, 0, hvpn + 3, ASID, 512, TLBF_USER, 1, 0, 0, 0);
    tlbFillHugePiece(t, 0, h, hvpn + 3, 1, 0);
    expect(tlbiVaPages(t, 0, hvpn + 200, 1, 1, ASID, true)).toBe(2);
    expect(dumpHugeTlb(t, 0)).toEqual([]);
    expect(tlbEntriesForVpn(t, 0, hvpn + 3)).toEqual([]);
    expect(tlbEntriesForVpn(t, 0, V).map((e) => e.pcid)).toEqual([ASID + 1]);
  });

  it('a contiguous entry and its pieces go with a TLBI of any page of the block, by VA or by range', () => {
    const block = V & ~15;
    for (const flush of [
      (t: Int32Array) => tlbiVa(t, 0, block + 15, ASID, true),
      (t: Int32Array) => tlbiRange(t, 0, block + 15, block + 40, ASID, true),
      (t: Int32Array) => tlbiAsid(t, 0, ASID),
      (t: Int32Array) => tlbiAll(t, 0),
    ]) {
      const t = newTlb();
      const c = ctlbFill(t, 0, block + 2, ASID, 200, TLBF_USER, 1, 0, 0, 0);
      tlbFillContPiece(t, 0, c, block + 2, 1, 0, 0);
      tlbFillContPiece(t, 0, c, block + 9, 1, 0, 0);
      expect(tlbEntriesForVpn(t, 0, block + 9)[0]).toMatchObject({ pfn: 209 });
      expect(flush(t)).toBe(3);
      expect(dumpContTlb(t, 0)).toEqual([]);
      expect(tlbEntriesForVpn(t, 0, block + 2)).toEqual([]);
      expect(tlbEntriesForVpn(t, 0, block + 9)).toEqual([]);
    }
  });

  it('a TLBI of a page outside the block leaves the contiguous entry and its pieces', () => {
    const block = V & ~15;
    const t = newTlb();
    const c = ctlbFill(t, 0, block, ASID, 200, TLBF_USER, 1, 0, 0, 0);
    tlbFillContPiece(t, 0, c, block + 1, 1, 0, 0);
    // the next block, in the CTLB set after this one's
    expect(tlbiVa(t, 0, block + 16, ASID, false) + tlbiRange(t, 0, block - 16, block, ASID, false)).toBe(0);
    expect(dumpContTlb(t, 0)).toHaveLength(1);
    expect(tlbEntriesForVpn(t, 0, block + 1)).toHaveLength(1);
    expect(CTLB_SETS).toBeGreaterThan(1);
  });

  it('RVAE1 drops every leaf in the range and the walk-cache entries that translate it; RVALE1 keeps the walk cache', () => {
    for (const leafOnly of [false, true]) {
      const t = newTlb();
      for (let i = 0; i < 8; i++) fill(t, V + i);
      fill(t, V + 8);
      walkCache(t, V);
      walkCache(t, OTHER);
      expect(tlbiRange(t, 0, V, V + 8, ASID, leafOnly)).toBe(8);
      expect(tlbEntriesForVpn(t, 0, V + 8)).toHaveLength(1);
      expect(walkCacheKeys(t)).toEqual(leafOnly ? [...keysOf(V), ...keysOf(OTHER)].sort((a, b) => a[0] - b[0] || a[1] - b[1]) : keysOf(OTHER));
    }
  });

  it('the piece flags say which entry a 4 KiB entry stands for', () => {
    const t = newTlb();
    const c = ctlbFill(t, 0, V, ASID, 200, TLBF_USER, 1, 0, 0, 0);
    const p = tlbFillContPiece(t, 0, c, V, 1, 0, 0);
    expect(t[p + 3] & (TLBF_CONT | TLBF_HUGE)).toBe(TLBF_CONT);
  });
});
