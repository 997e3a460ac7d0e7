/*
 * Readable oracle reports (src/check/describe.ts): each kind's detail words, recorded through the
 * violation log as the oracles record them, come out named and decoded.
 */
import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { ViolationKind, readFirstReports, readReportCounts, readViolations, reportViolation } from '../../src/check/oracle.ts';
import { PromiseKind } from '../../src/check/promises.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, mkPte } from '../../src/machine/pte-x86.ts';
import { TLBF_DIRTY, TLBF_NX, TLBF_USER, TLBF_VALID, TLBF_WRITE } from '../../src/machine/tlb-layout.ts';
import { describePte, describeViolation } from '../../src/check/describe.ts';
import { MAX_KINDS } from '../../src/check/violation-layout.ts';

const VPN = 0x200000a;
const ADDRESS = '0x200000a000';
const DIRTY = mkPte(0x35, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY);
const CLEAN = mkPte(0x35, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);

/** One report recorded on CPU 3 as an oracle records it, read back and described. */
function recorded(kind: ViolationKind, a0: number, a1: number, a2: number, a3: number, a4 = 0, cpu = 3) {
  const v = viewsOf(createMachineMemory(4, 64));
  reportViolation(v, cpu, kind, VPN, a0, a1, a2, a3, a4);
  const [r] = readViolations(v);
  return describeViolation(r);
}

describe('describePte', () => {
  it('prints the word, its flags and its PFN', () => {
    expect(describePte(DIRTY)).toBe('0x35067 [P RW US A D] pfn 0x35');
    expect(describePte(mkPte(0x7ffff, _PAGE_PRESENT | _PAGE_NX))).toBe('0xfffff001 [P NX] pfn 0x7ffff');
    expect(describePte(0)).toBe('0x0 (none)');
  });
});

