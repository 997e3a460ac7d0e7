import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, frameKind, frameMetaIndex, initFrames, nrFreeFrames } from '../../src/machine/frames.ts';
import { FrameKind, META_INDEX, PAGE_SIZE, PTRS_PER_TABLE, WORDS_PER_FRAME } from '../../src/machine/phys-layout.ts';
import {
  PGD_LEVEL, PMD_LEVEL, PMD_SIZE, PTE_LEVEL, PUD_LEVEL, USER_VA_LIMIT, entrySpan, entryWord, pgdAlloc, pteAlloc,
  pteOffset, ptepGet, ptepGetAndClear, ptepSetWrprotect, ptepTestAndClearYoung, setPte, tableIndex,
  tablesOnPathNoSideEffects, vpnOf,
} from '../../src/machine/pagetable.ts';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_TABLE, _PAGE_USER,
  mkPte,
} from '../../src/machine/pte-x86.ts';

const OWNER = 1;
const VA = 0x5a3_4567_8000; // every table index on the way is non-zero
const USER_RW = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;

function machine(nrFrames = 64): { v: MachineViews; pgd: number } {
  const v = viewsOf(createMachineMemory(1, nrFrames));
  initFrames(v);
  return { v, pgd: pgdAlloc(v, CONTROL_CPU, OWNER) };
}

/** The table frames on the path to `va`, indexed by level (index 0 unused). */
function pathOf(v: MachineViews, pgd: number, va: number): number[] {
  const out = new Int32Array(PGD_LEVEL + 1);
  tablesOnPathNoSideEffects(v, pgd, va, out);
  return [...out];
}

/** A PTE slot for VA holding `pte`. */
function ptepWith(pte: number): { v: MachineViews; ptep: number } {
  const { v, pgd } = machine();
  const ptep = pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER);
  setPte(v, ptep, pte);
  return { v, ptep };
}

describe('virtual address decomposition', () => {
  it('splits a VPN into four 9-bit table indices, PTE level lowest', () => {
    const vpn = (5 << 27) | (17 << 18) | (300 << 9) | 511;
    expect([PTE_LEVEL, PMD_LEVEL, PUD_LEVEL, PGD_LEVEL].map((l) => tableIndex(vpn, l))).toEqual([511, 300, 17, 5]);
    expect(vpnOf(vpn * PAGE_SIZE + PAGE_SIZE - 1)).toBe(vpn);
  });

  it('gives the bytes one entry maps at each level: a page, 2 MiB, 1 GiB, 512 GiB', () => {
    expect([PTE_LEVEL, PMD_LEVEL, PUD_LEVEL, PGD_LEVEL].map(entrySpan)).toEqual([PAGE_SIZE, PMD_SIZE, 2 ** 30, 2 ** 39]);
  });

  it('keeps the VPN of the last user page positive', () => {
    const vpn = vpnOf(USER_VA_LIMIT - PAGE_SIZE);
    expect(vpn).toBe(2 ** 31 - 1);
    expect(tableIndex(vpn, PGD_LEVEL)).toBe(15);
  });
});

