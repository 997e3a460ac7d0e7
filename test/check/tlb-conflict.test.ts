import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, CACHED, type ConflictResult, type Options } from '../fixtures/tlb-conflict-workloads.ts';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { TLBE_FLAGS, TLBF_DIRTY, TLBF_GLOBAL, TLBF_USER, TLBF_WRITE } from '../../src/machine/tlb-layout.ts';
import { htlbFill, tlbBase, tlbFill, tlbFillHugePiece } from '../../src/machine/tlb.ts';
import { checkHugeTlbFill, checkPteTlbFill, readViolations } from '../../src/check/oracle.ts';

const machine = useMachine({ cpus: 2 });
const quiet = { seed: 21, speculationShift: -1 };
const run = (flush: boolean) =>
  machine().run<unknown, ConflictResult | number, Options>(fixtureUrl('tlb-conflict-workloads', 'collapseWithoutFlush'), { flush }, quiet);

describe('the TLB-conflict oracle against a huge PMD replacing a PTE table', () => {
  it('reports the 2 MiB fill beside stale 4 KiB entries when set_pmd_at comes without pmdp_collapse_flush', async () => {
    const r = await run(false);
    const oldPfn = r.results[0] as number;
    const cpu1 = r.results[1] as ConflictResult;
    // one report, on the filling CPU, for the first stale 4 KiB entry: old frame against the huge page's
    expect(r.violationCount).toBe(1);
    expect(r.violations[0]).toMatchObject({ kind: 'tlb-conflict', cpu: 1, va: BASE, details: [oldPfn, cpu1.huge, 21, 0, 0] });
    // both translations sit in CPU 1's TLB at once: 4 KiB entries to the old frames, a 2 MiB one to the copies
    expect(cpu1).toMatchObject({ pteEntries: CACHED, hugeEntries: 1, uncached: 0, cached: 0x7c000000 });
    expect(oldPfn).not.toBe(cpu1.huge);
  });

  it('stays silent in the kernel\'s order: the flush empties CPU 1\'s TLB before the huge PMD appears', async () => {
    const r = await run(true);
    const cpu1 = r.results[1] as ConflictResult;
    expect(r.violationCount).toBe(0);
    // every access of the range now goes through the 2 MiB entry and its pieces, to the copies
    expect(cpu1).toMatchObject({ pteEntries: 0, hugeEntries: 1, uncached: 0, cached: 0x7c000000 });
    expect(r.counters.huge_tlb_hits).toBe(1);
  });
});

