/*
 * mremap-flush-after-unlock: can a CPU read a page through its TLB entry for the address mremap
 * moved it away from, after truncate found the page at its new address and freed it? (mainline
 * eb66ae030829 "mremap: properly flush TLB before releasing the page", CVE-2018-18281, reported by
 * Jann Horn)
 *
 * mremap moves a page from one PTE to another; no free list of its own holds the page until the
 * flush. Once the PTLs are dropped, truncate can find the page at its new address through the
 * rmap, zap it there and flush the new address only, then drop it from the page cache and free
 * it. Before eb66ae030829, move_ptes flushed the old address under the PTLs only for a dirty PTE;
 * for a clean one it left the flush to the end of move_page_tables, after every PTL and rmap lock
 * was dropped (switch mremapFlush=after-unlock). A CPU that read the page through its old address
 * keeps its clean TLB entry until that flush, and reads the freed frame.
 *
 * Programs (3 CPUs), one process, in rounds:
 *   CPU 0     the reader: finds the 4-page shared file mapping where CPU 1 last put it, faults
 *             every page in (read faults map them read-only and clean), says it is ready, then
 *             reads the first page over and over, until the round's move and truncate are done
 *   CPU 1     the mover: once the reader is ready, mremap(MREMAP_MAYMOVE | MREMAP_FIXED) of the
 *             mapping from A to B, or back
 *   CPU 2     the truncator: once the reader is ready, after a random delay, ftruncate the file to
 *             nothing and back to 4 pages (the pages come back as zeros at the next fault)
 *   CPUs 3..  more readers of the first page, when there are more CPUs
 * The flags only start each round together; within it, the move and the truncate race freely.
 *
 * The race: CPU 1 moves page 0's clean PTE in the first of three extents (both places straddle a
 * 2 MiB boundary), drops the PTLs and the rmap lock; CPU 2 takes that lock (i_mmap_rwsem) for its
 * walk of the file's VMAs before CPU 1's next move_ptes does, zaps the page at its new address,
 * flushes that address, and frees the page; CPU 0 loads through its entry for the old address
 * before CPU 1's deferred flush reaches it.
 *
 * Forbidden: use-after-free (check/oracle.ts: a TLB hit through an entry whose frame was freed
 * since the fill). The same load may also break truncate's promise (access-after-return: the old
 * VMA was still in the rmap, so truncate zapped its range too).
 *
 * Window stretched by noise: mremap:ptl-dropped (kernel/mremap.ts movePtes), after both PTLs
 * and the rmap locks are dropped; under the fixed kernel it is passed too, the flush already made.
 *
 * Expected: buggy (mremapFlush=after-unlock): sometimes; fixed (mainline): never, since the old
 * address is flushed before truncate can take the new PTE's lock.
 * Test deterministically (the interleaving forced) in test/scenarios/mremap-flush-after-unlock.test.ts.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { PROT_READ, sysMmap } from '../../kernel/mmap.ts';
import { MREMAP_FIXED, MREMAP_MAYMOVE, sysMremap } from '../../kernel/mremap.ts';
import { sysFtruncate } from '../../kernel/truncate.ts';
import { createFile } from '../../kernel/filemap.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { defineScenario, forbiddenReported, keepGoing } from '../scenario.ts';
import { PMD_SPAN, SCENARIO_BASE, dither, flagParams, randomWord, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

interface Params extends FlagParams {
  file: number;
}

const PAGES = 4;
/**
 * The two places the mapping moves between, each straddling a 2 MiB boundary: page 0 alone at the
 * end of one PTE table at A, pages 0-2 at the end of one at B. move_page_tables moves the mapping
 * in three extents either way ([0], [1, 2], [3]), one move_ptes each, so the clean PTE of page 0
 * waits for its flush (under after-unlock) while two more move_ptes take the rmap lock in turn.
 */
const PLACE_A = SCENARIO_BASE + PMD_SPAN - PAGE_SIZE;
const PLACE_B = SCENARIO_BASE + 4 * PMD_SPAN - 3 * PAGE_SIZE;

// flag words: where the mapping is (its VPN); rounds the reader is ready for (its TLB filled at
// the current place), rounds moved, rounds truncated (each r + 1 when round r is done)
const F_PLACE = 0;
const F_READY = 1;
const F_MOVED = 2;
const F_TRUNCATED = 3;

const place = (p: Params): number => Atomics.load(p.flags, F_PLACE) * PAGE_SIZE;
const done = (p: Params, flag: number, round: number): boolean => Atomics.load(p.flags, flag) > round;
const stopping = (cpu: Cpu): boolean => cpu.shouldStop() || forbiddenReported(cpu);

