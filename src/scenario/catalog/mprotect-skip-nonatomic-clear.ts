/*
 * mprotect-skip-nonatomic-clear: two bugs together. Can mprotect(PROT_READ) return while another
 * CPU can still write the range, when mprotect skips the flush of a write-protect it judged clean
 * and reads the PTE it changes non-atomically? The buggy preset sets one switch from each source:
 *   mprotectFlush=skip-promotions    seed 000 patch 03, "mm/mprotect: do not flush on permission
 *                                    promotion" (its pte_may_need_flush as corrected in review):
 *                                    no flush for write-protecting a clean writable PTE
 *   ptepGetAndClear=read-then-clear  seed 000, the review of the same RFC: ptep_get_and_clear
 *                                    must be one xchg to keep the A/D bits the hardware sets (x86
 *                                    native_ptep_get_and_clear); here it is a load, then a store
 * Neither alone lets a write through after mprotect returned on x86 (below); the tests show that
 * setting either switch back to mainline makes the scenario clean, and both together reproduce.
 *
 * What the RFC's condition does on x86, honestly: nothing unsafe. Its misplaced negation
 * (!(pte_dirty(old) || !pte_write(old))) skips only write-protects of clean writable PTEs, and so
 * does the corrected condition; where the two differ the RFC flushes MORE (mprotect.ts, at
 * pteNeedsFlush). Skipping the flush of a clean writable PTE is safe on x86 because a TLB entry
 * that caches D clear cannot write without re-walking, and the walker sets D with a cmpxchg only
 * in a PTE still present and writable: once the PTE is read-only, the store faults.
 *
 * The skip trusts the old PTE's dirty bit, so it is unsafe exactly when that bit can be lost: with
 * ptep_get_and_clear done as a read, then a clear (switch ptepGetAndClear=read-then-clear, the
 * other half of the same review), a writer's cmpxchg that sets D between the two succeeds, its TLB
 * entry now caches D, and the value mprotect decides on says "clean": no flush, and the writer
 * keeps writing after mprotect returned. Hence buggy = skip-promotions + read-then-clear; neither
 * switch alone lets a write through after mprotect returned (the skip with xchg sees every D;
 * mainline's pte_needs_flush flushes every RW change whatever D says), though read-then-clear alone
 * still loses dirty bits (lost-dirty-bit, scenario ptep-clear-nonatomic). The RFC's condition with
 * read-then-clear loses it too (it skips the same clean writable write-protects).
 *
 * Programs (2 CPUs or more; the tests use 4), round after round:
 *   CPU 0     mprotect(RW), MADV_DONTNEED (so that the pages fault in again clean), waits until
 *             the writers have loaded them, then tells them it calls mprotect(PROT_READ) over
 *             the 16 pages, and does
 *   CPU 1..   load their pages (a read fault maps a writable clean PTE, the TLB caches D clear),
 *             then, told mprotect is being called, store to them at seeded random moments (the
 *             first store of each page re-walks and sets D by cmpxchg) until a store faults or
 *             mprotect has returned, and store once more after it returned
 *
 * Who sees it: the promise oracle (check/promises.ts), on the writer's store after mprotect
 * returned. The writer's entry was refilled inside mprotect's window, by the D-setting walk, from
 * the PTE mprotect had read and not yet cleared; mprotect holds the mmap_lock for writing, so an
 * entry filled while it ran can only come from a PTE as it was before the change, and mprotect's
 * promise judges it too. The lost-bit oracle reports the lost D itself (lost-dirty-bit, on CPU 0
 * inside mprotect) first; the programs go on past that report to the forbidden outcome.
 *
 * Forbidden: access-after-return (a store through a translation mprotect returned from demoting).
 * Expected: buggy: sometimes; fixed (mainline): never; always-flush (mprotectFlush=always, the
 * code before patch 03): never.
 *
 * x86 only: mprotectFlush's values are x86's pte_needs_flush; arm64's (__pte_flags_need_flush)
 * would be a scenario of its own.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { defineScenario, keepGoing } from '../scenario.ts';
import { bumpFlag, dither, flagParams, roundStarted, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

type Params = FlagParams;

const BASE = 2 ** 37;
const PAGES = 16;

// flag words: the round prepared (r + 1), mprotect(PROT_READ) returned, writers loaded, writers
// done, mprotect(PROT_READ) called
const F_PREPARED = 0;
const F_PROTECTED = 1;
const F_LOADED = 2;
const F_DONE = 3;
const F_GO = 4;

function protector(cpu: Cpu, p: Params): void {
  const writers = cpu.v.nrCpus - 1;
  const len = PAGES * PAGE_SIZE;
  sysMmap(cpu, p.mm, { addr: BASE, length: len, prot: PROT_READ | PROT_WRITE });
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    sysMprotect(cpu, p.mm, BASE, len, PROT_READ | PROT_WRITE);
    sysMadvise(cpu, p.mm, BASE, len, MADV_DONTNEED);
    setFlag(cpu, p, F_PREPARED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_LOADED) >= writers * (round + 1));
    setFlag(cpu, p, F_GO, round + 1);
    sysMprotect(cpu, p.mm, BASE, len, PROT_READ);
    setFlag(cpu, p, F_PROTECTED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_DONE) >= writers * (round + 1));
  }
  setFlag(cpu, p, F_PREPARED, p.rounds + 1);
}

function writer(cpu: Cpu, p: Params): void {
  const writers = cpu.v.nrCpus - 1;
  const k = cpu.id - 1;
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    if (!roundStarted(cpu, p, F_PREPARED, round)) return;
    for (let i = k; i < PAGES; i += writers) cpu.load(BASE + i * PAGE_SIZE);
    bumpFlag(cpu, p, F_LOADED);
    // the user thread is told that mprotect is being called, and writes meanwhile
    waitFor(cpu, () => Atomics.load(p.flags, F_GO) >= round + 1);
    // store until mprotect returned or every page of ours faults
    let writable = true;
    while (writable && Atomics.load(p.flags, F_PROTECTED) < round + 1 && !cpu.shouldStop()) {
      writable = false;
      for (let i = k; i < PAGES; i += writers) {
        dither(cpu, 255);
        if (cpu.store(BASE + i * PAGE_SIZE, round)) writable = true;
      }
    }
    waitFor(cpu, () => Atomics.load(p.flags, F_PROTECTED) >= round + 1);
    // mprotect has returned: no store may succeed through an old translation now (one that
    // does is the promise oracle's to see)
    for (let i = k; i < PAGES; i += writers) cpu.store(BASE + i * PAGE_SIZE, round);
    bumpFlag(cpu, p, F_DONE);
  }
}

export default defineScenario<Params, Options>({
  name: 'mprotect-skip-nonatomic-clear',
  question: 'With two bugs together, can mprotect(PROT_READ) skip the flush of a PTE whose dirty bit a read-then-clear lost, and return while a CPU still writes?',
  source: 'seed 000 patch 03 "mm/mprotect: do not flush on permission promotion" and its review; seed 000, review of the RFC (only an xchg keeps the hardware\'s A/D bits)',
  forbidden: 'access-after-return',
  cpus: 2,
  presets: {
    buggy: ['mprotectFlush=skip-promotions', 'ptepGetAndClear=read-then-clear'],
    fixed: [],
    'always-flush': ['mprotectFlush=always'],
  },
  expected: { buggy: 'sometimes', fixed: 'never', 'always-flush': 'never' },
  trialOptions: { rounds: 20 },
  setup: flagParams,
  run(cpu: Cpu, p: Params): null {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) protector(cpu, p);
    else writer(cpu, p);
    return null;
  },
});
