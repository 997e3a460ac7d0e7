/*
 * numa-scan: how many PTE changes, flushes and IPIs does NUMA balancing's scanner cost, and how
 * much does filtering VMAs by the tasks that touched them save? (seed 003: NUMA scanning skips the
 * VMAs a task never touched, after two unconditional scans)
 *
 * Every CPU is a thread of the process with a VMA of its own that only it touches. Once per
 * operation CPU 0 runs task_numa_work (numaScan): each scanned VMA's PTEs become PROT_NONE, one
 * deferred flush per VMA, IPIing every CPU that runs the mm. Then every CPU reads its own pages
 * again, taking a hinting fault on each (do_numa_page restores the PTE and records the CPU's PID
 * bit in the VMA), and the next scan starts when all are done.
 *
 *   mainline        numaPidFilter=on: after two scans CPU 0 scans only the VMA it faulted in
 *   no-pid-filter   every scan makes every VMA PROT_NONE
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { numaScan } from '../../kernel/numa.ts';
import { Counter } from '../../trace/counters.ts';
import { defineMeasurement } from '../scenario.ts';
import { bumpFlag, flagParams, loadBurst, mapAndTouch, roundStarted, setFlag, waitFor, SCENARIO_BASE, type FlagParams } from '../catalog/lib.ts';

export interface Options {
  rounds: number;
  /** pages of each CPU's VMA */
  pages: number;
}

interface Params extends FlagParams {
  pages: number;
}

// flag words: the round started (r + 1); CPUs done reading their pages
const F_ROUND = 0;
const F_DONE = 1;

const ownBase = (cpu: Cpu): number => SCENARIO_BASE + cpu.id * PMD_SIZE;

/** Reads each of this CPU's pages: a hinting fault on each that the scan made PROT_NONE. */
function touchOwn(cpu: Cpu, p: Params): void {
  for (let i = 0; i < p.pages; i++) cpu.load(ownBase(cpu) + i * PAGE_SIZE);
}

function scanner(cpu: Cpu, p: Params): void {
  for (let round = 0; round < p.rounds && !cpu.shouldStop(); round++) {
    numaScan(cpu, p.mm);
    cpu.count(Counter.WorkloadOps);
    setFlag(cpu, p, F_ROUND, round + 1);
    touchOwn(cpu, p);
    waitFor(cpu, () => Atomics.load(p.flags, F_DONE) >= (cpu.v.nrCpus - 1) * (round + 1));
  }
  setFlag(cpu, p, F_ROUND, p.rounds + 1);
}

function thread(cpu: Cpu, p: Params): void {
  for (let round = 0; roundStarted(cpu, p, F_ROUND, round); round++) {
    touchOwn(cpu, p);
    bumpFlag(cpu, p, F_DONE);
    // and keeps using its memory until the next scan
    loadBurst(cpu, ownBase(cpu), p.pages, p.pages);
  }
}

export default defineMeasurement<Params, Options>({
  name: 'numa-scan',
  question: 'What does NUMA hinting cost in PTE changes, flushes and IPIs, with and without the PID-bits VMA filter?',
  operation: 'task_numa_work scan of the mm',
  cpus: 1,
  arches: ['x86', 'arm64'],
  presets: { mainline: [], 'no-pid-filter': ['numaPidFilter=off'] },
  trialOptions: { rounds: 10, pages: 16 },
  setup(v, o) {
    return { ...flagParams(v, o), pages: o.pages };
  },
  run(cpu, p) {
    switchMm(cpu, p.mm);
    mapAndTouch(cpu, p.mm, ownBase(cpu), p.pages * PAGE_SIZE, p.pages);
    smpBarrier(cpu);
    if (cpu.id === 0) scanner(cpu, p);
    else thread(cpu, p);
    switchMm(cpu, INIT_MM);
    return null;
  },
});
