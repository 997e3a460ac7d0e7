/*
 * reclaim-storm: what do reclaim's batched unmaps cost while the process itself keeps changing its
 * page tables, and how many of the flushes are redundant? (seed 000 patch 20 and mainline
 * 5ee2fa2f0636 for the batched-pending schemes; seed 000 patches 08, 15 and 17 for the completed
 * generation)
 *
 * CPU 0 is kswapd: once per operation it reclaims every page of a file the process maps, each
 * mapped page unmapped with its flush batched (set_tlb_ubc_flush_pending) and made once at the end
 * (try_to_unmap_flush). Meanwhile every other CPU runs the mm and, operation after operation,
 * unmaps and remaps its own anonymous pages (munmap: an mmu_gather that frees the PTE table),
 * zaps them (MADV_DONTNEED) or toggles the protection of one file page (mprotect): each of them
 * first flushes whatever reclaim left pending in the mm (flush_tlb_batched_pending), and in
 * between they read the file, so that reclaim keeps finding it mapped. On one CPU, CPU 0 does
 * both in turn.
 *
 *   mainline        batchedPending=counters
 *   flag            the boolean of seed 000 patch 20's race (a lost pending flush is possible: a
 *                   violation would show it)
 *   cpumask         patch 20's global cpumask of CPUs with batched flushes pending
 *   completed-gen   counters, and completedGen=skip-completed: a deferred flush whose generation a
 *                   later completed flush_tlb_mm_range already passed is skipped
 *
 * 'redundant' counts the deferred flushes that were already covered when made, under every
 * kernel; completed-gen skips them.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { PROT_READ, sysMmap, sysMunmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { createFile } from '../../kernel/filemap.ts';
import { reclaimPages, type ReclaimTarget } from '../../kernel/reclaim.ts';
import { Counter } from '../../trace/counters.ts';
import { defineMeasurement } from '../scenario.ts';
import { followerGoesOn, loadBurst, mapAndTouch, storeBurst, waitFor, SCENARIO_BASE } from '../catalog/lib.ts';

export interface Options {
  /** reclaim passes */
  passes: number;
  filePages: number;
  anonPages: number;
}

interface Params extends Options {
  mm: number;
  file: number;
  /** word 0: system calls made so far by the other CPUs */
  flags: Int32Array;
}

const FILE_BASE = SCENARIO_BASE;
const PROT_NONE = 0;
const BURST = 32;

/** Each CPU's anonymous pages: a PMD range of its own, so that munmap frees its PTE table. */
const anonBase = (cpu: Cpu): number => SCENARIO_BASE + (1 + cpu.id) * PMD_SIZE;

/** One system call of the mix, chosen by `n`; every one flushes reclaim's pending unmaps first. */
function syscallOp(cpu: Cpu, p: Params, n: number): void {
  const base = anonBase(cpu);
  const length = p.anonPages * PAGE_SIZE;
  switch (n % 3) {
    case 0:
      sysMunmap(cpu, p.mm, base, length);
      mapAndTouch(cpu, p.mm, base, length, p.anonPages);
      break;
    case 1:
      sysMadvise(cpu, p.mm, base, length, MADV_DONTNEED);
      storeBurst(cpu, base, p.anonPages, p.anonPages, n);
      break;
    case 2: {
      const page = FILE_BASE + (cpu.id % p.filePages) * PAGE_SIZE;
      sysMprotect(cpu, p.mm, page, PAGE_SIZE, PROT_NONE);
      sysMprotect(cpu, p.mm, page, PAGE_SIZE, PROT_READ);
      break;
    }
  }
  cpu.count(Counter.WorkloadOps);
}

function kswapd(cpu: Cpu, p: Params): void {
  const targets: ReclaimTarget[] = Array.from({ length: p.filePages }, (_, index) => ({ file: p.file, index }));
  const tasks = cpu.v.nrCpus - 1;
  for (let pass = 0; pass < p.passes && !cpu.shouldStop(); pass++) {
    // a pass per system call of each task, so that they overlap however fast each one runs
    waitFor(cpu, () => Atomics.load(p.flags, 0) >= pass * tasks);
    reclaimPages(cpu, targets);
    cpu.count(Counter.WorkloadOps);
    if (cpu.v.nrCpus === 1) {
      for (let n = 0; n < 3; n++) syscallOp(cpu, p, pass + n);
      loadBurst(cpu, FILE_BASE, p.filePages, BURST);
    }
  }
  stopAll(cpu.v);
}

function task(cpu: Cpu, p: Params): void {
  for (let n = cpu.id; followerGoesOn(cpu); n++) {
    syscallOp(cpu, p, n);
    Atomics.add(p.flags, 0, 1);
    cpu.fabric.kick(0);
    loadBurst(cpu, FILE_BASE, p.filePages, BURST);
  }
}

export default defineMeasurement<Params, Options>({
  name: 'reclaim-storm',
  question: "What do reclaim's batched unmaps cost while the process munmaps, madvises and mprotects, and how many flushes are redundant?",
  operation: 'reclaim pass or system call',
  cpus: 1,
  arches: ['x86', 'arm64'],
  presetArches: { cpumask: ['x86'], 'completed-gen': ['x86'] },
  presets: {
    mainline: [],
    flag: ['batchedPending=flag'],
    cpumask: ['batchedPending=cpumask'],
    'completed-gen': ['completedGen=skip-completed'],
  },
  trialOptions: { passes: 40, filePages: 16, anonPages: 8 },
  setup(v, o) {
    return { ...o, mm: mmAlloc(v, CONTROL_CPU), file: createFile(v, o.filePages, (i, w) => (i << 16) | w), flags: new Int32Array(new SharedArrayBuffer(4)) };
  },
  run(cpu, p) {
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: FILE_BASE, length: p.filePages * PAGE_SIZE, prot: PROT_READ, file: p.file, pgoff: 0 });
    // kswapd runs no mm of its own, unless it is the only CPU
    if (cpu.id !== 0 || cpu.v.nrCpus === 1) {
      switchMm(cpu, p.mm);
      mapAndTouch(cpu, p.mm, anonBase(cpu), p.anonPages * PAGE_SIZE, p.anonPages);
    }
    smpBarrier(cpu);
    if (cpu.id === 0) kswapd(cpu, p);
    else task(cpu, p);
    switchMm(cpu, INIT_MM);
    return null;
  },
});
