/*
 * The GUP pin oracle (check/oracle.ts gupPinMappedNoSideEffects / checkGupPin), with GUP-fast's
 * steps done by hand on one thread, so that the PTE can change exactly between the read and the
 * pin, as it may on a real machine between gup_fast_pte_range's READ_ONCE and try_grab_folio.
 */
import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, allocFrame, initFrames } from '../../src/machine/frames.ts';
import { FrameKind } from '../../src/machine/phys-layout.ts';
import { PMD_LEVEL, entryOffset, pgdAlloc, pteAlloc, ptepGet, ptepGetAndClear, setPte, vpnOf } from '../../src/machine/pagetable.ts';
import { _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, mkPte } from '../../src/machine/pte-x86.ts';
import { checkGupPin, gupPinMappedNoSideEffects, readViolations, violationCount } from '../../src/check/oracle.ts';

const GUP_CPU = 1;
const MM = 1;
const VA = 0x5a3_4567_8000;
const PTE_FLAGS = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;

interface Mapped {
  v: MachineViews;
  pgd: number;
  ptep: number;
  pfn: number;
  pte: number;
}

function mapped(): Mapped {
  const v = viewsOf(createMachineMemory(2, 64));
  initFrames(v);
  const pgd = pgdAlloc(v, CONTROL_CPU, MM);
  const pfn = allocFrame(v, CONTROL_CPU, FrameKind.Anon, MM, vpnOf(VA), true);
  const ptep = pteAlloc(v, CONTROL_CPU, pgd, VA, MM);
  const pte = mkPte(pfn, PTE_FLAGS);
  setPte(v, ptep, pte, CONTROL_CPU);
  return { v, pgd, ptep, pfn, pte };
}

/** GUP-fast's pin of the page `pte` (read earlier) maps: the oracle's look right after it. */
const pin = (m: Mapped) => gupPinMappedNoSideEffects(m.v, m.pgd, VA, m.pfn);
/** The pin goes to the caller. */
const keep = (m: Mapped, mappedAtPin: boolean) => checkGupPin(m.v, GUP_CPU, MM, m.pgd, VA, m.pfn, m.pte, mappedAtPin);

describe('the GUP pin oracle', () => {
  it('sees nothing when the pin is taken while the PTE maps the frame', () => {
    const m = mapped();
    keep(m, pin(m));
    expect(violationCount(m.v)).toBe(0);
  });

  it('sees nothing when the PTE goes after the pin: the pin holds the page the address showed', () => {
    const m = mapped();
    const atPin = pin(m);
    ptepGetAndClear(m.v, m.ptep);
    keep(m, atPin);
    expect(violationCount(m.v)).toBe(0);
  });

  it('reports a pin kept although the PTE was zapped between GUP-fast\'s read and its pin (no recheck)', () => {
    const m = mapped();
    // GUP-fast read m.pte; a zap on another CPU clears it; then the try-get and the pin
    ptepGetAndClear(m.v, m.ptep);
    keep(m, pin(m));
    expect(readViolations(m.v)).toEqual([
      { kind: 'gup-pin-unmapped', cpu: GUP_CPU, seq: expect.any(Number), va: VA, details: [m.pfn, m.pte, 0, MM, 0] },
    ]);
  });

  it('reports a pin kept although the PTE maps another frame by then', () => {
    const m = mapped();
    const other = allocFrame(m.v, CONTROL_CPU, FrameKind.Anon, MM, 0, true);
    ptepGetAndClear(m.v, m.ptep);
    setPte(m.v, m.ptep, mkPte(other, PTE_FLAGS), CONTROL_CPU);
    keep(m, pin(m));
    expect(readViolations(m.v).map((x) => [x.kind, x.details[2]])).toEqual([['gup-pin-unmapped', mkPte(other, PTE_FLAGS)]]);
  });

  it('reports a pin kept although the PTE table was unhooked (a collapse) before the pin', () => {
    const m = mapped();
    ptepGetAndClear(m.v, entryOffset(m.v, m.pgd, VA, PMD_LEVEL));
    // the old table still holds the PTE, but the address no longer goes through it
    expect(ptepGet(m.v, m.ptep)).toBe(m.pte);
    keep(m, pin(m));
    expect(readViolations(m.v).map((x) => x.kind)).toEqual(['gup-pin-unmapped']);
  });

  it('does not report the ABA the kernel\'s recheck accepts: the same frame mapped back before the pin is kept', () => {
    const m = mapped();
    ptepGetAndClear(m.v, m.ptep);
    const atPin = pin(m);
    setPte(m.v, m.ptep, m.pte, CONTROL_CPU);
    keep(m, atPin);
    expect(violationCount(m.v)).toBe(0);
  });
});

