/*
 * reclaim-global-asid: can reclaim free a page that a CPU running its mm on a global ASID still
 * has in its TLB, because reclaim's batched flush went out as IPIs?
 *
 * Under INVLPGB (x86TlbFlush=invlpgb) an mm that four CPUs run gets a global ASID, and from then
 * on nothing but an INVLPGB flushes its entries: flush_tlb_func returns at once for a global ASID
 * ("kept up to date with INVLPGB"), and switch_mm loads it without a flush. Reclaim does not know
 * which mms its batch unmapped from (it keeps a cpumask), so arch_tlbbatch_flush must broadcast a
 * flush of every non-global entry (72a920eacd8a, 0b7eb55cb706: v6.15). The series got this flush
 * wrong twice before the merge, as its changelogs say: v2 "Fix bug in arch_tlbbatch_flush, where
 * we need to do both the TLBSYNC, and flush the CPUs that are in the cpumask", v5 "fix a race
 * between reclaim and ASID transition (Jann)". The buggy preset (tlbbatchFlush=ipi-cpumask) is
 * the batch flush as it was before the series: IPIs to the batch's cpumask, which the CPUs on
 * the global ASID answer without flushing.
 *
 *   CPU 1-3 (threads, global ASID)     CPU 4 (kswapd)
 *   read file page k: cached
 *                                      try_to_unmap: PTE cleared, flush batched
 *                                      try_to_unmap_flush: IPI -> flush_tlb_func: global ASID,
 *                                        returns; the page leaves the page cache, freed
 *   read page k through the entry: use-after-free
 *
 * Programs: a file of PAGES pages mapped read-only and shared by CPU 0.
 *   CPU 0      toggles a page of its own between read-write and read-only 64 times (lib.ts
 *              toggleForGlobalAsid: each flush an IPI flush, after which consider_global_asid
 *              looks; CPUs 0-3 run the mm, so it gets a global ASID), then reads the file pages
 *              with the others
 *   CPU 1-3    read the file pages, again and again
 *   CPU 4      (kswapd, on init_mm) reclaims the file pages, `rounds` times, once CPU 0 is ready
 *
 * Forbidden: use-after-free.
 *   buggy  (x86TlbFlush=invlpgb, tlbbatchFlush=ipi-cpumask)   sometimes
 *   fixed  (x86TlbFlush=invlpgb: mainline's broadcast)         never
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, sysMmap } from '../../kernel/mmap.ts';
import { createFile } from '../../kernel/filemap.ts';
import { reclaimPages, type ReclaimTarget } from '../../kernel/reclaim.ts';
import { defineScenario, keepGoing } from '../scenario.ts';
import { loadBurst, toggleForGlobalAsid, waitFor, type RoundsOptions } from './lib.ts';

interface Params {
  mm: number;
  file: number;
  rounds: number;
  flags: Int32Array;
}

const BASE = 2 ** 37;
/** CPU 0's own page, toggled to get the mm its global ASID */
const TOGGLE = BASE + 2 ** 30;
const PAGES = 8;
const KSWAPD = 4;
const BURST = 64;
// flag word: CPU 0 is done warming up
const F_READY = 0;

export default defineScenario<Params, RoundsOptions>({
  name: 'reclaim-global-asid',
  question: 'Can reclaim free a page that a CPU on a global ASID still caches, when its batched flush goes out as IPIs?',
  source: 'mainline 72a920eacd8a "x86/mm: Use broadcast TLB flushing in page reclaim" and 0b7eb55cb706 (v6.15); the INVLPGB series\' changelogs: v2 "Fix bug in arch_tlbbatch_flush", v5 "fix a race between reclaim and ASID transition (Jann)"',
  forbidden: 'use-after-free',
  cpus: 5,
  presets: {
    buggy: ['x86TlbFlush=invlpgb', 'tlbbatchFlush=ipi-cpumask'],
    fixed: ['x86TlbFlush=invlpgb'],
  },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 40 },

  setup(v, { rounds }) {
    return { mm: mmAlloc(v, CONTROL_CPU), file: createFile(v, PAGES, (i, w) => (i << 16) | w), rounds, flags: new Int32Array(new SharedArrayBuffer(16)) };
  },

  run(cpu: Cpu, p: Params): null {
    if (cpu.id === 0) {
      sysMmap(cpu, p.mm, { addr: BASE, length: PAGES * PAGE_SIZE, prot: PROT_READ, file: p.file, pgoff: 0 });
    }
    if (cpu.id !== KSWAPD) switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === KSWAPD) {
      waitFor(cpu, () => Atomics.load(p.flags, F_READY) !== 0);
      const targets: ReclaimTarget[] = Array.from({ length: PAGES }, (_, index) => ({ file: p.file, index }));
      for (let round = 0; keepGoing(cpu, round, p.rounds); round++) reclaimPages(cpu, targets);
      stopAll(cpu.v);
      return null;
    }
    if (cpu.id === 0) {
      toggleForGlobalAsid(cpu, p.mm, TOGGLE);
      Atomics.store(p.flags, F_READY, 1);
    }
    while (keepGoing(cpu, 0, 1)) loadBurst(cpu, BASE, PAGES, BURST);
    return null;
  },
});
