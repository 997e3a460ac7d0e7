/*
 * fault-scaling: how do page faults scale over the CPUs of one process when the faults hold only
 * the faulting VMA's lock, rather than the mmap_lock that every mmap and munmap of the process
 * takes for writing? (seed 003 and the per-VMA lock series: "mm: introduce lock_vma_under_rcu to
 * be used from arch-specific code", "x86/mm: try VMA lock-based page fault handling first", v6.4)
 *
 * Every CPU is a thread of one process with VMAs of its own that only it touches. In a pass, the
 * CPU drops the pages of each of its VMAs in turn (MADV_DONTNEED, which takes the mmap_lock for
 * reading) and writes every page again, each write a page fault that allocates a zeroed page: one
 * operation. After each pass, the CPU maps a small range elsewhere, writes it, makes it read-only
 * and unmaps it, as allocators and JITs do now and then: the mmap_lock for writing three times,
 * mprotect's held through a TLB flush that IPIs every CPU running the mm. Warm-up passes go first,
 * untimed.
 *
 *   per-vma-lock     perVmaLock=on: lock_vma_under_rcu, the mmap_lock only as a fallback
 *   mmap-lock        perVmaLock=off: every fault takes the mmap_lock for reading, and waits
 *                    behind any CPU's mmap or munmap
 *
 * The CPUs' timed passes are timed (Counter.WorkloadMs): faults per second are their faults over
 * the CPUs' mean time in them. Every oracle stays on. The host's cores bound the rate whatever the lock: more
 * CPUs than cores share them, and the counts of mmap_lock waits are what does not depend on them.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { MAX_VMAS } from '../../kernel/vma-layout.ts';
import { PROT_READ, PROT_WRITE, sysMmap, sysMunmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { Counter } from '../../trace/counters.ts';
import { defineMeasurement } from '../scenario.ts';
import { SCENARIO_BASE } from '../catalog/lib.ts';

export interface Options {
  /** passes over all of a CPU's VMAs, timed */
  rounds: number;
  /** passes before them, untimed and not counted as operations */
  warmup: number;
  /** VMAs of each CPU, at most what the mm's table holds beside one scratch range a CPU */
  vmas: number;
  /** pages of each VMA */
  pages: number;
}

interface Params extends Options {
  mm: number;
}

/** Each CPU's VMAs lie in a 1 GiB window of their own, a page apart; its scratch range above them. */
const CPU_SPAN = 512 * PMD_SIZE;
/** pages of the scratch mapping a CPU makes and drops after each pass */
const SCRATCH_PAGES = 4;
const vmaBase = (cpu: Cpu, p: Params, k: number): number => SCENARIO_BASE + cpu.id * CPU_SPAN + k * (p.pages + 1) * PAGE_SIZE;
const scratchBase = (cpu: Cpu): number => SCENARIO_BASE + cpu.id * CPU_SPAN + CPU_SPAN / 2;

/** Writes every page of [base, base + pages); each write to a dropped page faults. */
function touch(cpu: Cpu, base: number, pages: number, value: number): void {
  for (let i = 0; i < pages; i++) {
    if (!cpu.store(base + i * PAGE_SIZE, value)) throw new Error(`CPU ${cpu.id}: write to 0x${(base + i * PAGE_SIZE).toString(16)} faulted for good`);
  }
}

/**
 * `rounds` passes over the CPU's VMAs; in each, one operation a page of each VMA (its fault), and
 * a scratch mapping made and dropped at the end. Counted and timed when `timed`.
 */
