/*
 * The arm64 descriptor codec (src/machine/pte-arm64.ts) against arch/arm64/include/asm/pgtable.h:
 * each modifier's truth table over the four dirty/writable states of the comment above
 * __check_safe_pte_update, pte_modify round trips through PROT_NONE, pte_needs_flush, and the
 * live bindings of machine/pte.ts switching between the codecs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as arm64 from '../../src/machine/pte-arm64.ts';
import * as x86 from '../../src/machine/pte-x86.ts';
import * as pte from '../../src/machine/pte.ts';
import { Arch } from '../../src/arch/arch.ts';
import { HWAD_ACCESSED, HWAD_DIRTY } from '../../src/machine/phys-layout.ts';

const {
  PTE_VALID, PTE_TABLE_BIT, PTE_CONT, PTE_WRITE, PTE_DBM, PTE_DIRTY, PTE_UXN, PTE_USER, PTE_RDONLY, PTE_PXN,
  PTE_SPECIAL, PTE_AF, PTE_NG, PTE_PRESENT_INVALID, PAGE_NONE, PAGE_READONLY, PAGE_SHARED, PAGE_COPY,
} = arm64;

const PFN = 0x2a;
/** A valid user page descriptor with neither RDONLY, WRITE nor DIRTY: the states add those. */
const BASE = PTE_VALID | PTE_TABLE_BIT | PTE_AF | PTE_USER | PTE_NG | PTE_PXN | PTE_UXN;
const at = (bits: number): number => arm64.pfnPte(PFN, BASE | bits);
/** The states of the table in pgtable.h, by the bits that differ. */
const RO_CLEAN = PTE_RDONLY;
const RW_CLEAN = PTE_RDONLY | PTE_WRITE;
const RO_DIRTY = PTE_RDONLY | PTE_DIRTY;
const RW_HW_DIRTY = PTE_WRITE;
const RW_BOTH_DIRTY = PTE_WRITE | PTE_DIRTY;
const STATES: [string, number][] = [
  ['clean read-only', RO_CLEAN], ['clean writable', RW_CLEAN], ['dirty read-only', RO_DIRTY],
  ['hardware-dirty writable', RW_HW_DIRTY], ['dirty writable, PTE_DIRTY too', RW_BOTH_DIRTY],
];

function table(modify: (pte: number) => number, expected: number[]): void {
  STATES.forEach(([name, bits], i) => {
    const after = modify(at(bits));
    expect({ name, bits: after }).toEqual({ name, bits: at(expected[i]) });
  });
}

describe('arm64 descriptor bits', () => {
  it('keeps the hardware positions the walker looks at, and PTE_WRITE is DBM', () => {
    expect([PTE_VALID, PTE_TABLE_BIT, PTE_USER, PTE_RDONLY, PTE_AF, PTE_NG].map((b) => Math.clz32(b) ^ 31)).toEqual([0, 1, 6, 7, 10, 11]);
    expect(PTE_WRITE).toBe(PTE_DBM);
    expect(PTE_PRESENT_INVALID).toBe(PTE_NG);
    expect(arm64.ptePfn(at(RW_HW_DIRTY))).toBe(PFN);
    expect(arm64.PTE_FLAGS_MASK & (arm64.PTE_PFN_MASK << 12)).toBe(0);
  });

  it('has the protections of pgtable-prot.h: PAGE_SHARED writable and clean, PAGE_NONE present but invalid', () => {
    expect(PAGE_READONLY).toBe(PTE_VALID | PTE_TABLE_BIT | PTE_AF | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN);
    expect(PAGE_SHARED).toBe(PAGE_READONLY | PTE_WRITE);
    expect(PAGE_COPY).toBe(PAGE_READONLY);
    expect(PAGE_NONE).toBe(PTE_TABLE_BIT | PTE_AF | PTE_PRESENT_INVALID | PTE_RDONLY | PTE_PXN | PTE_UXN);
    const shared = arm64.pfnPte(PFN, PAGE_SHARED);
    expect([arm64.pteWrite(shared), arm64.pteDirty(shared), arm64.ptePresent(shared)]).toEqual([true, false, true]);
    const none = arm64.pfnPte(PFN, PAGE_NONE);
    expect([arm64.ptePresent(none), arm64.pteMapsPage(none), arm64.pteProtnone(none)]).toEqual([false, true, true]);
    expect(arm64.pteProtnone(arm64.pfnPte(PFN, PAGE_READONLY))).toBe(false);
    expect([arm64.pteNone(0), arm64.pteMapsPage(0), arm64.pteProtnone(0)]).toEqual([true, false, false]);
  });
});

