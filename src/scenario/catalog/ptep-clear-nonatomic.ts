/*
 * ptep-clear-nonatomic: can ptep_get_and_clear lose the dirty bit the page walker sets, and with
 * it the only record that a page was written? (seed 000, review of the RFC: only an xchg keeps the
 * bits the hardware sets; x86 native_ptep_get_and_clear)
 *
 * The window: with switch ptepGetAndClear=read-then-clear, ptep_get_and_clear is a load, then a
 * store of 0 (arch/ptep-get-and-clear.ts ptepGetAndClear, a cpu.raceWindow() between the two). A CPU
 * whose TLB entry caches a clean writable translation stores: the walker sets D with a cmpxchg on
 * the PTE, which succeeds in the window (the PTE is still present and writable), the store
 * completes, and the clear then wipes the D that the value read a moment before does not have.
 *
 * Where the dirty bit is the only record of a write: a page that MADV_FREE made lazily freeable
 * (clean, PG_lazyfree) is discarded by reclaim unless a dirty PTE says it was written since
 * (reclaim.ts tryToUnmapOne). A lost D discards a page holding data written after MADV_FREE
 * returned: the next access would find a fresh zero page.
 *
 * Who sees it: the lost-bit oracle (check/lost-bits.ts), from the hardware's side. The walker
 * records on the frame that it set D in that PTE; ptep_get and the xchg mark what they return as
 * seen; the clearing store is an exchange inside set_pte, so it knows it wiped a D that the
 * hardware set and no kernel primitive returned, and reports lost-dirty-bit on the clearing CPU
 * (the reclaimer, CPU 3), at the store. Nobody checks data; nobody sets a flag.
 *
 * Why not a shared file mapping, where the lost-write oracle watches every store: file mappings
 * here are write-notified (fault.ts): a PTE becomes writable only in a write fault that marks the
 * page dirty and sets D at once, so the walker never has to set D on a file PTE.
 *
 * Programs (4 CPUs), round after round:
 *   CPU 0     MADV_FREE over the 16 pages (clean, old, lazily freeable), then starts the round
 *   CPU 1, 2  each stores a round tag to its 8 pages, at seeded random moments (the first store
 *             of each page re-walks and sets A and D by cmpxchg), then waits for reclaim
 *   CPU 3     (kswapd, not running the mm) reclaims the 16 frames at the same time: try_to_unmap_one
 *             clears each PTE with ptep_get_and_clear
 *
 * Forbidden: lost-dirty-bit (a D the walker set is wiped by a store that never saw it).
 * Expected: buggy (ptepGetAndClear=read-then-clear): sometimes; fixed (xchg): never.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { MADV_FREE, sysMadvise } from '../../kernel/madvise.ts';
import { reclaimPages } from '../../kernel/reclaim.ts';
import { defineScenario, keepGoing } from '../scenario.ts';
import { bumpFlag, dither, flagParams, mapAndTouch, mappedFrames, roundStarted, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

type Params = FlagParams;

const BASE = 2 ** 37;
const PAGES = 16;
const WRITERS = [1, 2];
const RECLAIMER = 3;

// flag words: the round started (r + 1), reclaim done with it, writers done with it
const F_ROUND = 0;
const F_RECLAIMED = 1;
const F_WRITTEN = 2;

const tagOf = (round: number, page: number) => ((round + 1) << 8) | page;

function coordinator(cpu: Cpu, p: Params): void {
  mapAndTouch(cpu, p.mm, BASE, PAGES * PAGE_SIZE, PAGES);
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    sysMadvise(cpu, p.mm, BASE, PAGES * PAGE_SIZE, MADV_FREE);
    setFlag(cpu, p, F_ROUND, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_WRITTEN) >= WRITERS.length * (round + 1));
  }
  setFlag(cpu, p, F_ROUND, p.rounds + 1);
}

function writer(cpu: Cpu, p: Params): void {
  const k = WRITERS.indexOf(cpu.id);
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    if (!roundStarted(cpu, p, F_ROUND, round)) return;
    for (let i = k; i < PAGES; i += WRITERS.length) {
      dither(cpu, 4095);
      cpu.store(BASE + i * PAGE_SIZE, tagOf(round, i));
    }
    waitFor(cpu, () => Atomics.load(p.flags, F_RECLAIMED) >= round + 1);
    bumpFlag(cpu, p, F_WRITTEN);
  }
}

function reclaimer(cpu: Cpu, p: Params): void {
  const v = cpu.v;
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    if (!roundStarted(cpu, p, F_ROUND, round)) return;
    // the LRU: the frames the range maps now
    const pfns = mappedFrames(v, p.mm, BASE, PAGES);
    dither(cpu, 1023);
    reclaimPages(cpu, pfns);
    setFlag(cpu, p, F_RECLAIMED, round + 1);
  }
}

export default defineScenario<Params, Options>({
  name: 'ptep-clear-nonatomic',
  question: 'Can a read-then-clear ptep_get_and_clear lose the dirty bit of a write to a lazily freed page, so that reclaim discards it?',
  source: 'seed 000, review of the RFC: only an xchg keeps the bits the hardware sets (x86 native_ptep_get_and_clear)',
  arches: ['x86', 'arm64'],
  forbidden: 'lost-dirty-bit',
  cpus: 4,
  presets: { buggy: ['ptepGetAndClear=read-then-clear'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 20 },
  setup: flagParams,
  run(cpu: Cpu, p: Params): null {
    if (cpu.id !== RECLAIMER) switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) coordinator(cpu, p);
    else if (WRITERS.includes(cpu.id)) writer(cpu, p);
    else if (cpu.id === RECLAIMER) reclaimer(cpu, p);
    return null;
  },
});
