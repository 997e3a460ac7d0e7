/*
 * truncate-fault-race: can a read fault that found a file page before a truncate removed it map
 * that page after the truncate returned, past the new end of the file? (mainline d00806b18315
 * "mm: fix fault vs invalidate race for linear mappings")
 *
 * The window: filemap_fault looks the page up in the page cache with a reference (fault.ts
 * filemapFault, race window 'filemap-fault:page-found'), and only then maps it. Meanwhile
 * ftruncate (truncate.ts) lowers i_size, unmaps the range, takes each page out of the cache
 * under its page lock, unmaps again and returns. Mainline (filemapFaultLock=locked): the fault
 * locks the page and, under the lock, sees it is no longer the cache's and that its offset is past
 * i_size, and fails with SIGBUS; or it locked it first, mapped it, and truncate, which waits for
 * the lock, unmaps it. With filemapFaultLock=unlocked the fault maps the page it found, neither
 * locked nor looked at again: a page the file no longer has, mapped past the end after the
 * truncate returned. The commit says what that leaves: pages with a NULL ->mapping mapped into
 * userspace, while valid mappings of the same place see another page. (Before it, truncate was
 * kept from this by mapping->truncate_count, a sequence count that do_no_page rechecked and that
 * is not modelled; the commit's page lock replaced it and also covered invalidation inside
 * i_size. unlocked is the fault path with neither.)
 *
 * Who sees it: the programs, through the API's contract. After ftruncate has returned, every
 * access past the end must fail with SIGBUS (cpu.lastSignal); a load that reads the dangling page
 * instead files an assertion report (cpu.expect). The promise oracle does not: the dangling PTE
 * is made after the return, and the entry filled from it is newer than the promise.
 *
 * Programs (3 CPUs), round after round:
 *   CPU 2     (not running the mm) grows the file back to 8 pages, then truncates it to 3
 *   CPU 0, 1  threads of the process that maps the file (read-only, shared): they load pages 3..7
 *             over and over, faulting them back into the page cache, until the truncate has
 *             returned; then each loads pages 3..7 once more: every load must raise SIGBUS
 *
 * Forbidden: assertion. Expected: buggy (filemapFaultLock=unlocked): sometimes; fixed: never.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { SIGBUS } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { PROT_READ, sysMmap } from '../../kernel/mmap.ts';
import { createFile } from '../../kernel/filemap.ts';
import { sysFtruncate } from '../../kernel/truncate.ts';
import { defineScenario } from '../scenario.ts';
import { SCENARIO_BASE, bumpFlag, dither, driverGoesOn, flagParams, followerGoesOn, roundStarted, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

interface Params extends FlagParams {
  file: number;
}

const PAGES = 8;
const KEEP = 3;
const READERS = [0, 1];
const TRUNCATER = 2;

// flag words: the round the file grew for (r + 1), truncated (r + 1), readers done with it
const F_GROWN = 0;
const F_TRUNCATED = 1;
const F_CHECKED = 2;

/** What the file holds on disk: nonzero, so that a dangling page reads as something. */
const onDisk = (index: number, word: number) => 0x70000000 | (index << 12) | word;

function truncater(cpu: Cpu, p: Params): void {
  for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
    sysFtruncate(cpu, p.file, PAGES);
    setFlag(cpu, p, F_GROWN, round + 1);
    dither(cpu, 1023);
    sysFtruncate(cpu, p.file, KEEP);
    setFlag(cpu, p, F_TRUNCATED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_CHECKED) >= READERS.length * (round + 1));
  }
  setFlag(cpu, p, F_GROWN, p.rounds + 1);
}

function reader(cpu: Cpu, p: Params): void {
  for (let round = 0; followerGoesOn(cpu); round++) {
    if (!roundStarted(cpu, p, F_GROWN, round)) return;
    // fault the pages past the end back in while the truncate runs
    for (let i = KEEP; Atomics.load(p.flags, F_TRUNCATED) < round + 1 && followerGoesOn(cpu); i = i + 1 < PAGES ? i + 1 : KEEP) {
      cpu.load(SCENARIO_BASE + i * PAGE_SIZE);
    }
    if (Atomics.load(p.flags, F_TRUNCATED) < round + 1) return;
    // ftruncate has returned: nothing past the end may be read any more
    for (let i = KEEP; i < PAGES; i++) {
      const value = cpu.load(SCENARIO_BASE + i * PAGE_SIZE);
      cpu.expect(Number.isNaN(value) && cpu.lastSignal === SIGBUS, `page ${i} past the end after ftruncate returned: ${Number.isNaN(value) ? `signal ${cpu.lastSignal}` : `read 0x${value.toString(16)}`}, not SIGBUS`);
    }
    bumpFlag(cpu, p, F_CHECKED);
  }
}

export default defineScenario<Params, Options>({
  name: 'truncate-fault-race',
  question: 'Can a read fault map a file page that a truncate removed, past the end, after the truncate returned?',
  source: 'mainline d00806b18315 "mm: fix fault vs invalidate race for linear mappings"',
  arches: ['x86', 'arm64'],
  forbidden: 'assertion',
  cpus: 3,
  presets: { buggy: ['filemapFaultLock=unlocked'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 40 },
  setup: (v, o) => ({ ...flagParams(v, o), file: createFile(v, PAGES, onDisk) }),
  run(cpu: Cpu, p: Params): null {
    if (cpu.id !== TRUNCATER) switchMm(cpu, p.mm);
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: PAGES * PAGE_SIZE, prot: PROT_READ, file: p.file });
    smpBarrier(cpu);
    if (cpu.id === TRUNCATER) truncater(cpu, p);
    else reader(cpu, p);
    return null;
  },
});
