/*
 * The lost accessed/dirty-bit oracle (src/check/lost-bits.ts), with the interleavings forced on one
 * thread: the kernel's primitives are called as CPU 0 would call them, and the walker runs as CPU 1
 * at the chosen moment.
 */
import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, allocFrame, freeFrame, initFrames } from '../../src/machine/frames.ts';
import { FrameKind, HWAD_ACCESSED, HWAD_DIRTY, PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import {
  pgdAlloc, pteAlloc, ptepGet, ptepGetAndClear, ptepGetNoSideEffects, ptepSetWrprotect, ptepTestAndClearYoung, setPte, vpnOf,
} from '../../src/machine/pagetable.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, mkPte, pteMkclean, pteMkold } from '../../src/machine/pte-x86.ts';
import { walkForRead, walkForWrite, walkSpeculative } from '../../src/machine/walker.ts';
import { hwSetAccessFlags, pendingHwBitsNoSideEffects } from '../../src/check/lost-bits.ts';
import { ViolationKind, readViolations, reportViolation, violationCount, violationCountOf } from '../../src/check/oracle.ts';
import { MAX_VIOLATIONS } from '../../src/check/violation-layout.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';

const KERNEL = 0; // the CPU whose primitives clear the PTE
const USER = 1; // the CPU whose walker sets A and D
const PCID = 1;
const OWNER = 1;
const VPN = vpnOf(0x5a3_4567_8000);
const USER_RW = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;

interface Page {
  v: MachineViews;
  pgd: number;
  ptep: number;
  pfn: number;
}

/** A machine with one clean, old, writable user page at VPN. */
function page(flags = USER_RW): Page {
  const v = viewsOf(createMachineMemory(2, 64));
  initFrames(v);
  const pgd = pgdAlloc(v, CONTROL_CPU, OWNER);
  const pfn = allocFrame(v, CONTROL_CPU, FrameKind.Anon, OWNER, VPN, true);
  const ptep = pteAlloc(v, CONTROL_CPU, pgd, VPN * PAGE_SIZE, OWNER);
  setPte(v, ptep, mkPte(pfn, flags), KERNEL);
  return { v, pgd, ptep, pfn };
}

/** The user CPU's store misses (or meets a clean entry) and its walker sets A and D. */
const userStore = (p: Page) => expect(walkForWrite(p.v, USER, p.pgd, PCID, VPN, 0)).toBeGreaterThanOrEqual(0);
/** The user CPU's load misses and its walker sets A. */
const userLoad = (p: Page) => expect(walkForRead(p.v, USER, p.pgd, PCID, VPN, 0)).toBeGreaterThanOrEqual(0);

/** ptep_get_and_clear done as a read, then a store of 0, with `between` run in the window. */
function readThenClear(p: Page, between: () => void): number {
  const old = ptepGet(p.v, p.ptep);
  between();
  setPte(p.v, p.ptep, 0, KERNEL);
  return old;
}

describe('the lost-bit oracle', () => {
  it('reports the D bit the walker sets between the read and the clear of a read-then-clear, on the clearing CPU', () => {
    const p = page();
    const old = readThenClear(p, () => userStore(p));
    // what the kernel got back says clean: the write is forgotten
    expect(old & _PAGE_DIRTY).toBe(0);
    expect(violationCount(p.v)).toBe(1);
    expect(readViolations(p.v)[0]).toEqual({
      kind: 'lost-dirty-bit',
      cpu: KERNEL,
      seq: expect.any(Number),
      va: VPN * PAGE_SIZE,
      details: [p.pfn, mkPte(p.pfn, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY), 0, p.ptep, 0],
    });
  });

  it('reports a lost accessed bit when the walker set only A in the window', () => {
    const p = page();
    readThenClear(p, () => userLoad(p));
    expect(readViolations(p.v).map((x) => [x.kind, x.cpu])).toEqual([['lost-accessed-bit', KERNEL]]);
  });

  it('reports a lost accessed bit set by a speculative walk', () => {
    const p = page();
    readThenClear(p, () => walkSpeculative(p.v, USER, p.pgd, PCID, VPN, 0));
    expect(readViolations(p.v).map((x) => x.kind)).toEqual(['lost-accessed-bit']);
  });

  it('sees nothing when ptep_get_and_clear is an xchg: the bit comes back with the value', () => {
    const p = page();
    userStore(p);
    const old = ptepGetAndClear(p.v, p.ptep);
    expect(old & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    // and the kernel may then store whatever it decided on
    setPte(p.v, p.ptep, pteMkold(pteMkclean(old)), KERNEL);
    setPte(p.v, p.ptep, 0, KERNEL);
    expect(violationCount(p.v)).toBe(0);
  });

  it('sees nothing when the walker sets D before the read: the read returns it', () => {
    const p = page();
    userStore(p);
    expect(readThenClear(p, () => {}) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    expect(violationCount(p.v)).toBe(0);
  });

  it('sees nothing when the walker sets D after the clear: the PTE is not present, the walk faults', () => {
    const p = page();
    readThenClear(p, () => {});
    expect(walkForWrite(p.v, USER, p.pgd, PCID, VPN, 0)).toBeLessThan(0);
    expect(violationCount(p.v)).toBe(0);
  });

  it('sees nothing when another look of the kernel returned the bit before the store wiped it', () => {
    const p = page();
    userStore(p);
    // another kernel path (say, on another CPU) read the PTE: D is seen, the record is gone
    expect(ptepGet(p.v, p.ptep) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(0);
    // this thread's last look is elsewhere: the store is judged by the record alone
    const other = pteAlloc(p.v, CONTROL_CPU, p.pgd, (VPN + 1) * PAGE_SIZE, OWNER);
    ptepGet(p.v, other);
    setPte(p.v, p.ptep, 0, KERNEL);
    expect(violationCount(p.v)).toBe(0);
  });

  it('an oracle\'s look (no side effects) leaves the bit unseen', () => {
    const p = page();
    userStore(p);
    ptepGetNoSideEffects(p.v, p.ptep);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(HWAD_ACCESSED | HWAD_DIRTY);
  });

  it('does not judge bits the kernel set itself (a write fault installs D)', () => {
    const p = page();
    setPte(p.v, p.ptep, mkPte(p.pfn, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY), KERNEL);
    const other = pteAlloc(p.v, CONTROL_CPU, p.pgd, (VPN + 1) * PAGE_SIZE, OWNER);
    ptepGet(p.v, other);
    setPte(p.v, p.ptep, 0, KERNEL);
    expect(violationCount(p.v)).toBe(0);
  });

  it('mainline primitives are clean: test-and-clear-young, wrprotect, MADV_FREE\'s mkclean after the xchg, a promotion', () => {
    const p = page();
    userLoad(p);
    // reclaim's aging: the A it clears is seen
    expect(ptepTestAndClearYoung(p.v, p.ptep)).toBe(true);
    userStore(p);
    // the D that test-and-clear-young left in place is still the hardware's, unseen
    ptepSetWrprotect(p.v, p.ptep);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(HWAD_ACCESSED | HWAD_DIRTY);
    // madvise_free_pte_range: ptep_get_and_clear_full, then set_pte_at of the clean old entry
    const old = ptepGetAndClear(p.v, p.ptep);
    setPte(p.v, p.ptep, pteMkold(pteMkclean(old)) | _PAGE_RW, KERNEL);
    userLoad(p);
    // do_wp_page's reuse: read, then a superset
    const ro = ptepGet(p.v, p.ptep);
    setPte(p.v, p.ptep, ro | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, KERNEL);
    // mprotect: ptep_modify_prot_start (xchg), then commit
    const prot = ptepGetAndClear(p.v, p.ptep);
    setPte(p.v, p.ptep, prot & ~_PAGE_RW, KERNEL);
    // zap
    ptepGetAndClear(p.v, p.ptep);
    expect(violationCount(p.v)).toBe(0);
  });

  it('a walker whose PTE changed after its cmpxchg withdraws what it recorded', () => {
    const p = page();
    const written = mkPte(p.pfn, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY);
    // the walker's cmpxchg wrote `written`, then a kernel xchg took it (and saw D) before the record
    hwSetAccessFlags(p.v, p.ptep, written, HWAD_ACCESSED | HWAD_DIRTY, VPN);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(0);
  });

  it('forgets the record when the frame is allocated again', () => {
    const p = page();
    userStore(p);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(HWAD_ACCESSED | HWAD_DIRTY);
    // the mapping goes without the kernel's look, and the frame is reused
    Atomics.store(p.v.phys, p.ptep, 0);
    freeFrame(p.v, CONTROL_CPU, p.pfn);
    expect(allocFrame(p.v, CONTROL_CPU, FrameKind.Anon, OWNER, 0, true)).toBe(p.pfn);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(0);
  });
});

describe('the violation log', () => {
  it('keeps the first report of every kind even when one kind fills the log', () => {
    const p = page();
    for (let i = 0; i < MAX_VIOLATIONS + 4; i++) reportViolation(p.v, KERNEL, ViolationKind.LostAccessedBit, i, 0, 0, 0, 0);
    reportViolation(p.v, USER, ViolationKind.AccessAfterReturn, 77, 1, 2, 3, 4);
    expect(violationCount(p.v)).toBe(MAX_VIOLATIONS + 5);
    expect(violationCountOf(p.v, ViolationKind.AccessAfterReturn)).toBe(1);
    expect(violationCountOf(p.v, ViolationKind.LostAccessedBit)).toBe(MAX_VIOLATIONS + 4);
    const vs = readViolations(p.v);
    expect(vs).toHaveLength(MAX_VIOLATIONS + 1);
    expect(vs.at(-1)).toMatchObject({ kind: 'access-after-return', cpu: USER, va: 77 * PAGE_SIZE, details: [1, 2, 3, 4, 0] });
  });
});

describe('the lost-bit oracle on the kernel\'s paths (MADV_FREE, mprotect, NUMA hinting, migration, reclaim, writeback, MADV_DONTNEED)', () => {
  const machine = useMachine({ cpus: 3 });
  const ref = fixtureUrl('lost-bits-workloads', 'lostBitPaths');
  const run = (switches: string[], seed: number, rounds: number) =>
    machine().run<unknown, number, { rounds: number }>(ref, { rounds }, { seed, noiseShift: 2, kernel: applySwitches(defaultKernelConfig(), switches) });

  // measured: 600 rounds clean for seeds 1, 2, 3, 7, 9. (The read-then-clear half is left to the
  // forced interleavings above and to the ptep-clear-nonatomic scenario: here, with the pages
  // spread over two users, its window is rarely hit, e.g. not in 400 rounds for those seeds.)
  it('stays silent with mainline switches while two CPUs load and store throughout (seed 7, 150 rounds)', async () => {
    const r = await run([], 7, 150);
    expect(r.results[0]).toBe(150);
    expect(r.violations).toEqual([]);
    // the users really raced the kernel: walks that set D, faults after mprotect, NUMA hinting and zaps
    expect(r.counters.dirty_bit_walks).toBeGreaterThan(0);
    expect(r.counters.page_faults).toBeGreaterThan(0);
  });
});
