/*
 * mprotect-toggle: what does a program that write-protects and re-enables a buffer over and over
 * (a garbage collector's barrier, a JIT flipping code pages) pay in flushes and IPIs, and how much
 * of it does skipping the flush on a permission promotion save? (seed 000 patch 03
 * "mm/mprotect: do not flush on permission promotion"; mainline c9fe66560bf2)
 *
 * CPU 0 maps `pages` pages read-write and dirties them; then, once per operation, it
 * mprotect(PROT_READ)s them (a demotion of dirty writable PTEs: a flush is needed), mprotect
 * (PROT_READ|PROT_WRITE)s them back (a promotion), and writes every page again. The other CPUs
 * run the mm and read the pages all along, so each flush that is made IPIs all of them.
 *
 *   mainline         x86 pte_needs_flush: a flush for every RW change, the promotion included
 *   always-flush     a flush for every present PTE changed
 *   skip-promotions  the corrected pte_may_need_flush: no flush for the promotion
 *
 * Every oracle stays on: a skipped flush that was needed would show as a violation.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { PROT_READ, PROT_WRITE } from '../../kernel/mmap.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { Counter } from '../../trace/counters.ts';
import { defineMeasurement } from '../scenario.ts';
import { followerGoesOn, loadBurst, mapAndTouch, SCENARIO_BASE } from '../catalog/lib.ts';

export interface Options {
  pages: number;
  toggles: number;
}

interface Params extends Options {
  mm: number;
}

const BURST = 64;

function toggler(cpu: Cpu, p: Params): void {
  const length = p.pages * PAGE_SIZE;
  for (let i = 0; i < p.toggles && !cpu.shouldStop(); i++) {
    sysMprotect(cpu, p.mm, SCENARIO_BASE, length, PROT_READ);
    sysMprotect(cpu, p.mm, SCENARIO_BASE, length, PROT_READ | PROT_WRITE);
    for (let k = 0; k < p.pages; k++) cpu.store(SCENARIO_BASE + k * PAGE_SIZE, i);
    cpu.count(Counter.WorkloadOps);
  }
  stopAll(cpu.v);
}

export default defineMeasurement<Params, Options>({
  name: 'mprotect-toggle',
  question: 'What do RW/RO mprotect cycles cost in flushes and IPIs, and what does skipping the flush on promotion save?',
  operation: 'mprotect RO then RW, and a write to each page',
  cpus: 1,
  arches: ['x86', 'arm64'],
  presetArches: { 'always-flush': ['x86'], 'skip-promotions': ['x86'] },
  presets: {
    mainline: [],
    'always-flush': ['mprotectFlush=always'],
    'skip-promotions': ['mprotectFlush=skip-promotions'],
  },
  trialOptions: { pages: 16, toggles: 50 },
  setup(v, o) {
    return { ...o, mm: mmAlloc(v, CONTROL_CPU) };
  },
  run(cpu, p) {
    switchMm(cpu, p.mm);
    if (cpu.id === 0) mapAndTouch(cpu, p.mm, SCENARIO_BASE, p.pages * PAGE_SIZE, p.pages);
    smpBarrier(cpu);
    if (cpu.id === 0) toggler(cpu, p);
    else while (followerGoesOn(cpu)) loadBurst(cpu, SCENARIO_BASE, p.pages, BURST);
    switchMm(cpu, INIT_MM);
    return null;
  },
});
