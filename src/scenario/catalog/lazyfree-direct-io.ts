/*
 * lazyfree-direct-io: can reclaim discard a lazily freed page that a direct IO read has pinned
 * and is writing into, so that the data read is lost? (mainline 6c8e2a256915 "mm: fix race
 * between MADV_FREE reclaim and blkdev direct IO read")
 *
 * What the race is, and what it is not. try_to_unmap_one decides to discard a lazyfree page
 * after it cleared the PTE, and its TLB flush may still be batched: a store through a stale TLB
 * entry cannot be lost that way on x86, since an entry that does not cache D must walk to the
 * cleared PTE to set it and faults, and one that caches D had it in the PTE that the exchange
 * returned (the "clear->dirty transition on a cached TLB entry is written through and traps if
 * the PTE is unmapped" of mainline's comment; the walker here does exactly that, cpu.ts storeSlow,
 * machine/walker.ts). A check of the dirty state after the flush would change nothing: no
 * writer leaves a trace the flush could bring back. The writer that the clean PTE and the clean
 * page do not show is one that needs no TLB: a device writing, by DMA, into a page that a direct
 * IO read pinned. Its completion marks the page dirty only after the data is in. Before
 * 6c8e2a256915 reclaim looked at the dirty state alone: a page pinned for a read in flight looked
 * clean, lost its mapping, and the process read zeros where the read had put its data. The fix
 * reads the reference count after the PTE is cleared (smp_mb), pairing with GUP-fast, which
 * takes its reference before it reads the PTE again: one of them sees the other, and a page
 * with a reference beyond reclaim's and the mappings' keeps its mapping.
 *
 * Switch lazyfreeCheck (reclaim.ts tryToUnmapOne): refcount-after-clear (mainline), dirty-only
 * (before 6c8e2a256915).
 *
 * Programs (3 CPUs), round after round:
 *   CPU 0   the process: recorded stores all over its 8-page buffer; MADV_FREE over it (the
 *           data check forgets what was stored); an O_DIRECT read of 8 pages into it
 *           (kernel/direct-io.ts: pin with GUP-fast, the device writes 16 recorded words of each
 *           page, the completion marks the pages dirty and unpins them); then, once the reclaim
 *           pass under way has ended, it reads back every recorded word (checkAnonData)
 *   CPU 1   kswapd, not running the mm: reclaims the frames the buffer maps, over and over
 *   CPU 2   another thread of the process, loading from a page of its own: the mm runs on two
 *           CPUs, so reclaim batches its flushes (should_defer_flush)
 *
 * Forbidden: lost-data. The data check (check/data.ts) sees a word the device wrote, recorded
 * after MADV_FREE returned, read back as zero: the process faulted in a new page, the data went
 * with the page that reclaim unmapped. Nobody sets a flag; only the values are compared.
 * Expected: buggy (lazyfreeCheck=dirty-only): sometimes; fixed: never.
 *
 * Why the check waits for the reclaim pass: when reclaim discards a page that nobody pinned, its
 * flush may be batched, and the read's slow path (a fault) puts a new page under the buffer
 * before that flush. Until it comes, a TLB entry of the old page that CPU 0 filled before the PTE
 * was cleared (a speculative walk) still reads the old page's data, and the new page holds what
 * the device wrote. Mainline allows that window, since the old frame is not reused before the
 * flush (try_to_unmap_flush at the end of shrink_folio_list): it is not this race. Once the pass
 * has ended every such entry is gone; the lost data of the buggy kernel is in a page nothing maps.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { MADV_FREE, sysMadvise } from '../../kernel/madvise.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { reclaimPages } from '../../kernel/reclaim.ts';
import { directIoRead } from '../../kernel/direct-io.ts';
import { checkAnonData, dataDeviceStore, dataForget, dataShadow, dataStoreBurst, type DataShadow } from '../../check/data.ts';
import { defineScenario } from '../scenario.ts';
import { SCENARIO_BASE, bumpFlag, dither, driverGoesOn, flagParams, followerGoesOn, mappedFrames, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

interface Params extends FlagParams {
  data: DataShadow;
}

const PAGES = 8;
const PROCESS = 0;
const RECLAIMER = 1;
/** the other thread's page, beyond the buffer */
const OTHER = SCENARIO_BASE + PAGES * PAGE_SIZE;
/** words of each page the device writes, WORDS_PER_FRAME / WORDS_PER_READ apart */
const WORDS_PER_READ = 16;
const STRIDE = WORDS_PER_FRAME / WORDS_PER_READ;
/** flag word: reclaim passes ended (each after its try_to_unmap_flush) */
const F_PASSES = 0;

/** What the device puts in word k of page `page` in `round`: nonzero, and unique to the read. */
const readValue = (round: number, page: number, k: number) => 0x40000000 | ((round & 0xffff) << 12) | (page << 4) | k;

function process(cpu: Cpu, p: Params): void {
  for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
    dataStoreBurst(cpu, p.data, SCENARIO_BASE, 32, round);
    sysMadvise(cpu, p.mm, SCENARIO_BASE, PAGES * PAGE_SIZE, MADV_FREE);
    dataForget(p.data, 0, PAGES);
    directIoRead(cpu, p.mm, SCENARIO_BASE, PAGES, (pfn, page) => {
      for (let k = 0; k < WORDS_PER_READ; k++) dataDeviceStore(cpu, p.data, page * WORDS_PER_FRAME + k * STRIDE, pfn, k * STRIDE, readValue(round, page, k));
    });
    // read(2) returned: the data must be where it was read to, once the reclaim pass under way
    // has flushed what it batched (see the top of the file)
    const passes = Atomics.load(p.flags, F_PASSES);
    waitFor(cpu, () => Atomics.load(p.flags, F_PASSES) > passes);
    checkAnonData(cpu, p.data, SCENARIO_BASE);
  }
}

function reclaimer(cpu: Cpu, p: Params): void {
  while (followerGoesOn(cpu)) {
    reclaimPages(cpu, mappedFrames(cpu.v, p.mm, SCENARIO_BASE, PAGES));
    bumpFlag(cpu, p, F_PASSES);
    dither(cpu, 1023);
    // kswapd takes interrupts too: a loop of kernel work alone would hold up every flush
    cpu.interruptPoint();
  }
}

function otherThread(cpu: Cpu): void {
  while (followerGoesOn(cpu)) {
    for (let i = 0; i < 64; i++) cpu.load(OTHER + i * 64);
  }
}

export default defineScenario<Params, Options>({
  name: 'lazyfree-direct-io',
  question: 'Can reclaim discard a lazily freed page that a direct IO read has pinned and is writing into, losing the data read?',
  source: 'mainline 6c8e2a256915 "mm: fix race between MADV_FREE reclaim and blkdev direct IO read"; faeb2831b517 "mm: set folio swapbacked iff folios are dirty in try_to_unmap_one"',
  arches: ['x86', 'arm64'],
  forbidden: 'lost-data',
  cpus: 3,
  presets: { buggy: ['lazyfreeCheck=dirty-only'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 40 },
  setup: (v, o) => ({ ...flagParams(v, o), data: dataShadow(PAGES, v.nrCpus) }),
  run(cpu: Cpu, p: Params): null {
    if (cpu.id !== RECLAIMER) switchMm(cpu, p.mm);
    if (cpu.id === PROCESS) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: (PAGES + 1) * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    smpBarrier(cpu);
    if (cpu.id === PROCESS) process(cpu, p);
    else if (cpu.id === RECLAIMER) reclaimer(cpu, p);
    else otherThread(cpu);
    return null;
  },
});