describe('the TLB-conflict oracle at a fill', () => {
  const H = 0x4000; // a 2 MiB-aligned VPN
  const HUGE = 1024; // the 2 MiB page's first frame
  const RW = TLBF_USER | TLBF_WRITE;
  const RO = TLBF_USER;
  const newMachine = () => viewsOf(createMachineMemory(2, 16));
  const pte = (v: MachineViews, vpn: number, pfn: number, flags = RW, pcid = 1) => tlbFill(v.tlb, tlbBase(0), vpn, pcid, pfn, flags, 1, 0);
  const huge = (v: MachineViews, pcid = 1, base = HUGE, flags = RW) => htlbFill(v.tlb, 0, H, pcid, base, flags, 1, 0, 0, 0);
  const reports = (v: MachineViews) => readViolations(v).map((r) => ({ kind: r.kind, cpu: r.cpu, vpn: r.va / 4096, details: r.details }));

  it('reports a 2 MiB fill beside a 4 KiB entry of its range to another frame, once per fill', () => {
    const v = newMachine();
    pte(v, H + 3, 77);
    pte(v, H + 4, 78);
    checkHugeTlbFill(v, 0, H + 100, 1, HUGE, RW);
    expect(reports(v)).toEqual([{ kind: 'tlb-conflict', cpu: 0, vpn: H + 3, details: [77, HUGE + 3, 21, 0, 0] }]);
  });

  it('reports a 4 KiB entry to the same frame with other permissions, and passes one that agrees', () => {
    const v = newMachine();
    pte(v, H + 3, HUGE + 3, RW | TLBF_DIRTY);
    checkHugeTlbFill(v, 0, H, 1, HUGE, RW);
    expect(reports(v)).toEqual([]);
    pte(v, H + 4, HUGE + 4, RO);
    checkHugeTlbFill(v, 0, H, 1, HUGE, RW);
    expect(reports(v)).toEqual([{ kind: 'tlb-conflict', cpu: 0, vpn: H + 4, details: [HUGE + 4, HUGE + 4, 21, TLBF_WRITE, 0] }]);
  });

  it('passes the pieces of the same 2 MiB page, also from a read-only fill, but not those of another', () => {
    const v = newMachine();
    tlbFillHugePiece(v.tlb, 0, huge(v, 1, HUGE, RO), H + 5, 1, 0);
    checkHugeTlbFill(v, 0, H, 1, HUGE, RW);
    expect(reports(v)).toEqual([]);
    tlbFillHugePiece(v.tlb, 0, huge(v, 1, 2048, RW), H + 6, 1, 0);
    checkHugeTlbFill(v, 0, H, 1, HUGE, RW);
    expect(reports(v)).toEqual([{ kind: 'tlb-conflict', cpu: 0, vpn: H + 6, details: [2048 + 6, HUGE + 6, 21, 0, 0] }]);
  });

  it('looks only at entries of the filling PCID (or global), inside the 2 MiB, in the filling CPU\'s TLB', () => {
    const v = newMachine();
    pte(v, H + 3, 77, RW, 2);
    pte(v, H + 512, 77);
    pte(v, H - 1, 77);
    tlbFill(v.tlb, tlbBase(1), H + 3, 1, 77, RW, 1, 0);
    checkHugeTlbFill(v, 0, H, 1, HUGE, RW);
    expect(reports(v)).toEqual([]);
    pte(v, H + 9, 77, RW | TLBF_GLOBAL, 3);
    checkHugeTlbFill(v, 0, H, 1, HUGE, RW);
    expect(reports(v)).toMatchObject([{ vpn: H + 9 }]);
  });

  it('reports a 4 KiB fill from a PTE under a 2 MiB entry that translates the page otherwise, and passes one that agrees', () => {
    const v = newMachine();
    huge(v);
    checkPteTlbFill(v, 0, H + 7, 1, HUGE + 7, RW);
    checkPteTlbFill(v, 0, H + 7 + 512, 1, 99, RW);
    checkPteTlbFill(v, 0, H + 7, 2, 99, RW);
    expect(reports(v)).toEqual([]);
    checkPteTlbFill(v, 0, H + 7, 1, 99, RW);
    checkPteTlbFill(v, 0, H + 8, 1, HUGE + 8, RO);
    expect(reports(v)).toEqual([
      { kind: 'tlb-conflict', cpu: 0, vpn: H + 7, details: [99, HUGE + 7, 12, 0, 0] },
      { kind: 'tlb-conflict', cpu: 0, vpn: H + 8, details: [HUGE + 8, HUGE + 8, 12, TLBF_WRITE, 0] },
    ]);
  });

  it('compares a 4 KiB fill with the piece for its page when the 2 MiB entry is gone', () => {
    const v = newMachine();
    const h = huge(v);
    tlbFillHugePiece(v.tlb, 0, h, H + 7, 1, 0);
    v.tlb[h + TLBE_FLAGS] = 0; // the 2 MiB entry evicted
    checkPteTlbFill(v, 0, H + 8, 1, 99, RW);
    expect(reports(v)).toEqual([]);
    checkPteTlbFill(v, 0, H + 7, 1, 99, RW);
    expect(reports(v)).toEqual([{ kind: 'tlb-conflict', cpu: 0, vpn: H + 7, details: [99, HUGE + 7, 12, 0, 0] }]);
  });
});
