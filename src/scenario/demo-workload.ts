/*
 * The demo: CPUs 1..N-1 load and store all over a set of pages of one mm while CPU 0 changes
 * their PTEs (write-protects, clears, remaps to a new frame) and calls flushTlbMmRange, again and
 * again. After every flush returns, the flush postcondition is checked against every CPU's TLB.
 *
 * Forbidden outcome: a CPU still translates a flushed PTE to its old frame or permissions.
 * Expected: never, with the x86 flushing of arch/x86/flush.ts.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import { allocFrame, CONTROL_CPU, freeFrame } from '../machine/frames.ts';
import { FrameKind, PAGE_SIZE, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { pteOffset, ptepGetAndClear, setPte } from '../machine/pagetable.ts';
import { PAGE_SHARED, pfnPte, pteMkwrite, ptePfn, pteWrprotect } from '../machine/pte.ts';
import { mapAnonPages } from './populate.ts';
import { mmAlloc, mmPgd, mmTlbGen } from '../kernel/mm.ts';
import { switchMm } from '../arch/mmu-context.ts';
import { flushTlbMmRange } from '../arch/tlbflush.ts';
import { smpBarrier, stopAll } from '../cpu/smp.ts';
import { checkFlushPostcondition, type FlushViolation } from '../check/flush-postcondition.ts';
import { defineWorkload } from './workload.ts';
import { progressTick } from '../campaign/progress.ts';
import { copyHighpage } from '../kernel/page.ts';

export interface DemoOptions {
  flushes: number;
  pages?: number;
}

interface DemoParams {
  mm: number;
  base: number;
  pages: number;
  flushes: number;
}

export interface DemoCpuResult {
  /** CPU 0: the time each flushTlbMmRange took, in microseconds */
  shootdownUs: number[];
  violations: FlushViolation[];
  /** user accesses made (CPUs 1..N-1) and how many faulted */
  accesses: number;
  faults: number;
}

export const DEMO_BASE = 2 ** 36;
const MAX_RANGE = 40; // pages per change: some ranges exceed the 33-page ceiling

export default defineWorkload<DemoParams, DemoCpuResult, DemoOptions>({
  setup(v: MachineViews, { flushes, pages = 64 }: DemoOptions): DemoParams {
    const mm = mmAlloc(v, CONTROL_CPU);
    mapAnonPages(v, CONTROL_CPU, mm, DEMO_BASE, pages);
    return { mm, base: DEMO_BASE, pages, flushes };
  },

  run(cpu: Cpu, p: DemoParams): DemoCpuResult {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    return cpu.id === 0 ? initiator(cpu, p) : accessor(cpu, p);
  },
});

function accessor(cpu: Cpu, p: DemoParams): DemoCpuResult {
  let accesses = 0;
  let faults = 0;
  while (!cpu.shouldStop()) {
    for (let i = 0; i < 256; i++) {
      const r = cpu.random();
      const va = p.base + (r % p.pages) * PAGE_SIZE + ((r >>> 16) & (WORDS_PER_FRAME - 1)) * 4;
      const ok = (r & 0x8000) !== 0 ? cpu.store(va, cpu.id) : !Number.isNaN(cpu.load(va));
      if (!ok) faults++;
    }
    accesses += 256;
  }
  return { shootdownUs: [], violations: [], accesses, faults };
}

const enum Change {
  Wrprotect = 0,
  Clear = 1,
  Remap = 2,
}

function initiator(cpu: Cpu, p: DemoParams): DemoCpuResult {
  const v = cpu.v;
  const pgd = mmPgd(v, p.mm);
  const shootdownUs: number[] = [];
  const violations: FlushViolation[] = [];
  const saved = new Int32Array(MAX_RANGE);
  for (let f = 0; f < p.flushes; f++) {
    const change = (cpu.random() % 3) as Change;
    const n = 1 + (cpu.random() % Math.min(MAX_RANGE, p.pages));
    const first = cpu.random() % (p.pages - n + 1);
    const start = p.base + first * PAGE_SIZE;
    const end = start + n * PAGE_SIZE;
    for (let i = 0; i < n; i++) {
      const ptep = pteOffset(v, pgd, start + i * PAGE_SIZE);
      // ptep_modify_prot_start: the walker cannot set A or D between our read and our write
      const old = ptepGetAndClear(v, ptep);
      saved[i] = old;
      let pte = 0;
      if (change === Change.Wrprotect) pte = pteWrprotect(old);
      else if (change === Change.Remap) {
        const fresh = allocFrame(v, cpu.id, FrameKind.Anon, p.mm, first + i, false);
        if (fresh === 0) throw new RangeError('demo: out of memory remapping');
        copyHighpage(v, fresh, ptePfn(old));
        pte = pfnPte(fresh, PAGE_SHARED);
      }
      setPte(v, ptep, pte);
    }
    const t0 = performance.now();
    flushTlbMmRange(cpu, p.mm, start, end);
    shootdownUs.push((performance.now() - t0) * 1000);
    // only CPU 0 flushes this mm: its generation now is the one this flush brought CPUs up to
    const bad = checkFlushPostcondition(v, p.mm, start, end, mmTlbGen(v, p.mm), cpu.arch);
    if (bad) violations.push(bad);
    // undo: promotions and present-from-none need no flush; remapped frames are free now
    for (let i = 0; i < n; i++) {
      const ptep = pteOffset(v, pgd, start + i * PAGE_SIZE);
      if (change === Change.Remap) freeFrame(v, cpu.id, ptePfn(saved[i]));
      // from none: nothing there to lose
      else if (change === Change.Clear) setPte(v, ptep, pteMkwrite(saved[i]));
      // ptep_modify_prot_start/commit again: an A bit the walker set since stays
      else setPte(v, ptep, pteMkwrite(ptepGetAndClear(v, ptep)));
    }
    progressTick(v);
    cpu.interruptPoint();
  }
  stopAll(v);
  return { shootdownUs, violations, accesses: 0, faults: 0 };
}