describe('arm64 dirty and write helpers (pgtable.h)', () => {
  it('pte_dirty is PTE_DIRTY or hardware dirty (WRITE without RDONLY)', () => {
    expect(STATES.map(([, b]) => arm64.pteDirty(at(b)))).toEqual([false, false, true, true, true]);
    expect(STATES.map(([, b]) => arm64.pteWrite(at(b)))).toEqual([false, true, false, true, true]);
  });

  it('pte_mkclean clears PTE_DIRTY and sets RDONLY', () => {
    table(arm64.pteMkclean, [RO_CLEAN, RW_CLEAN, RO_CLEAN, RW_CLEAN, RW_CLEAN]);
  });

  it('pte_mkdirty sets PTE_DIRTY, and clears RDONLY of a writable entry', () => {
    table(arm64.pteMkdirty, [RO_DIRTY, RW_BOTH_DIRTY, RO_DIRTY, RW_BOTH_DIRTY, RW_BOTH_DIRTY]);
  });

  it('pte_wrprotect moves hardware dirty into PTE_DIRTY, clears WRITE, sets RDONLY', () => {
    table(arm64.pteWrprotect, [RO_CLEAN, RO_CLEAN, RO_DIRTY, RO_DIRTY, RO_DIRTY]);
  });

  it('pte_mkwrite_novma sets WRITE, and clears RDONLY of a PTE_DIRTY entry', () => {
    table(arm64.pteMkwrite, [RW_CLEAN, RW_CLEAN, RW_BOTH_DIRTY, RW_HW_DIRTY, RW_BOTH_DIRTY]);
  });

  it('a write fault\'s maybe_mkwrite(pte_mkdirty()) of a read-only entry is hardware dirty, either order', () => {
    for (const [, b] of STATES.slice(0, 3)) {
      expect(arm64.pteMkwrite(arm64.pteMkdirty(at(b)))).toBe(at(RW_BOTH_DIRTY));
      expect(arm64.pteMkdirty(arm64.pteMkwrite(at(b)))).toBe(at(RW_BOTH_DIRTY));
    }
  });

  it('pte_mkold/pte_mkyoung touch AF only, pte_mkcont/pte_mknoncont CONT only', () => {
    const e = at(RW_HW_DIRTY);
    expect(arm64.pteMkold(e)).toBe(e & ~PTE_AF);
    expect(arm64.pteYoung(arm64.pteMkold(e))).toBe(false);
    expect(arm64.pteMkyoung(arm64.pteMkold(e))).toBe(e);
    expect(arm64.pteMkcont(e)).toBe(e | PTE_CONT);
    expect(arm64.pteCont(arm64.pteMkcont(e))).toBe(true);
    expect(arm64.pteMknoncont(arm64.pteMkcont(e))).toBe(e);
  });
});

describe('arm64 hwAdState (the lost-bit oracle\'s view)', () => {
  it('is AF, and dirty when PTE_DIRTY or hardware dirty', () => {
    expect(STATES.map(([, b]) => arm64.hwAdState(at(b)))).toEqual([
      HWAD_ACCESSED, HWAD_ACCESSED, HWAD_ACCESSED | HWAD_DIRTY, HWAD_ACCESSED | HWAD_DIRTY, HWAD_ACCESSED | HWAD_DIRTY,
    ]);
    expect(arm64.hwAdState(arm64.pteMkold(at(RW_HW_DIRTY)))).toBe(HWAD_DIRTY);
    expect(arm64.hwAdState(0)).toBe(0);
  });

  it('sees the hardware\'s dirtying (RDONLY cleared) as dirty set, and mkclean as dirty wiped', () => {
    const clean = at(RW_CLEAN);
    const written = clean & ~PTE_RDONLY;
    expect(arm64.hwAdState(written) & ~arm64.hwAdState(clean)).toBe(HWAD_DIRTY);
    expect(arm64.hwAdState(written) & ~arm64.hwAdState(arm64.pteMkclean(written))).toBe(HWAD_DIRTY);
    // pte_wrprotect keeps it, in PTE_DIRTY: nothing wiped
    expect(arm64.hwAdState(written) & ~arm64.hwAdState(arm64.pteWrprotect(written))).toBe(0);
  });
});

describe('arm64 pte_modify', () => {
  it('takes the protection from the new pgprot and keeps PFN, AF and dirtiness', () => {
    // hardware dirty, made read-only: PTE_DIRTY keeps it
    expect(arm64.pteModify(at(RW_HW_DIRTY), PAGE_READONLY)).toBe(at(RO_DIRTY));
    // dirty read-only, made writable: hardware dirty again (pte_mkdirty)
    expect(arm64.pteModify(at(RO_DIRTY), PAGE_SHARED)).toBe(at(RW_BOTH_DIRTY));
    // clean stays clean
    expect(arm64.pteModify(at(RO_CLEAN), PAGE_SHARED)).toBe(at(RW_CLEAN));
    expect(arm64.pteModify(at(RW_CLEAN), PAGE_READONLY)).toBe(at(RO_CLEAN));
    // an old entry stays old
    expect(arm64.pteYoung(arm64.pteModify(arm64.pteMkold(at(RO_CLEAN)), PAGE_SHARED))).toBe(false);
  });

  it('round-trips through PAGE_NONE: present-invalid on the way, the same entry back', () => {
    const ro = arm64.pfnPte(PFN, PAGE_READONLY);
    const none = arm64.pteModify(ro, PAGE_NONE);
    expect(none).toBe(arm64.pfnPte(PFN, PAGE_NONE));
    expect([arm64.ptePresent(none), arm64.pteMapsPage(none), arm64.pteProtnone(none)]).toEqual([false, true, true]);
    expect(arm64.pteModify(none, PAGE_READONLY)).toBe(ro);
    // a dirty writable page through PROT_NONE and back to read-write is dirty writable
    const back = arm64.pteModify(arm64.pteModify(at(RW_HW_DIRTY), PAGE_NONE), PAGE_SHARED);
    expect(back).toBe(at(RW_BOTH_DIRTY));
    expect(arm64.pteDirty(arm64.pteModify(at(RW_HW_DIRTY), PAGE_NONE))).toBe(true);
  });

  it('keeps exactly PAGE_CHG_MASK of the old entry', () => {
    expect(arm64.PAGE_CHG_MASK & (PTE_USER | PTE_PXN | PTE_UXN | PTE_RDONLY | PTE_NG | PTE_VALID | PTE_WRITE)).toBe(0);
    expect(arm64.PAGE_CHG_MASK & (PTE_AF | PTE_DIRTY | PTE_CONT | PTE_SPECIAL | PTE_TABLE_BIT)).toBe(PTE_AF | PTE_DIRTY | PTE_CONT | PTE_SPECIAL | PTE_TABLE_BIT);
  });
});

