/*
 * deferred-flush-same-gen: does a CPU that switched away from an mm flush its PCID-tagged entries
 * when it comes back, if reclaim's deferred flush did not take a new tlb_gen?
 *
 * Seed 000 patch 15 review: arch_tlbbatch_add_pending must bump mm->context.tlb_gen. A CPU that
 * switched to another mm left mm_cpumask, so reclaim's batched flush does not IPI it; its entries
 * of the mm stay in the TLB under the mm's PCID. When it switches back, switch_mm_irqs_off
 * compares ctxs[asid].tlb_gen with the mm's: equal when the deferred flush reused the generation,
 * so it flushes nothing and reads the page reclaim unmapped and freed (and the allocator may have
 * reused). The same generation also lets flush_tlb_func skip the batched flush on a CPU that
 * runs the mm (local_tlb_gen == mm_tlb_gen), so under `reuse` that CPU is exposed too.
 *
 *   CPU 1 (threads of two processes)   CPU 0 (thread of X)     CPU 2 (kswapd)
 *   switch to X, read X's pages
 *   switch to Y, read Y's pages                                clear PTEs of X's pages (batched,
 *                                                               no new tlb_gen), flush CPU 0 only,
 *                                                               free the frames
 *   switch to X: ctxs gen == mm gen,
 *   no flush; read X's pages: stale
 *
 * The programs: X and Y each map their own read-only file of PAGES pages.
 *   CPU 1, 3.. (a scheduler's worth of context switches)   switch to X, read its pages, switch to Y,
 *                                                           read its pages, again and again
 *   CPU 0 (a thread of X that stays)                       read X's pages, again and again
 *   CPU 2 (kswapd, on init_mm)                             reclaimPages over X's file, `rounds` times, then stop
 *
 * Forbidden outcome: use-after-free (a read through a TLB entry whose frame was freed since the
 * fill: check/oracle.ts).
 *   buggy (deferredFlushGen=reuse)   sometimes
 *   fixed (mainline: bump)           never
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, sysMmap } from '../../kernel/mmap.ts';
import { createFile } from '../../kernel/filemap.ts';
import { reclaimPages, type ReclaimTarget } from '../../kernel/reclaim.ts';

export interface DeferredFlushSameGenOptions {
  /** pages of each process's file mapping */
  pages?: number;
  /** reclaim passes in one trial */
  rounds?: number;
}

interface Params {
  /** the process reclaim takes pages from, and the other one */
  x: number;
  y: number;
  fileX: number;
  fileY: number;
  pages: number;
  rounds: number;
}

export const BASE = 2 ** 37;
const STAYING_CPU = 0;
const RECLAIM_CPU = 2;

function readAll(cpu: Cpu, pages: number): void {
  for (let i = 0; i < pages; i++) cpu.load(BASE + i * PAGE_SIZE);
}

export default defineScenario<Params, DeferredFlushSameGenOptions>({
  name: 'deferred-flush-same-gen',
  question: 'Does a CPU that switched away keep stale PCID entries when reclaim’s deferred flush reuses the tlb_gen?',
  source: 'seed 000 patch 15 "mm: detect deferred TLB flushes in vma granularity" and its review',
  forbidden: 'use-after-free',
  cpus: 3,
  presets: { buggy: ['deferredFlushGen=reuse'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: {},

  setup(v, { pages = 8, rounds = 200 } = {}) {
    return {
      x: mmAlloc(v, CONTROL_CPU),
      y: mmAlloc(v, CONTROL_CPU),
      fileX: createFile(v, pages, (i, w) => 0x10000000 | (i << 16) | w),
      fileY: createFile(v, pages, (i, w) => 0x20000000 | (i << 16) | w),
      pages,
      rounds,
    };
  },

  run(cpu, p) {
    if (cpu.id === STAYING_CPU) {
      // the same address in both processes: only the loaded mm (and PCID) tells them apart
      sysMmap(cpu, p.x, { addr: BASE, length: p.pages * PAGE_SIZE, prot: PROT_READ, file: p.fileX });
      sysMmap(cpu, p.y, { addr: BASE, length: p.pages * PAGE_SIZE, prot: PROT_READ, file: p.fileY });
    }
    if (cpu.id !== RECLAIM_CPU) switchMm(cpu, p.x);
    smpBarrier(cpu);
    if (cpu.id === RECLAIM_CPU) {
      const targets: ReclaimTarget[] = Array.from({ length: p.pages }, (_, index) => ({ file: p.fileX, index }));
      for (let round = 0; keepGoing(cpu, round, p.rounds); round++) reclaimPages(cpu, targets);
      stopAll(cpu.v);
    } else if (cpu.id === STAYING_CPU) {
      while (keepGoing(cpu, 0, 1)) readAll(cpu, p.pages);
    } else {
      while (keepGoing(cpu, 0, 1)) {
        switchMm(cpu, p.x);
        readAll(cpu, p.pages);
        switchMm(cpu, p.y);
        readAll(cpu, p.pages);
      }
    }
    return null;
  },
});