/** Each round: once the reader is ready, move the mapping to the other place. */
function mover(cpu: Cpu, p: Params): void {
  const len = PAGES * PAGE_SIZE;
  let from = PLACE_A;
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    waitFor(cpu, () => done(p, F_READY, round));
    if (stopping(cpu)) break;
    const to = from === PLACE_A ? PLACE_B : PLACE_A;
    const ret = sysMremap(cpu, p.mm, from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (ret !== to) throw new Error(`mremap to 0x${to.toString(16)} returned ${ret}`);
    Atomics.store(p.flags, F_PLACE, to / PAGE_SIZE);
    setFlag(cpu, p, F_MOVED, round + 1);
    from = to;
  }
  // no more rounds: the others see round p.rounds + 1 done
  setFlag(cpu, p, F_READY, p.rounds + 1);
  setFlag(cpu, p, F_MOVED, p.rounds + 1);
}

/** Each round: once the reader is ready, after a random delay, truncate the file and grow it back. */
function truncator(cpu: Cpu, p: Params): void {
  for (let round = 0; ; round++) {
    waitFor(cpu, () => done(p, F_READY, round));
    if (round >= p.rounds || done(p, F_MOVED, p.rounds) || stopping(cpu)) break;
    // spread the truncate over the whole of mremap: it races with the move in earnest only when
    // it reaches the page between the first move_ptes and the flush
    dither(cpu, 16383);
    if (sysFtruncate(cpu, p.file, 0) !== 0 || sysFtruncate(cpu, p.file, PAGES) !== 0) throw new Error('ftruncate failed');
    setFlag(cpu, p, F_TRUNCATED, round + 1);
  }
  setFlag(cpu, p, F_TRUNCATED, p.rounds + 1);
}

/**
 * Each round: find the mapping, fault every page in (they come back as zeros after a truncate),
 * say so, then read the first page through the TLB over and over until both the move and the
 * truncate of the round are done. A load that faults (the page moved or truncated) looks again.
 */
function reader(cpu: Cpu, p: Params): void {
  for (let round = 0; round < p.rounds && !stopping(cpu); round++) {
    const base = place(p);
    for (let i = PAGES - 1; i >= 0; i--) {
      if (Number.isNaN(cpu.load(base + i * PAGE_SIZE))) throw new Error(`CPU ${cpu.id}: page ${i} of the mapping faulted before the round`);
    }
    setFlag(cpu, p, F_READY, round + 1);
    while (!(done(p, F_MOVED, round) && done(p, F_TRUNCATED, round)) && !stopping(cpu)) {
      for (let n = 0; n < 64; n++) if (Number.isNaN(cpu.load(randomWord(cpu, place(p), 1)))) break;
      cpu.interruptPoint();
    }
  }
}

function extraReader(cpu: Cpu, p: Params): void {
  while (!done(p, F_MOVED, p.rounds) && !stopping(cpu)) {
    for (let n = 0; n < 64; n++) if (Number.isNaN(cpu.load(randomWord(cpu, place(p), 1)))) break;
    cpu.interruptPoint();
  }
}

export default defineScenario<Params, Options>({
  name: 'mremap-flush-after-unlock',
  question: 'Can a CPU read a page through its TLB entry for the address mremap moved it from, after truncate freed it at its new address, when move_ptes flushes only after dropping the PTLs?',
  source: 'mainline eb66ae030829 "mremap: properly flush TLB before releasing the page" (CVE-2018-18281); the code before it: 5d1904204c99 "mremap: fix race between mremap() and page cleanning"',
  arches: ['x86', 'arm64'],
  forbidden: 'use-after-free',
  cpus: 3,
  presets: { buggy: ['mremapFlush=after-unlock'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 200 },
  setup(v: MachineViews, o: Options): Params {
    return { ...flagParams(v, o), file: createFile(v, PAGES) };
  },
  run(cpu: Cpu, p: Params): null {
    switchMm(cpu, p.mm);
    if (cpu.id === 1) {
      sysMmap(cpu, p.mm, { addr: PLACE_A, length: PAGES * PAGE_SIZE, prot: PROT_READ, file: p.file });
      Atomics.store(p.flags, F_PLACE, PLACE_A / PAGE_SIZE);
    }
    smpBarrier(cpu);
    if (cpu.id === 0) reader(cpu, p);
    else if (cpu.id === 1) mover(cpu, p);
    else if (cpu.id === 2) truncator(cpu, p);
    else extraReader(cpu, p);
    return null;
  },
});
