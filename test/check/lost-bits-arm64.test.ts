/*
 * The lost accessed/dirty oracle (src/check/lost-bits.ts) on arm64 entries, through the
 * arch-neutral PTE primitives (machine/pagetable.ts) with the arm64 codec bound. arm64's hardware
 * marks a DBM entry dirty by clearing RDONLY: the oracle must see a dirty state wiped although no
 * bit the hardware set was cleared. The hardware's update is done here as FEAT_HAFDBS does it (a
 * compareExchange setting AF and clearing RDONLY, then the record the walker leaves), one thread
 * playing both CPUs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, allocFrame, initFrames } from '../../src/machine/frames.ts';
import { FrameKind, HWAD_ACCESSED, HWAD_DIRTY, PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { pgdAlloc, pteAlloc, ptepGet, ptepGetAndClear, ptepSetWrprotect, ptepTestAndClearYoung, setPte, vpnOf } from '../../src/machine/pagetable.ts';
import { PAGE_SHARED, bindPteArch, hwAdState, pfnPte, pteDirty, pteMkclean, pteMkold, pteWrite, pteYoung } from '../../src/machine/pte.ts';
import { PTE_AF, PTE_DBM, PTE_DIRTY, PTE_RDONLY, PTE_WRITE } from '../../src/machine/pte-arm64.ts';
import { hwSetAccessFlags, pendingHwBitsNoSideEffects } from '../../src/check/lost-bits.ts';
import { readViolations, violationCount } from '../../src/check/oracle.ts';
import { Arch } from '../../src/arch/arch.ts';

const KERNEL = 0;
const OWNER = 1;
const VPN = vpnOf(0x5a3_4567_8000);

interface Page { v: MachineViews; ptep: number; pfn: number }

/** A machine with one clean, old, writable user page at VPN (PAGE_SHARED: WRITE|RDONLY). */
function page(): Page {
  const v = viewsOf(createMachineMemory(2, 64));
  initFrames(v);
  const pgd = pgdAlloc(v, CONTROL_CPU, OWNER);
  const pfn = allocFrame(v, CONTROL_CPU, FrameKind.Anon, OWNER, VPN, true);
  const ptep = pteAlloc(v, CONTROL_CPU, pgd, VPN * PAGE_SIZE, OWNER);
  setPte(v, ptep, pteMkold(pfnPte(pfn, PAGE_SHARED)), KERNEL);
  return { v, ptep, pfn };
}

/** A user store through the entry with FEAT_HAFDBS: AF set and, on a DBM entry, RDONLY cleared. */
function hwWrite(p: Page): number {
  for (;;) {
    const e = Atomics.load(p.v.phys, p.ptep);
    if ((e & PTE_DBM) === 0) throw new Error('not writable');
    const want = (e | PTE_AF) & ~PTE_RDONLY;
    if (Atomics.compareExchange(p.v.phys, p.ptep, e, want) !== e) continue;
    hwSetAccessFlags(p.v, p.ptep, want, hwAdState(want) & ~hwAdState(e), VPN);
    return want;
  }
}

describe('the lost-bit oracle on arm64 entries', () => {
  beforeAll(() => bindPteArch(Arch.Arm64));
  afterAll(() => bindPteArch(Arch.X86));

  it('records the hardware dirtying of a clean writable entry: RDONLY cleared, AF set', () => {
    const p = page();
    const written = hwWrite(p);
    expect(written & (PTE_WRITE | PTE_RDONLY | PTE_AF)).toBe(PTE_WRITE | PTE_AF);
    expect(pteDirty(written)).toBe(true);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(HWAD_ACCESSED | HWAD_DIRTY);
  });

  it('reports the dirtying between a read and a store of the clean entry back (RDONLY set again)', () => {
    const p = page();
    const old = ptepGet(p.v, p.ptep);
    hwWrite(p);
    // a racy mkclean: every bit of `old` is still there, RDONLY among them, yet the write is lost
    setPte(p.v, p.ptep, pteMkclean(old), KERNEL);
    expect(readViolations(p.v).map((x) => [x.kind, x.cpu])).toEqual([['lost-dirty-bit', KERNEL]]);
  });

  it('sees nothing lost when ptep_set_wrprotect moves the hardware dirty state into PTE_DIRTY', () => {
    const p = page();
    hwWrite(p);
    ptepSetWrprotect(p.v, p.ptep);
    const wp = ptepGet(p.v, p.ptep);
    expect(wp & (PTE_WRITE | PTE_RDONLY | PTE_DIRTY)).toBe(PTE_RDONLY | PTE_DIRTY);
    expect([pteWrite(wp), pteDirty(wp)]).toEqual([false, true]);
    ptepGetAndClear(p.v, p.ptep);
    setPte(p.v, p.ptep, 0, KERNEL);
    expect(violationCount(p.v)).toBe(0);
  });

  it('ptep_test_and_clear_young clears AF and leaves the dirty state unseen', () => {
    const p = page();
    hwWrite(p);
    expect(ptepTestAndClearYoung(p.v, p.ptep)).toBe(true);
    const e = Atomics.load(p.v.phys, p.ptep);
    expect([pteYoung(e), pteDirty(e)]).toEqual([false, true]);
    expect(pendingHwBitsNoSideEffects(p.v, p.pfn, p.ptep)).toBe(HWAD_DIRTY);
    expect(ptepTestAndClearYoung(p.v, p.ptep)).toBe(false);
  });
});
