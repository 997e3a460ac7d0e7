/*
 * contpte-access-flags-noop: can a write fault on one page of a folded contiguous block be taken
 * for a spurious one, because another page of the block is dirty, and fault again forever?
 *
 * arm64's contpte_ptep_set_access_flags (arch/arm64/mm/contpte.c; mainline 4602e5757bcc "arm64/mm:
 * wire up PTE_CONT for user mappings") is handle_pte_fault's last step on a CONT entry. From
 * 4602e5757bcc its no-op check compared the gathered ptep_get of the block (dirty and young ORed
 * over the 16 sub-PTEs) with the entry asked for. A walker that evaluates each descriptor on its own
 * (a CPU without FEAT_HAFDBS, an SMMU without HTTU) keeps faulting on a target sub-PTE that still
 * has PTE_RDONLY while a sibling is dirty: the handler sees nothing to do, the access is retried
 * on the unchanged PTE, and faults again. The 2026 fix "arm64: contpte: fix set_access_flags()
 * no-op check for SMMU/ATS faults" (Fixes: 4602e5757bcc) compares the raw PTE_RDONLY, PTE_AF,
 * PTE_WRITE and PTE_DIRTY of every sub-PTE, and updates the whole block when any differs.
 *
 * What leaves one sibling dirty and the target RDONLY in a folded block: nothing the kernel does
 * (every contpte helper updates all 16 entries, and contpte_convert gathers dirty and young into
 * all of them when it folds), nor a CPU of this machine, all of which lack FEAT_HAFDBS
 * (hardware hafdbs=false). It is a second walker with hardware A/D update that writes one
 * descriptor: here a device behind an SMMU with HTTU sharing the process's page table (SVA,
 * machine/smmu.ts smmuHttuWrite). The fix names exactly this split: "for a CPU with FEAT_HAFDBS
 * this gathered view is fine, since hardware may set AF/dirty on any sub-PTE ... But page-table
 * walkers that evaluate each descriptor individually (e.g. a CPU without DBM support, or an SMMU
 * without HTTU ...) can keep faulting on the unchanged target sub-PTE". The fix's report has the
 * roles the other way round (CPUs with HAFDBS dirty a sibling, an SMMU without HTTU loops); the
 * model's hardware is one per run, so the looping walker here is the CPU, and the SMMU dirties.
 *
 *   CPU 0 (the process)                      CPU 1 (its driver: the device's DMA)
 *   read page 0 of each 64 KiB block: one
 *   folio, 16 sub-PTEs PTE_CONT, writable
 *   and clean (PTE_WRITE|PTE_RDONLY|PTE_AF)
 *   ---------------------------- barrier ----------------------------
 *   write page 2 of each block               DMA write to page 5 of each block: the SMMU
 *                                            clears PTE_RDONLY of sub-PTE 5 only
 *   (after the DMA) permission fault on page 2: entry = pte_mkyoung(pte_mkdirty(ptep_get)),
 *   and the gathered ptep_get is already dirty and young:
 *     gathered: "nothing to do", the store faults again on the same PTE   -> fault-loop
 *     per-subpte: sub-PTE 2 differs, all 16 are made dirty, the store goes through
 *   (before the DMA) the fault makes all 16 dirty under either value; the DMA finds 5 done
 *   ---------------------------- barrier ----------------------------
 *   madvise(MADV_DONTNEED) the range: next round maps fresh folios
 *
 * Forbidden outcome: fault-loop (check/oracle.ts, cpu/cpu.ts translateSlow: FAULT_LOOP_ROUNDS
 * identical retries of one access, each after a fault the handler called resolved, on the same PTE).
 *   buggy (anonMthp=64k hafdbs off contpteAccessFlags=gathered)   sometimes: each block whose DMA
 *                                                                 lands before CPU 0's store
 *   fixed (anonMthp=64k hafdbs off)                               never
 *
 * Both presets set anonMthp=64k: without large anonymous folios no block is ever folded and
 * contpte_ptep_set_access_flags is never called. That is the mainline kernel with the 64 KiB size
 * enabled in sysfs. test/scenarios/contpte-access-flags-noop.test.ts forces the DMA before the
 * store (test/fixtures/contpte-access-flags-workloads.ts) and runs these programs both ways.
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import { CONT_SPAN, SCENARIO_BASE, contPageAddress } from './lib.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { smmuHttuWrite } from '../../machine/smmu.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc, mmPgd } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';

export interface ContpteAccessFlagsOptions {
  /** 64 KiB blocks of the mapping */
  blocks?: number;
  /** rounds of map, DMA and store in one trial */
  rounds?: number;
}

interface Params {
  mm: number;
  blocks: number;
  rounds: number;
}

const PROCESS_CPU = 0;
const DMA_CPU = 1;
/** the page CPU 0 writes, and the one the device writes, in each block */
export const CPU_PAGE = 2;
export const DMA_PAGE = 5;


export default defineScenario<Params, ContpteAccessFlagsOptions>({
  name: 'contpte-access-flags-noop',
  question: 'Can a write fault on a page of a folded contiguous block, while a device with hardware dirty-state update has dirtied another page of it, be taken for spurious and fault again forever on a CPU without FEAT_HAFDBS?',
  source: 'mainline "arm64: contpte: fix set_access_flags() no-op check for SMMU/ATS faults" (Piotr Jaroszynski, 2026; Fixes: 4602e5757bcc "arm64/mm: wire up PTE_CONT for user mappings")',
  forbidden: 'fault-loop',
  arches: ['arm64'],
  hardware: { hafdbs: false },
  cpus: 2,
  preferredCpus: 2,
  presets: { buggy: ['anonMthp=64k', 'contpteAccessFlags=gathered'], fixed: ['anonMthp=64k'] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { blocks: 4, rounds: 8 },

  setup(v, { blocks = 4, rounds = 8 } = {}) {
    return { mm: mmAlloc(v, CONTROL_CPU), blocks, rounds };
  },

  run(cpu, p) {
    if (cpu.id !== PROCESS_CPU && cpu.id !== DMA_CPU) return null;
    switchMm(cpu, p.mm);
    const length = p.blocks * CONT_SPAN;
    if (cpu.id === PROCESS_CPU) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length, prot: PROT_READ | PROT_WRITE });
    for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
      // a read fault maps each block: one folio, folded, writable and clean
      if (cpu.id === PROCESS_CPU) for (let b = 0; b < p.blocks; b++) cpu.load(contPageAddress(b, 0));
      smpBarrier(cpu);
      if (cpu.id === PROCESS_CPU) {
        for (let b = 0; b < p.blocks; b++) cpu.store(contPageAddress(b, CPU_PAGE), (round << 8) | b);
      } else {
        // the SMMU walks the process's own page table (SVA)
        const ttb0 = mmPgd(cpu.v, p.mm);
        for (let b = 0; b < p.blocks; b++) smmuHttuWrite(cpu.v, cpu.id, ttb0, contPageAddress(b, DMA_PAGE), (round << 8) | b);
      }
      smpBarrier(cpu);
      if (cpu.id === PROCESS_CPU) sysMadvise(cpu, p.mm, SCENARIO_BASE, length, MADV_DONTNEED);
      smpBarrier(cpu);
    }
    if (cpu.id === PROCESS_CPU) stopAll(cpu.v);
    return null;
  },
});