function faulter(cpu: Cpu, p: Params, rounds: number, timed: boolean): void {
  const len = p.pages * PAGE_SIZE;
  const t0 = performance.now();
  for (let round = 0; round < rounds && !cpu.shouldStop(); round++) {
    for (let k = 0; k < p.vmas; k++) {
      const base = vmaBase(cpu, p, k);
      if (sysMadvise(cpu, p.mm, base, len, MADV_DONTNEED) !== 0) throw new Error(`CPU ${cpu.id}: MADV_DONTNEED failed`);
      touch(cpu, base, p.pages, round + 1);
      if (timed) cpu.count(Counter.WorkloadOps, p.pages);
    }
    // an unrelated mapping made, written, made read-only and dropped: the mmap_lock for writing
    // three times, mprotect's through its TLB flush (an IPI to every CPU that runs the mm)
    const scratch = sysMmap(cpu, p.mm, { addr: scratchBase(cpu), length: SCRATCH_PAGES * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    touch(cpu, scratch, SCRATCH_PAGES, round + 1);
    sysMprotect(cpu, p.mm, scratch, SCRATCH_PAGES * PAGE_SIZE, PROT_READ);
    sysMunmap(cpu, p.mm, scratch, SCRATCH_PAGES * PAGE_SIZE);
  }
  if (timed) cpu.count(Counter.WorkloadMs, performance.now() - t0);
}

export default defineMeasurement<Params, Options>({
  name: 'fault-scaling',
  question: 'How many page faults a second do the CPUs of one process make, each in VMAs of its own, with per-VMA locks and with every fault under the mmap_lock, while the process maps and unmaps now and then?',
  source: 'seed 003: "mm: introduce lock_vma_under_rcu to be used from arch-specific code", "x86/mm: try VMA lock-based page fault handling first" (v6.4); mainline c46000458d57 "mm/mmap: write-lock VMAs before merging, splitting or expanding them"',
  operation: 'a write to a page that MADV_DONTNEED dropped: a page fault (timed passes only)',
  cpus: 1,
  arches: ['x86', 'arm64'],
  presets: {
    'per-vma-lock': [],
    'mmap-lock': ['perVmaLock=off'],
  },
  trialOptions: { rounds: 100, warmup: 200, vmas: 4, pages: 16 },
  columns: [
    { header: 'faults/s', help: 'faults of the timed passes a second: the operations over the CPUs\' mean time in them', counter: 'workload_ops', per: 'second' },
    { header: 'faults', help: 'page faults taken in all, warm-up passes and scratch mappings included (page_faults)', counter: 'page_faults' },
    { header: 'VMA-locked %', help: 'faults handled under the VMA lock alone (vma_lock_success), per 100 faults', counter: 'vma_lock_success', per: 'page_faults', scale: 100 },
    { header: 'fallbacks', help: 'faults that took the mmap_lock after lock_vma_under_rcu failed (vma_lock_abort)', counter: 'vma_lock_abort' },
    { header: 'fault waits', help: 'faults that waited for the mmap_lock (behind a writer)', counter: 'mmap_lock_fault_waits' },
    { header: 'fault waits/1k', help: 'the same, per 1000 faults', counter: 'mmap_lock_fault_waits', per: 'page_faults', scale: 1000 },
    { header: 'fault wait us/1k', help: 'microseconds faults spent waiting for the mmap_lock, per 1000 faults', counter: 'mmap_lock_fault_wait_us', per: 'page_faults', scale: 1000 },
    { header: 'read waits', help: 'mmap_lock read acquisitions that had to wait: faults and MADV_DONTNEED', counter: 'mmap_lock_read_contended' },
    { header: 'write waits', help: 'mmap_lock write acquisitions that had to wait (mmap, mprotect, munmap)', counter: 'mmap_lock_write_contended' },
    { header: 'VMA write waits', help: 'vma_start_write calls that waited for a fault to leave the VMA', counter: 'vma_lock_write_waits' },
  ],
  setup(v: MachineViews, o) {
    // each CPU's VMAs and its scratch range fit the mm's table
    const vmas = Math.min(o.vmas, Math.floor(MAX_VMAS / v.nrCpus) - 1);
    if (vmas < 1) throw new RangeError(`fault-scaling: ${v.nrCpus} CPUs leave no room for a VMA each (${MAX_VMAS} VMAs an mm)`);
    return { ...o, vmas, mm: mmAlloc(v, CONTROL_CPU) };
  },
  run(cpu, p) {
    switchMm(cpu, p.mm);
    for (let k = 0; k < p.vmas; k++) sysMmap(cpu, p.mm, { addr: vmaBase(cpu, p, k), length: p.pages * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    smpBarrier(cpu);
    // untimed: the first passes run code the JIT has not compiled yet, whichever kernel goes first
    faulter(cpu, p, p.warmup, false);
    smpBarrier(cpu);
    faulter(cpu, p, p.rounds, true);
    smpBarrier(cpu);
    switchMm(cpu, INIT_MM);
    return null;
  },
});
