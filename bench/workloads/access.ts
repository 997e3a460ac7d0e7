/*
 * The access benchmark's program (bench/access.ts runs it on a one-CPU machine): user loads and
 * stores that hit the TLB, the emulator's hot path (cpu.load / cpu.store), timed on the CPU's own
 * thread. Setup maps `pages` pages; the CPU loads the mm, fills its TLB with writable, dirty
 * entries, then runs warm-up and timed repetitions of a loop that walks every page.
 *
 * Each result also says how many TLB misses and faults the timed loops took (expected 0: every
 * access is a hit) and how many heap bytes one access allocates (expected 0), counted with
 * v8.GCProfiler so that a scavenge during the loop does not hide what it allocated.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';
import type { Cpu } from '../../src/cpu/cpu.ts';
import type { MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU } from '../../src/machine/frames.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../../src/machine/phys-layout.ts';
import { switchMmIrqsOff } from '../../src/arch/x86/flush.ts';
import { Counter } from '../../src/trace/counters.ts';
import { mmAlloc } from '../../src/kernel/mm.ts';
import { mapAnonPages } from '../../src/scenario/populate.ts';
import { defineWorkload } from '../../src/scenario/workload.ts';

export interface AccessOptions {
  /** a power of two, at most the TLB's set count so that every page stays cached */
  pages: number;
  opsPerRep: number;
  warmupReps: number;
  reps: number;
}

interface AccessParams extends AccessOptions {
  mm: number;
}

export interface AccessResult {
  /** nanoseconds per access, one sample per timed repetition */
  loadNs: number[];
  storeNs: number[];
  loadBytesPerOp: number;
  storeBytesPerOp: number;
  /** TLB fills and page faults during the timed loops */
  misses: number;
  faults: number;
  checksum: number;
}

/** Where the benchmark's pages are mapped. */
const BENCH_BASE = 2 ** 36;

/** `n` accesses of one kind; returns a checksum that keeps the loaded values live. */
type AccessLoop = (cpu: Cpu, pages: number, n: number) => number;

export default defineWorkload<AccessParams, AccessResult, AccessOptions>({
  setup(v: MachineViews, o: AccessOptions): AccessParams {
    if (!Number.isInteger(Math.log2(o.pages))) throw new RangeError(`pages must be a power of two, got ${o.pages}`);
    const mm = mmAlloc(v, CONTROL_CPU);
    mapAnonPages(v, CONTROL_CPU, mm, BENCH_BASE, o.pages);
    return { ...o, mm };
  },

  run(cpu: Cpu, p: AccessParams): AccessResult {
    cpu.localIrqDisable();
    switchMmIrqsOff(cpu, p.mm);
    cpu.localIrqEnable();
    // fill the TLB with dirty entries, so a store needs no dirty-bit walk either
    let checksum = storeLoop(cpu, p.pages, p.pages);
    for (let r = 0; r < p.warmupReps; r++) checksum ^= loadLoop(cpu, p.pages, p.opsPerRep) ^ storeLoop(cpu, p.pages, p.opsPerRep);

    const fills0 = cpu.counters[cpu.counterBase + Counter.TlbFills];
    const faults0 = cpu.counters[cpu.counterBase + Counter.PageFaults];
    const loadNs: number[] = [];
    const storeNs: number[] = [];
    for (let r = 0; r < p.reps; r++) {
      let t0 = performance.now();
      checksum ^= loadLoop(cpu, p.pages, p.opsPerRep);
      loadNs.push(((performance.now() - t0) * 1e6) / p.opsPerRep);
      t0 = performance.now();
      checksum ^= storeLoop(cpu, p.pages, p.opsPerRep);
      storeNs.push(((performance.now() - t0) * 1e6) / p.opsPerRep);
    }
    return {
      loadNs,
      storeNs,
      loadBytesPerOp: bytesPerOp(cpu, loadLoop, p),
      storeBytesPerOp: bytesPerOp(cpu, storeLoop, p),
      misses: cpu.counters[cpu.counterBase + Counter.TlbFills] - fills0,
      faults: cpu.counters[cpu.counterBase + Counter.PageFaults] - faults0,
      checksum,
    };
  },
});

/*
 * The timed loops: round-robin over the pages, each page walked word by word. One loop per kind:
 * a loop with both calls exceeds V8's inlining budget, cpu.store stays a call, and each call
 * boxes its address (a double above 2^31) in a 16-byte HeapNumber.
 */
function loadLoop(cpu: Cpu, pages: number, n: number): number {
  const pageMask = pages - 1;
  const wordShift = Math.log2(pages);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum = (sum + cpu.load(BENCH_BASE + (i & pageMask) * PAGE_SIZE + ((i >>> wordShift) & (WORDS_PER_FRAME - 1)) * 4)) | 0;
  }
  return sum;
}

function storeLoop(cpu: Cpu, pages: number, n: number): number {
  const pageMask = pages - 1;
  const wordShift = Math.log2(pages);
  let failed = 0;
  for (let i = 0; i < n; i++) {
    if (!cpu.store(BENCH_BASE + (i & pageMask) * PAGE_SIZE + ((i >>> wordShift) & (WORDS_PER_FRAME - 1)) * 4, i)) failed--;
  }
  return failed;
}

/** Heap bytes one access allocates: used heap after minus before, plus what each GC meanwhile freed. */
function bytesPerOp(cpu: Cpu, loop: AccessLoop, p: AccessParams): number {
  // an empty loop measures what the measurement itself allocates
  return (allocatedBytes(cpu, loop, p.pages, p.opsPerRep) - allocatedBytes(cpu, loop, p.pages, 0)) / p.opsPerRep;
}

function allocatedBytes(cpu: Cpu, loop: AccessLoop, pages: number, n: number): number {
  const profiler = new GCProfiler();
  profiler.start();
  const before = getHeapStatistics().used_heap_size;
  loop(cpu, pages, n);
  const after = getHeapStatistics().used_heap_size;
  let bytes = after - before;
  for (const gc of profiler.stop().statistics) bytes += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  return bytes;
}