describe('describeViolation', () => {
  it('use-after-free: the frame, its generation at fill and now, read or write', () => {
    const d = recorded(ViolationKind.UseAfterFree, 0x35, 4, 5, 1);
    expect(d.message).toBe(`use-after-free on CPU 3, write at ${ADDRESS}: through a TLB entry for pfn 0x35 filled at frame generation 4; the frame is at generation 5 now (freed since)`);
    expect(d.fields).toEqual({ address: ADDRESS, access: 'write', pfn: '0x35', frameGenerationAtFill: 4, frameGenerationNow: 5 });
  });

  it.each([
    [PromiseKind.Unmapped, 'munmap'],
    [PromiseKind.Zapped, 'madvise(MADV_DONTNEED)'],
    [PromiseKind.WriteProtected, 'mprotect(PROT_READ)'],
    [PromiseKind.Inaccessible, 'mprotect(PROT_NONE)'],
  ])('access-after-return: promise kind %i is the system call %s', (promise, call) => {
    const d = recorded(ViolationKind.AccessAfterReturn, promise, 0x35, CLEAN & ~_PAGE_RW, 1, TLBF_VALID | TLBF_WRITE | TLBF_USER | TLBF_DIRTY);
    expect(d.message).toBe(`access-after-return on CPU 3, write at ${ADDRESS}: after ${call} returned: the TLB entry still maps pfn 0x35 [V W U D], the PTE is now 0x35025 [P US A] pfn 0x35`);
    expect(d.fields).toEqual({ address: ADDRESS, access: 'write', promiseBrokenBy: call, tlbEntry: 'pfn 0x35 [V W U D]', pteNow: '0x35025 [P US A] pfn 0x35' });
  });

  it('lost-write: the page-cache frame, the PTE found, when the entry was filled and when the page was written back', () => {
    const d = recorded(ViolationKind.LostWrite, 0x35, CLEAN, 16, 27);
    expect(d.message).toContain(`lost-write on CPU 3, write at ${ADDRESS}: to page-cache pfn 0x35 through a TLB entry filled at seq 16, before writeback copied the page at seq 27; the page is clean`);
    expect(d.fields).toEqual({ address: ADDRESS, access: 'write', pfn: '0x35', pteNow: '0x35027 [P RW US A] pfn 0x35', tlbEntryFilledAtSeq: 16, writtenBackAtSeq: 27 });
  });

  it('lost-data: the value found, where, and the value a CPU stored last', () => {
    const d = recorded(ViolationKind.LostData, 1, 2, 1, 2);
    expect(d.message).toBe(`lost-data on CPU 3, end-of-trial check at ${ADDRESS}: the word holds 0x1 (disk), none of the values last stored to it (CPU 1 stored 0x2)`);
    expect(d.fields).toEqual({ address: ADDRESS, found: '0x1', expected: '0x2', storedBy: 1, foundIn: 'disk' });
  });

  it('freed-table-walk from the paging-structure cache: the table, its level and generations', () => {
    const d = recorded(ViolationKind.FreedTableWalk, 0x41, 2, 3, 1);
    expect(d.message).toBe(`freed-table-walk on CPU 3, page walk at ${ADDRESS}: started from a cached pointer to PTE table pfn 0x41 cached at generation 2; the table frame is at generation 3 now (freed since)`);
    expect(d.fields).toEqual({ address: ADDRESS, walker: 'page walk (paging-structure cache)', table: 'PTE table', tablePfn: '0x41', tableGenerationAtFill: 2, tableGenerationNow: 3 });
  });

  it('freed-table-walk from GUP-fast: the mm and the pages', () => {
    const d = recorded(ViolationKind.FreedTableWalk, 7, 16, 0, 0);
    expect(d.message).toBe(`freed-table-walk on CPU 3, GUP-fast at ${ADDRESS}: of 16 pages of mm 7 walked a page table freed under it`);
    expect(d.fields).toEqual({ address: ADDRESS, walker: 'GUP-fast', mm: 7, pages: 16 });
  });

  it.each([
    [ViolationKind.LostDirtyBit, 'lost-dirty-bit', 'D'],
    [ViolationKind.LostAccessedBit, 'lost-accessed-bit', 'A'],
  ])('%i %s: the PTE before and after the kernel store, and where it is', (kind, name, bit) => {
    const d = recorded(kind, 0x35, DIRTY, 0, 0x200a);
    expect(d.message).toBe(`${name} on CPU 3, PTE store at ${ADDRESS}: a kernel store replaced PTE 0x35067 [P RW US A D] pfn 0x35 with 0x0 (none), wiping the ${bit} bit the walker had set on pfn 0x35`);
    expect(d.fields).toEqual({ address: ADDRESS, pfn: '0x35', pteBefore: '0x35067 [P RW US A D] pfn 0x35', pteAfter: '0x0 (none)', pteWord: '0x200a' });
  });

  it('gup-pin-unmapped: the frame pinned, the PTE as read and after, the mm', () => {
    const d = recorded(ViolationKind.GupPinUnmapped, 0x35, CLEAN, mkPte(0x36, _PAGE_PRESENT | _PAGE_USER), 9);
    expect(d.fields).toEqual({ address: ADDRESS, pfn: '0x35', pteAsRead: '0x35027 [P RW US A] pfn 0x35', pteAfterPin: '0x36005 [P US] pfn 0x36', mm: 9 });
    expect(d.message).toContain('gup-pin-unmapped on CPU 3, GUP-fast at 0x200000a000: kept a pin on pfn 0x35');
  });

  it('tlb-conflict: both frames, the entry being filled, the permissions that differ', () => {
    const d = recorded(ViolationKind.TlbConflict, 0x77, 0x203, 21, TLBF_WRITE | TLBF_NX);
    expect(d.message).toBe(`tlb-conflict on CPU 3, 2 MiB TLB fill at ${ADDRESS}: the 4 KiB entry maps pfn 0x77, the 2 MiB one pfn 0x203, permissions differ on W NX`);
    expect(d.fields).toEqual({ address: ADDRESS, entryFilled: '2 MiB', pfnVia4KiB: '0x77', pfnVia2MiB: '0x203', permissionsDiffer: 'W NX' });
    expect(recorded(ViolationKind.TlbConflict, 0x77, 0x203, 12, 0).fields).toMatchObject({ entryFilled: '4 KiB', permissionsDiffer: 'none' });
  });

  it('a kind it does not know, made at the end of a trial by the control plane: its raw words', () => {
    const d = recorded(MAX_KINDS as ViolationKind, 1, -1, 0x35, 0, 7, -1);
    expect(d.message).toBe(`kind-${MAX_KINDS} on the control plane, access at ${ADDRESS}: (details 0x1 0xffffffff 0x35 0x0 0x7)`);
    expect(d.fields).toEqual({ address: ADDRESS, detail0: '0x1', detail1: '0xffffffff', detail2: '0x35', detail3: '0x0', detail4: '0x7' });
  });
});

describe('the report counts and first reports by kind', () => {
  it('counts every kind and keeps the first of each, beyond the log', () => {
    const v = viewsOf(createMachineMemory(2, 64));
    for (let i = 0; i < 20; i++) reportViolation(v, 1, ViolationKind.LostAccessedBit, i, 0, 0, 0, 0);
    reportViolation(v, 0, ViolationKind.UseAfterFree, 77, 1, 2, 3, 0);
    reportViolation(v, 0, ViolationKind.UseAfterFree, 78, 1, 2, 3, 0);
    expect(readReportCounts(v)).toEqual({ 'use-after-free': 2, 'lost-accessed-bit': 20 });
    expect(readFirstReports(v).map((r) => [r.kind, r.cpu, r.va / 4096])).toEqual([['use-after-free', 0, 77], ['lost-accessed-bit', 1, 0]]);
  });
});
