/*
 * contpte-unfold-no-bbm: can a change of one PTE inside a folded contiguous block, written without
 * break-before-make, leave a CPU holding a contiguous entry and a 4 KiB entry for one address?
 *
 * arm64's contiguous PTEs (arch/arm64/mm/contpte.c, mainline 4602e5757bcc "arm64/mm: wire up
 * PTE_CONT for user mappings"): 16 aligned PTEs mapping one folio may carry PTE_CONT, and a TLB may
 * cache the 64 KiB block as one entry. Before any single-PTE change (set_pte_at, ptep_get_and_clear,
 * ptep_set_wrprotect of one page) pgtable.h's wrappers call contpte_try_unfold: contpte_convert
 * clears the 16 entries, flushes the block by VA and waits for the DSB, then writes them back
 * without PTE_CONT. Only then is the one PTE changed.
 *
 * The buggy value (contpteUnfold=no-bbm) skips the unfold: the change is written straight over
 * the valid block, as arm64's set_pte does it (seed 004 quotes it from the v-series; it is still
 * in pgtable.h): "set_pte() is not used in core code, so this should never even be called.
 * Regardless do our best to service any call and emit a warning if there is any attempt to set a
 * pte on top of an existing contig range" (a WARN_ON_ONCE, then __set_pte of the non-contiguous
 * PTE). mprotect's set_pte_at and ptep_get_and_clear unfold first in every merged kernel: this is
 * what the unfold's break-before-make protects, not a bug that shipped. The block is left
 * misprogrammed (15 entries CONT, one not), and the Arm ARM lets a TLB that meets both sizes for
 * one address raise a TLB conflict abort or use an amalgam of the two.
 *
 * The lost A/D form the question also allows is not what this program finds: the oracle that
 * fires is the conflict, first and every time; lost-dirty-bit stays armed but was not seen.
 *
 *   CPU 0 (mprotect)                          CPU 1.. (threads)
 *   a write fault maps each 64 KiB block
 *   folded (anonMthp=64k: one folio,
 *   set_ptes of 16 with PTE_CONT)
 *                                             read the block: one contiguous TLB entry
 *   mprotect(page k, PROT_READ):
 *     ptep_get_and_clear(k), set_pte_at(k)    (bbm: unfold the block first)
 *     flush_tlb_range(k): the contiguous
 *     entry covering k goes too
 *                                             read page k: a 4 KiB entry (PTE_CONT clear)
 *                                             read page j: the walk finds PTE_CONT (no-bbm):
 *                                             a contiguous entry beside the 4 KiB one: tlb-conflict
 *   mprotect(page k, RW); every round also
 *   page 15 RO and back: set_pte_at of a
 *   block's last entry folds it again
 *
 * Forbidden outcome: tlb-conflict (check/oracle.ts checkContTlbFill / checkPteTlbFill: a fill of
 * one size while the TLB holds the other size for the same page).
 *   buggy (anonMthp=64k contpteUnfold=no-bbm)   sometimes
 *   fixed (anonMthp=64k, mainline's unfold)     never
 *
 * Both presets set anonMthp=64k as well: without large anonymous folios no block is ever folded,
 * and there is nothing to unfold. That is the mainline kernel with the 64 KiB size enabled in sysfs.
 * test/scenarios/contpte-unfold-no-bbm.test.ts forces the interleaving with handshakes
 * (test/fixtures/contpte-workloads.ts unfoldForced) and runs these programs under both kernels.
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import { CONT_PAGES, CONT_SPAN, SCENARIO_BASE, contPageAddress } from './lib.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';

export interface ContpteUnfoldOptions {
  /** 64 KiB blocks of the mapping */
  blocks?: number;
  /** mprotect rounds over every block in one trial */
  rounds?: number;
}

interface Params {
  mm: number;
  blocks: number;
  rounds: number;
}

const MPROTECT_CPU = 0;
const RW = PROT_READ | PROT_WRITE;


export default defineScenario<Params, ContpteUnfoldOptions>({
  name: 'contpte-unfold-no-bbm',
  question: 'Can a one-page mprotect inside a folded contiguous block, written without unfolding it first, leave a CPU holding a contiguous and a 4 KiB translation of one page?',
  source: 'seed 004 (the contpte v-series review: set_pte "do our best" over a contig range); mainline 4602e5757bcc "arm64/mm: wire up PTE_CONT for user mappings" (contpte_try_unfold, contpte_convert)',
  forbidden: 'tlb-conflict',
  arches: ['arm64'],
  cpus: 2,
  preferredCpus: 4,
  presets: { buggy: ['anonMthp=64k', 'contpteUnfold=no-bbm'], fixed: ['anonMthp=64k'] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { blocks: 4, rounds: 12 },

  setup(v, { blocks = 4, rounds = 12 } = {}) {
    return { mm: mmAlloc(v, CONTROL_CPU), blocks, rounds };
  },

  run(cpu, p) {
    switchMm(cpu, p.mm);
    if (cpu.id === MPROTECT_CPU) {
      sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: p.blocks * CONT_SPAN, prot: RW });
      // one write fault per block: a folded 64 KiB folio each
      for (let b = 0; b < p.blocks; b++) for (let i = 0; i < CONT_PAGES; i++) cpu.store(contPageAddress(b, i), (b << 8) | i);
    }
    smpBarrier(cpu);
    if (cpu.id === MPROTECT_CPU) {
      for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
        const k = 1 + (round % (CONT_PAGES - 2)); // pages 1..14: page 0 is the threads' to write, 15 refolds
        for (let b = 0; b < p.blocks; b++) {
          sysMprotect(cpu, p.mm, contPageAddress(b, k), PAGE_SIZE, PROT_READ);
          cpu.load(contPageAddress(b, k));
          sysMprotect(cpu, p.mm, contPageAddress(b, k), PAGE_SIZE, RW);
          // the block's last entry set again folds it (contpte_try_fold), ready for the next round
          sysMprotect(cpu, p.mm, contPageAddress(b, CONT_PAGES - 1), PAGE_SIZE, PROT_READ);
          sysMprotect(cpu, p.mm, contPageAddress(b, CONT_PAGES - 1), PAGE_SIZE, RW);
        }
      }
      stopAll(cpu.v);
    } else {
      for (let n = 0; keepGoing(cpu, 0, 1); n++) {
        for (let b = 0; b < p.blocks; b++) {
          for (let i = 0; i < CONT_PAGES; i++) cpu.load(contPageAddress(b, (i + cpu.id * 5) % CONT_PAGES));
          cpu.store(contPageAddress(b, 0), n);
        }
      }
    }
    return null;
  },
});