describe('pteAlloc and pteOffset', () => {
  it('build the four levels as page-table frames linked by _PAGE_TABLE entries', () => {
    const { v, pgd } = machine();
    const free = nrFreeFrames(v);
    const ptep = pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER);
    expect(nrFreeFrames(v)).toBe(free - 3);

    const path = pathOf(v, pgd, VA);
    expect(path[PGD_LEVEL]).toBe(pgd);
    expect(new Set(path.slice(PTE_LEVEL)).size).toBe(4);
    const vpn = vpnOf(VA);
    for (let level = PGD_LEVEL; level >= PTE_LEVEL; level--) {
      expect(frameKind(v, path[level])).toBe(FrameKind.PageTable);
      expect(v.frameMeta[frameMetaIndex(path[level], META_INDEX)]).toBe(level);
      if (level > PTE_LEVEL) {
        expect(ptepGet(v, entryWord(path[level], tableIndex(vpn, level)))).toBe(mkPte(path[level - 1], _PAGE_TABLE));
      }
    }
    expect(ptep).toBe(entryWord(path[PTE_LEVEL], tableIndex(vpn, PTE_LEVEL)));
    expect(ptepGet(v, ptep)).toBe(0);
    expect(pteOffset(v, pgd, VA)).toBe(ptep);
  });

  it('reuse the tables already there: same PTE again, a neighbour in the same PTE table', () => {
    const { v, pgd } = machine();
    const ptep = pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER);
    const free = nrFreeFrames(v);
    expect(pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER)).toBe(ptep);
    expect(pteAlloc(v, CONTROL_CPU, pgd, VA + PAGE_SIZE, OWNER)).toBe(ptep + 1);
    expect(nrFreeFrames(v)).toBe(free);
  });

  it('add only a PTE table for an address in another 2 MiB region of the same PMD table', () => {
    const { v, pgd } = machine();
    pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER);
    const free = nrFreeFrames(v);
    const other = VA + PMD_SIZE;
    const ptep = pteAlloc(v, CONTROL_CPU, pgd, other, OWNER);
    expect(nrFreeFrames(v)).toBe(free - 1);
    expect(pathOf(v, pgd, other)[PMD_LEVEL]).toBe(pathOf(v, pgd, VA)[PMD_LEVEL]);
    expect(pteOffset(v, pgd, other)).toBe(ptep);
    expect(pteOffset(v, pgd, VA)).not.toBe(ptep);
  });

  it('pteOffset finds nothing where a table is missing, and nothing under a 2 MiB leaf', () => {
    const { v, pgd } = machine();
    expect(pteOffset(v, pgd, VA)).toBe(-1);
    pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER);
    expect(pteOffset(v, pgd, VA + PTRS_PER_TABLE * PMD_SIZE)).toBe(-1);

    const pmd = pathOf(v, pgd, VA)[PMD_LEVEL];
    const huge = VA + PMD_SIZE;
    setPte(v, entryWord(pmd, tableIndex(vpnOf(huge), PMD_LEVEL)), mkPte(512, USER_RW | _PAGE_PSE));
    expect(pteOffset(v, pgd, huge)).toBe(-1);
    // nor does pteAlloc take the huge page's data frame for a PTE table
    expect(pteAlloc(v, CONTROL_CPU, pgd, huge, OWNER)).toBe(-1);
  });

  it('pteAlloc returns -1 when memory runs out on the way', () => {
    const { v, pgd } = machine(4); // frame 0, the PGD, and room for two of the three tables
    expect(pteAlloc(v, CONTROL_CPU, pgd, VA, OWNER)).toBe(-1);
    expect(pteOffset(v, pgd, VA)).toBe(-1);
  });

  it('pgdAlloc hands out a zeroed top-level table', () => {
    const { v, pgd } = machine();
    expect(frameKind(v, pgd)).toBe(FrameKind.PageTable);
    expect(v.frameMeta[frameMetaIndex(pgd, META_INDEX)]).toBe(PGD_LEVEL);
    expect(v.phys.subarray(pgd * WORDS_PER_FRAME, (pgd + 1) * WORDS_PER_FRAME).every((w) => w === 0)).toBe(true);
  });
});

describe('live entry primitives', () => {
  it('setPte stores the entry that ptepGet reads back', () => {
    const pte = mkPte(0x7ffff, USER_RW | _PAGE_NX);
    const { v, ptep } = ptepWith(pte);
    expect(ptepGet(v, ptep)).toBe(pte);
  });

  it('ptepGetAndClear returns the old entry with its A and D bits and leaves 0', () => {
    const pte = mkPte(42, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY);
    const { v, ptep } = ptepWith(pte);
    expect(ptepGetAndClear(v, ptep)).toBe(pte);
    expect(ptepGet(v, ptep)).toBe(0);
    expect(ptepGetAndClear(v, ptep)).toBe(0);
  });

  it('ptepTestAndClearYoung clears only A and reports that it was set', () => {
    const pte = mkPte(42, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY);
    const { v, ptep } = ptepWith(pte);
    expect(ptepTestAndClearYoung(v, ptep)).toBe(true);
    expect(ptepGet(v, ptep)).toBe(pte & ~_PAGE_ACCESSED);
    expect(ptepTestAndClearYoung(v, ptep)).toBe(false);
    expect(ptepGet(v, ptep)).toBe(pte & ~_PAGE_ACCESSED);
  });

  it('ptepTestAndClearYoung leaves an empty entry empty', () => {
    const { v, ptep } = ptepWith(0);
    expect(ptepTestAndClearYoung(v, ptep)).toBe(false);
    expect(ptepGet(v, ptep)).toBe(0);
  });

  it('ptepSetWrprotect clears RW and keeps D, A and the PFN', () => {
    const pte = mkPte(42, USER_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_NX);
    const { v, ptep } = ptepWith(pte);
    ptepSetWrprotect(v, ptep);
    expect(ptepGet(v, ptep)).toBe(pte & ~_PAGE_RW);
    ptepSetWrprotect(v, ptep);
    expect(ptepGet(v, ptep)).toBe(pte & ~_PAGE_RW);
  });
});
