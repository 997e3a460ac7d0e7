/*
 * fanout-sweep: what does one shootdown cost as the number of CPUs that cache the range grows,
 * when they are busy and when they are idle?
 *
 * CPU 0 calls flush_tlb_mm_range over `pages` pages of an mm that every CPU runs and has cached,
 * `flushes` times; each call is one operation. The flush stands for the one that follows a PTE
 * change; the PTEs are left as they are, so the targets keep translating the same pages and
 * every flush finds them cached again.
 *
 *   busy   the other CPUs load from the pages until CPU 0 is done: each takes every flush IPI
 *          at its next interrupt point
 *   idle   the other CPUs enter lazy TLB mode (what a CPU does when it goes idle) and sleep: a
 *          flush skips them unless page tables were freed (`freedTables`), and then the first
 *          IPI switches them to init_mm, out of the mm's cpumask, so later flushes skip them too
 *
 * The counts are exact: every target is exactly one generation behind when a flush reaches it,
 * so a flush of k <= 33 pages is k INVLPGs on every CPU that runs the mm, one
 * nr_tlb_remote_flush and one nr_tlb_remote_flush_received per busy target; more than 33 pages
 * is a full flush on each.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../../machine/phys-layout.ts';
import { enterLazyTlb, switchMm } from '../../arch/mmu-context.ts';
import { flushTlbMmRange } from '../../arch/tlbflush.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { Counter } from '../../trace/counters.ts';
import { mapAnonPages } from '../populate.ts';
import { defineMeasurement } from '../scenario.ts';
import { followerGoesOn, loadBurst, waitFor, SCENARIO_BASE } from '../catalog/lib.ts';

export interface Options {
  targets: 'busy' | 'idle';
  pages: number;
  flushes: number;
  /** the flush says page tables were freed: lazy CPUs are IPIed too */
  freedTables: boolean;
}

interface Params extends Options {
  mm: number;
}

const BURST = 64;

function initiator(cpu: Cpu, p: Params): void {
  const end = SCENARIO_BASE + p.pages * PAGE_SIZE;
  for (let i = 0; i < p.flushes && !cpu.shouldStop(); i++) {
    flushTlbMmRange(cpu, p.mm, SCENARIO_BASE, end, PAGE_SHIFT, p.freedTables);
    cpu.count(Counter.WorkloadOps);
  }
  stopAll(cpu.v);
}

function target(cpu: Cpu, p: Params): void {
  if (p.targets === 'idle') {
    // lazy since before the barrier: asleep until CPU 0 is done
    waitFor(cpu, () => false);
    return;
  }
  while (followerGoesOn(cpu)) loadBurst(cpu, SCENARIO_BASE, p.pages, BURST);
}

export default defineMeasurement<Params, Options>({
  name: 'fanout-sweep',
  question: 'What does one flush_tlb_mm_range cost as more CPUs cache the range, busy or idle?',
  operation: 'flush_tlb_mm_range',
  cpus: 1,
  arches: ['x86', 'arm64'],
  presets: { mainline: [] },
  variants: { busy: { targets: 'busy' }, idle: { targets: 'idle' } },
  trialOptions: { targets: 'busy', pages: 8, flushes: 200, freedTables: false },
  setup(v, o) {
    const mm = mmAlloc(v, CONTROL_CPU);
    mapAnonPages(v, CONTROL_CPU, mm, SCENARIO_BASE, o.pages);
    return { ...o, mm };
  },
  run(cpu, p) {
    switchMm(cpu, p.mm);
    // every CPU has the whole range cached before the first flush
    for (let i = 0; i < p.pages; i++) cpu.load(SCENARIO_BASE + i * PAGE_SIZE);
    if (cpu.id !== 0 && p.targets === 'idle') enterLazyTlb(cpu);
    smpBarrier(cpu);
    if (cpu.id === 0) initiator(cpu, p);
    else target(cpu, p);
    switchMm(cpu, INIT_MM);
    return null;
  },
});
