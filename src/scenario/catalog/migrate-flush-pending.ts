/*
 * migrate-flush-pending: can migration copy a page, and free it, while another CPU still writes
 * it through a TLB entry whose flush NUMA hinting deferred? (mainline 20841405940e "mm: fix TLB
 * flush race between migration, and change_protection_range"; mm_tlb_flush_pending)
 *
 * change_prot_numa makes the PTEs PROT_NONE and defers their flush to the end of the walk
 * (kernel/mprotect.ts, inc_tlb_flush_pending .. dec_tlb_flush_pending); until that flush, other
 * CPUs keep writing through their old writable entries. Migration unmaps the page first
 * (ptep_clear_flush), and flushes only when pte_accessible() says a TLB may hold it: a PROT_NONE
 * PTE counts only while a deferred flush is pending. Without that check (switch
 * pteAccessibleChecksPending=off) migration copies the page with no flush, frees the old frame,
 * and the writer's next store lands in a freed frame: the write is lost, and the use-after-free
 * oracle sees the store through an entry whose frame generation changed.
 *
 * The window: change_pte_range after the PTL is dropped and before the deferred flush
 * (kernel/mprotect.ts, a cpu.raceWindow() after pteUnlock); migration needs that PTL.
 *
 * Programs (4 CPUs):
 *   CPU 0     NUMA scanning: change_prot_numa over the 16 pages, round after round
 *   CPU 1     migrates the pages one after the other (move_pages), again and again
 *   CPU 2, 3  user threads storing to and loading from the pages all the while; their hinting
 *             faults restore the PTEs (and migrate too, once both have faulted in the VMA)
 * Test deterministically (the interleaving forced) in test/kernel/numa.test.ts
 * (migrateWhileFlushPending).
 *
 * Forbidden: use-after-free (a store into the old frame after migration freed it).
 * Expected: buggy (pteAccessibleChecksPending=off): sometimes; fixed: never.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { changeProtNuma, migratePage } from '../../kernel/numa.ts';
import { defineScenario, forbiddenReported, keepGoing } from '../scenario.ts';
import { dither, flagParams, mapAndTouch, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

type Params = FlagParams;

const BASE = 2 ** 37;
const PAGES = 16;

// flag words: the mapping is populated; the scanner is done
const F_MAPPED = 0;
const F_STOP = 1;

/** Whether a non-scanner CPU should go on. */
function running(cpu: Cpu, p: Params): boolean {
  return Atomics.load(p.flags, F_STOP) === 0 && !cpu.shouldStop() && !forbiddenReported(cpu);
}

function scanner(cpu: Cpu, p: Params): void {
  mapAndTouch(cpu, p.mm, BASE, PAGES * PAGE_SIZE, PAGES);
  setFlag(cpu, p, F_MAPPED, 1);
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    changeProtNuma(cpu, p.mm, BASE, PAGES * PAGE_SIZE);
    // task_numa_work runs again a scan period later: let the hinting faults come in
    dither(cpu, 65535);
    cpu.interruptPoint();
  }
  setFlag(cpu, p, F_STOP, 1);
}

function migrator(cpu: Cpu, p: Params): void {
  waitFor(cpu, () => Atomics.load(p.flags, F_MAPPED) !== 0);
  while (running(cpu, p)) {
    for (let i = 0; i < PAGES && running(cpu, p); i++) migratePage(cpu, p.mm, BASE + i * PAGE_SIZE);
    cpu.interruptPoint();
  }
}

function user(cpu: Cpu, p: Params): void {
  waitFor(cpu, () => Atomics.load(p.flags, F_MAPPED) !== 0);
  while (running(cpu, p)) {
    for (let n = 0; n < 256; n++) {
      const r = cpu.random();
      const va = BASE + (r % PAGES) * PAGE_SIZE + ((r >>> 8) & 1023) * 4;
      if ((r & 0x40000000) !== 0) cpu.store(va, r);
      else cpu.load(va);
    }
  }
}

export default defineScenario<Params, Options>({
  name: 'migrate-flush-pending',
  question: 'Can migration copy and free a page that NUMA hinting made PROT_NONE while its flush is still deferred, so that a CPU writes into the freed frame?',
  source: 'mainline 20841405940e "mm: fix TLB flush race between migration, and change_protection_range"',
  arches: ['x86', 'arm64'],
  forbidden: 'use-after-free',
  cpus: 4,
  presets: { buggy: ['pteAccessibleChecksPending=off'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 40 },
  setup: flagParams,
  run(cpu: Cpu, p: Params): null {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) scanner(cpu, p);
    else if (cpu.id === 1) migrator(cpu, p);
    else user(cpu, p);
    return null;
  },
});
