/*
 * A DMA master behind an Arm SMMUv3 that shares a process's page table (SVA: the stage-1 context
 * descriptor's TTB0 is the mm's pgd) with hardware translation table update, HTTU: SMMU_IDR0.HA
 * and HD, and CD.TCR.HA and HD set. The SMMU driver's shared context descriptor sets TCR.HA and
 * TCR.HD for an SVA mm and filters them only by the SMMU's own features ("HA and HD will be
 * filtered out later if not supported by the SMMU", arm_smmu_alloc_shared_cd, the HTTU series for
 * arm-smmu-v3), not by the CPUs': an SMMU may update A/D state in a page table whose CPUs fault for
 * it (no FEAT_HAFDBS, Hardware.hafdbs false).
 *
 * Like any SMMU it evaluates each descriptor on its own (Arm ARM D8.5 for the A/D update, the SMMUv3
 * HTTU rules): a write walks to the leaf of its address and, with HTTU, sets AF and clears
 * PTE_RDONLY of a DBM (= PTE_WRITE) descriptor by compare-and-swap against the value it read, as
 * the CPU walker does with FEAT_HAFDBS (walker-arm64.ts fillLeaf, hwUpdateLeaf: traced, and the
 * A/D state it added recorded for the lost-bit oracle). PTE_CONT does not make it touch the 15
 * other descriptors of a contiguous block: one sibling ends dirty (and young) while the others stay
 * as they were. That is the state that 2026's "arm64: contpte: fix set_access_flags() no-op check
 * for SMMU/ATS faults" names: "the gathered value matches entry ... even though the target sub-PTE
 * still has PTE_RDONLY set", reached when "only a sibling has been updated".
 *
 *   smmuHttuWrite   one 32-bit DMA write at `va` through the table rooted at `ttb0`: the walk, the
 *                   HTTU update of the one leaf, the store to the frame. A translation fault, or a
 *                   permission fault (no USER, or RDONLY without DBM), returns false: the PRI /
 *                   iopf path to handle_mm_fault is not modelled, the caller maps the page first.
 *
 * No IOTLB or ATC is modelled: every access walks (a cached translation would only let the device
 * write where it already could). The device is driven by the thread of the CPU that calls it,
 * which stands for the DMA engine the driver started; it does not use that CPU's TLB.
 */
import type { MachineViews } from './memory.ts';
import { WORDS_PER_FRAME, PAGE_SIZE } from './phys-layout.ts';
import { PGD_LEVEL, PMD_LEVEL, PTE_LEVEL, entryWord, tableIndex } from './pagetable.ts';
import { PTE_AF, PTE_DBM, PTE_RDONLY, PTE_TABLE_BIT, PTE_TYPE_MASK, PTE_USER, PTE_VALID, hwAdState, ptePfn } from './pte-arm64.ts';
import { hwUpdateLeaf } from './walker.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';

/**
 * The leaf descriptor's word for `vpn` under `ttb0` (a page at the last level, or a 2 MiB block),
 * and its level, in `leaf`; false on a translation fault.
 */
const leaf = { slot: 0, level: 0 };
function smmuWalk(v: MachineViews, ttb0: number, vpn: number): boolean {
  let table = ttb0;
  for (let level = PGD_LEVEL; level > PTE_LEVEL; level--) {
    const slot = entryWord(table, tableIndex(vpn, level));
    const e = Atomics.load(v.phys, slot);
    if ((e & PTE_VALID) === 0) return false;
    if ((e & PTE_TYPE_MASK) === PTE_VALID) {
      if (level !== PMD_LEVEL) return false;
      leaf.slot = slot;
      leaf.level = level;
      return true;
    }
    table = ptePfn(e);
  }
  leaf.slot = entryWord(table, tableIndex(vpn, PTE_LEVEL));
  leaf.level = PTE_LEVEL;
  return true;
}

/** A DMA write of `value` at `va` by a device whose SMMU walks `ttb0` with HTTU (HA, HD); agent `id` in traces. */
export function smmuHttuWrite(v: MachineViews, id: number, ttb0: number, va: number, value: number): boolean {
  const vpn = Math.floor(va / PAGE_SIZE);
  for (;;) {
    // the SMMU's walk races with the kernel's changes of the PTE: a scheduling point
    schedPoint(Point.Walk);
    if (ttb0 === 0 || !smmuWalk(v, ttb0, vpn)) return false;
    const e = Atomics.load(v.phys, leaf.slot);
    if ((e & PTE_VALID) === 0) return false;
    if (leaf.level === PTE_LEVEL && (e & PTE_TABLE_BIT) === 0) return false;
    if ((e & PTE_USER) === 0) return false;
    // HTTU: AF set, and the dirty state of this one descriptor (DBM lets RDONLY be cleared)
    let want = e | PTE_AF;
    if ((e & PTE_RDONLY) !== 0) {
      if ((e & PTE_DBM) === 0) return false;
      want &= ~PTE_RDONLY;
    }
    if (!hwUpdateLeaf(v, id, leaf.slot, e, want, vpn, hwAdState)) continue;
    const pfn = ptePfn(e) + (leaf.level === PMD_LEVEL ? vpn & 511 : 0);
    Atomics.store(v.phys, pfn * WORDS_PER_FRAME + ((va & (PAGE_SIZE - 1)) >>> 2), value);
    return true;
  }
}