describe('arm64 pte_needs_flush and pmd_leaf', () => {
  it('flushes any change to a valid entry but of software bits', () => {
    expect(arm64.pteNeedsFlush(arm64.pfnPte(PFN, PAGE_NONE), arm64.pfnPte(PFN, PAGE_SHARED))).toBe(false);
    expect(arm64.pteNeedsFlush(0, at(RW_CLEAN))).toBe(false);
    expect(arm64.pteNeedsFlush(at(RO_CLEAN), at(RO_CLEAN | PTE_SPECIAL))).toBe(false);
    expect(arm64.pteNeedsFlush(at(RW_BOTH_DIRTY), at(RW_HW_DIRTY))).toBe(false);
    expect(arm64.pteNeedsFlush(at(RO_CLEAN), at(RW_CLEAN))).toBe(true);
    expect(arm64.pteNeedsFlush(at(RW_CLEAN), arm64.pteMkold(at(RW_CLEAN)))).toBe(true);
    expect(arm64.pteNeedsFlush(at(RO_CLEAN), arm64.pfnPte(PFN + 1, BASE | RO_CLEAN))).toBe(true);
  });

  it('a table descriptor is no leaf, a block is', () => {
    expect(arm64.pmdTableEntry(7)).toBe(arm64.pfnPte(7, PTE_VALID | PTE_TABLE_BIT));
    expect(arm64.pmdLeaf(arm64.pmdTableEntry(7))).toBe(false);
    expect(arm64.pmdLeaf(arm64.pfnPte(7, PTE_VALID | PTE_AF))).toBe(true);
    expect(arm64.pmdLeaf(0)).toBe(false);
  });
});

describe('arm64 formatPte', () => {
  it('names the bits by their kernel names, nG of an invalid entry as PRESENT_INVALID', () => {
    expect(arm64.formatPte(arm64.pfnPte(PFN, PAGE_SHARED))).toBe('pfn=0x2a VALID|TABLE|WRITE|UXN|USER|RDONLY|PXN|AF|nG');
    expect(arm64.formatPte(arm64.pfnPte(PFN, PAGE_NONE))).toBe('pfn=0x2a TABLE|UXN|RDONLY|PXN|AF|PRESENT_INVALID');
    expect(arm64.formatPte(0)).toBe('none');
  });
});

describe('bindPteArch', () => {
  afterEach(() => pte.bindPteArch(Arch.X86));

  const bindable = Object.keys(pte).filter((k) => k !== 'bindPteArch' && k !== 'pteArch');

  function boundTo(codec: Record<string, unknown>): string[] {
    const ns = pte as unknown as Record<string, unknown>;
    return bindable.filter((k) => ns[k] !== codec[k]);
  }

  it('binds x86 until told otherwise, every name to the x86 codec', () => {
    expect(pte.pteArch()).toBe(Arch.X86);
    expect(bindable.length).toBeGreaterThan(25);
    expect(boundTo(x86)).toEqual([]);
  });

  it('rebinds every name to the arm64 codec, and back', () => {
    pte.bindPteArch(Arch.Arm64);
    expect(pte.pteArch()).toBe(Arch.Arm64);
    expect(boundTo(arm64)).toEqual([]);
    expect(pte.PAGE_SHARED).toBe(arm64.PAGE_SHARED);
    expect(pte.pteDirty(arm64.pfnPte(PFN, PTE_VALID | PTE_WRITE))).toBe(true);
    pte.bindPteArch(Arch.X86);
    expect(boundTo(x86)).toEqual([]);
    expect(pte.PAGE_SHARED).toBe(x86._PAGE_PRESENT | x86._PAGE_RW | x86._PAGE_USER);
    expect(pte.pteDirty(arm64.pfnPte(PFN, PTE_VALID | PTE_WRITE))).toBe(false);
  });
});
