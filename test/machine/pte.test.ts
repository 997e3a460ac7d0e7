import { describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PCD, _PAGE_PRESENT, _PAGE_PSE,
  _PAGE_PWT, _PAGE_RW, _PAGE_SOFTW1, _PAGE_SOFTW2, _PAGE_SOFTW3, _PAGE_USER, PTE_FLAGS_MASK,
  PTE_PFN_MASK, formatPte, mkPte, pteDirty, pteFlags, pteHuge, pteMkclean, pteMkdirty,
  pteMkold, pteMkwrite, pteMkyoung, pteNone, ptePfn, ptePresent, pteUser, pteWrite,
  pteWrprotect, pteYoung,
} from '../../src/machine/pte-x86.ts';
import * as x86 from '../../src/machine/pte-x86.ts';
import { HWAD_ACCESSED, HWAD_DIRTY } from '../../src/machine/phys-layout.ts';

const MAX_PFN = 2 ** 19 - 1;
const PFNS = [0, 1, 0x2a, 0x1ff, 0x200, 0x40000, MAX_PFN - 1, MAX_PFN];
const ALL_FLAGS = [
  _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_PWT, _PAGE_PCD, _PAGE_ACCESSED, _PAGE_DIRTY,
  _PAGE_PSE, _PAGE_GLOBAL, _PAGE_SOFTW1, _PAGE_SOFTW2, _PAGE_SOFTW3, _PAGE_NX,
];
const EVERY_FLAG = ALL_FLAGS.reduce((a, b) => a | b, 0);

describe('PTE codec', () => {
  it('puts the flag bits at 0-11, the PFN at 12-30 and NX at bit 31', () => {
    expect(ALL_FLAGS.map((f) => Math.clz32(f) ^ 31)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 31]);
    expect(PTE_PFN_MASK).toBe(MAX_PFN);
    expect(mkPte(1, 0)).toBe(1 << 12);
    expect(mkPte(MAX_PFN, 0)).toBe(0x7ffff000);
    expect(mkPte(0, _PAGE_NX) >>> 0).toBe(0x80000000);
  });

  it('round-trips every PFN and every combination of flag bits, NX included', () => {
    const mismatches: string[] = [];
    for (const pfn of PFNS) {
      for (let low = 0; low <= 0xfff; low++) {
        for (const nx of [0, _PAGE_NX]) {
          const flags = low | nx;
          const pte = mkPte(pfn, flags);
          if (ptePfn(pte) !== pfn || pteFlags(pte) !== flags) mismatches.push(`pfn=${pfn} flags=${flags}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('keeps the PFN intact when NX makes the entry a negative 32-bit word', () => {
    const pte = mkPte(MAX_PFN, EVERY_FLAG);
    expect(pte).toBeLessThan(0);
    expect(ptePfn(pte)).toBe(MAX_PFN);
    expect(pteFlags(pte)).toBe(EVERY_FLAG);
    expect(pte).toBe(-1);
  });

  it('keeps flag arguments out of the PFN field and PFN bits beyond 19 out of the entry', () => {
    expect(mkPte(5, 0x7ffff000)).toBe(mkPte(5, 0));
    expect(mkPte(MAX_PFN + 1, _PAGE_PRESENT)).toBe(mkPte(0, _PAGE_PRESENT));
    expect(PTE_FLAGS_MASK & (PTE_PFN_MASK << 12)).toBe(0);
  });
});

describe('PTE predicates', () => {
  const predicates: [string, (pte: number) => boolean, number][] = [
    ['ptePresent', ptePresent, _PAGE_PRESENT],
    ['pteWrite', pteWrite, _PAGE_RW],
    ['pteUser', pteUser, _PAGE_USER],
    ['pteYoung', pteYoung, _PAGE_ACCESSED],
    ['pteDirty', pteDirty, _PAGE_DIRTY],
    ['pteHuge', pteHuge, _PAGE_PSE],
  ];

  it.each(predicates)('%s holds exactly when its bit is set', (_name, pred, bit) => {
    for (const pfn of [0, MAX_PFN]) {
      expect(pred(mkPte(pfn, bit))).toBe(true);
      expect(pred(mkPte(pfn, EVERY_FLAG))).toBe(true);
      expect(pred(mkPte(pfn, 0))).toBe(false);
      expect(pred(mkPte(pfn, EVERY_FLAG & ~bit))).toBe(false);
    }
  });

  it('pteNone holds only for the empty entry, not for a non-present entry with bits set', () => {
    expect(pteNone(0)).toBe(true);
    expect(pteNone(mkPte(7, 0))).toBe(false);
    expect(pteNone(mkPte(0, _PAGE_SOFTW1))).toBe(false);
    expect(pteNone(mkPte(0, _PAGE_NX))).toBe(false);
    expect(ptePresent(mkPte(7, _PAGE_RW | _PAGE_SOFTW1))).toBe(false);
  });
});

describe('PTE modifiers', () => {
  const modifiers: [string, (pte: number) => number, number, boolean][] = [
    ['pteWrprotect', pteWrprotect, _PAGE_RW, false],
    ['pteMkwrite', pteMkwrite, _PAGE_RW, true],
    ['pteMkclean', pteMkclean, _PAGE_DIRTY, false],
    ['pteMkdirty', pteMkdirty, _PAGE_DIRTY, true],
    ['pteMkold', pteMkold, _PAGE_ACCESSED, false],
    ['pteMkyoung', pteMkyoung, _PAGE_ACCESSED, true],
  ];

  it.each(modifiers)('%s changes only its own bit, idempotently', (_name, modify, bit, sets) => {
    for (const before of [mkPte(MAX_PFN, EVERY_FLAG), mkPte(0x2a, 0), mkPte(0x2a, _PAGE_PRESENT | _PAGE_NX)]) {
      const after = modify(before);
      expect((after & bit) !== 0).toBe(sets);
      expect(after & ~bit).toBe(before & ~bit);
      expect(ptePfn(after)).toBe(ptePfn(before));
      expect(modify(after)).toBe(after);
    }
  });
});

describe('formatPte', () => {
  it('renders the PFN in hex and the set flags by name', () => {
    expect(formatPte(0)).toBe('none');
    expect(formatPte(mkPte(0x2a, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY)))
      .toBe('pfn=0x2a P|RW|US|A|D');
    expect(formatPte(mkPte(MAX_PFN, _PAGE_PRESENT | _PAGE_GLOBAL | _PAGE_NX))).toBe('pfn=0x7ffff P|G|NX');
    expect(formatPte(mkPte(3, 0))).toBe('pfn=0x3 -');
  });
});

describe('x86 codec behind the arch-neutral names', () => {
  it('gives the protections and helpers the raw bits they replace', () => {
    const P = _PAGE_PRESENT, RW = _PAGE_RW, US = _PAGE_USER, A = _PAGE_ACCESSED, D = _PAGE_DIRTY;
    expect([x86.PAGE_NONE, x86.PAGE_READONLY, x86.PAGE_COPY, x86.PAGE_SHARED]).toEqual([x86._PAGE_PROTNONE, P | US, P | US, P | RW | US]);
    expect(x86.pmdTableEntry(9)).toBe(mkPte(9, x86._PAGE_TABLE));
    expect([x86.pmdLeaf(mkPte(9, P | _PAGE_PSE)), x86.pmdLeaf(x86.pmdTableEntry(9))]).toEqual([true, false]);
    // a write fault's maybe_mkwrite(pte_mkdirty(pte_mkyoung(PAGE_READONLY)))
    expect(pteMkwrite(pteMkdirty(pteMkyoung(x86.PAGE_READONLY)))).toBe(P | US | A | D | RW);
    expect([x86.hwAdState(mkPte(1, P | A)), x86.hwAdState(mkPte(1, P | D)), x86.hwAdState(mkPte(1, P | RW))])
      .toEqual([HWAD_ACCESSED, HWAD_DIRTY, 0]);
    expect(x86.pteModify(mkPte(3, P | RW | US | A | D | _PAGE_SOFTW2), x86.PAGE_NONE)).toBe(mkPte(3, x86._PAGE_PROTNONE | A | D | _PAGE_SOFTW2));
    expect([x86.pteCont(-1), x86.pteMkcont(5), x86.pteMknoncont(5)]).toEqual([false, 5, 5]);
  });
});
