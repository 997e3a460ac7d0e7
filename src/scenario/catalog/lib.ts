/*
 * What the catalog scenarios share: where their mappings go, how a trial's programs agree to stop,
 * and the user loop that keeps a range hot in a CPU's TLB. Nothing here orders CPUs against each
 * other: a scenario's programs run freely and the race happens, or not, by itself. The flag words
 * at the end are for the scenarios that step their programs through rounds: those order the CPUs
 * only as far as each scenario's own flags say.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../../machine/phys-layout.ts';
import { kickAll, stopAll } from '../../cpu/smp.ts';
import { mmAlloc, mmPgd } from '../../kernel/mm.ts';
import { pteAtNoSideEffects } from '../../machine/pagetable.ts';
import { ptePfn, ptePresent } from '../../machine/pte.ts';
import { PROT_READ, PROT_WRITE, sysMmap, sysMunmap } from '../../kernel/mmap.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { collapseHugePage } from '../../kernel/khugepaged.ts';
import { getUserPagesFast, unpinUserPages } from '../../kernel/gup.ts';
import { forbiddenReported, keepGoing } from '../scenario.ts';

/** 2 MiB aligned, so that a mapping there has PTE tables of its own. */
export const SCENARIO_BASE = 2 ** 38;
export const PMD_SPAN = 512 * PAGE_SIZE;
/** A 64 KiB block: what one arm64 contiguous PTE block (CONT_PTES) and one 64 KiB mTHP folio cover. */
export const CONT_PAGES = 16;
export const CONT_SPAN = CONT_PAGES * PAGE_SIZE;
/** Page `i` of the 64 KiB block `block` above SCENARIO_BASE. */
export const contPageAddress = (block: number, i: number): number => SCENARIO_BASE + block * CONT_SPAN + i * PAGE_SIZE;

/** What one trial runs: how many rounds the driving CPU makes before it asks everyone to stop. */
export interface RoundsOptions {
  rounds: number;
}

/**
 * The driving CPU's loop condition: rounds left and the forbidden outcome not seen
 * (forbiddenReported). When it says no, the driver asks every other CPU to wind down.
 */
export function driverGoesOn(cpu: Cpu, round: number, rounds: number): boolean {
  if (keepGoing(cpu, round, rounds)) return true;
  stopAll(cpu.v);
  return false;
}

/** The other CPUs' loop condition: until the driver stops or the forbidden outcome was reported. */
export function followerGoesOn(cpu: Cpu): boolean {
  return keepGoing(cpu, 0, 1);
}

/** A random word address in one of `pages` pages from `base`. */
export function randomWord(cpu: Cpu, base: number, pages: number): number {
  const r = cpu.random();
  return base + (r % pages) * PAGE_SIZE + ((r >>> 12) & (WORDS_PER_FRAME - 1)) * 4;
}

/** `n` user stores of `value` at random words of [base, base + pages pages); returns how many faulted. */
export function storeBurst(cpu: Cpu, base: number, pages: number, n: number, value: number): number {
  let failed = 0;
  for (let i = 0; i < n; i++) if (!cpu.store(randomWord(cpu, base, pages), value)) failed++;
  return failed;
}

/** `n` user loads at random words of [base, base + pages pages); returns how many faulted. */
export function loadBurst(cpu: Cpu, base: number, pages: number, n: number): number {
  let failed = 0;
  for (let i = 0; i < n; i++) if (Number.isNaN(cpu.load(randomWord(cpu, base, pages)))) failed++;
  return failed;
}

/** A random number of `cpu.random()` steps, up to `mask`: spreads the moments of racing accesses. */
export function dither(cpu: Cpu, mask: number): void {
  for (let n = cpu.random() & mask; n > 0; n--) cpu.random();
}

/**
 * The frames `pages` pages from `base` map now, as reclaim's LRU lists would hold them: a look at
 * the PTEs that marks nothing seen for the lost-bit oracle (check/lost-bits.ts).
 */
export function mappedFrames(v: MachineViews, mm: number, base: number, pages: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < pages; i++) {
    const pte = pteAtNoSideEffects(v, mmPgd(v, mm), base + i * PAGE_SIZE);
    if (ptePresent(pte)) out.push(ptePfn(pte));
  }
  return out;
}

/** mmap `length` bytes read-write at `base`, and store i to the first word of page i of `pages`. */
export function mapAndTouch(cpu: Cpu, mm: number, base: number, length: number, pages: number): void {
  sysMmap(cpu, mm, { addr: base, length, prot: PROT_READ | PROT_WRITE });
  for (let i = 0; i < pages; i++) cpu.store(base + i * PAGE_SIZE, i);
}

/**
 * What a round-stepped scenario's programs share: the mm they run and the flag words they signal
 * each other with (which word means what is the scenario's).
 */
export interface FlagParams {
  mm: number;
  flags: Int32Array;
  rounds: number;
}

/** A scenario setup: a fresh mm, 16 zeroed flag words, and the trial's rounds. */
export function flagParams(v: MachineViews, o: RoundsOptions): FlagParams {
  return { mm: mmAlloc(v, CONTROL_CPU), flags: new Int32Array(new SharedArrayBuffer(16 * 4)), rounds: o.rounds };
}

/**
 * Sleeps until `done()`, or the run stops, or `reported` (the forbidden outcome, by default): the
 * CPU that saw it stops its program, so nobody may signal any more.
 */
export function waitFor(cpu: Cpu, done: () => boolean, reported = forbiddenReported): void {
  cpu.idleUntil(() => done() || cpu.shouldStop() || reported(cpu));
}

/** Sets flag word `i` and wakes every CPU to look at it. */
export function setFlag(cpu: Cpu, p: FlagParams, i: number, value: number): void {
  Atomics.store(p.flags, i, value);
  kickAll(cpu.v);
}

/** Adds one to flag word `i` (a count of CPUs done with something) and wakes every CPU. */
export function bumpFlag(cpu: Cpu, p: FlagParams, i: number): void {
  Atomics.add(p.flags, i, 1);
  kickAll(cpu.v);
}

/**
 * Waits until the driver has started `round` in flag word `i` (it stores round + 1, and
 * p.rounds + 1 when it is done); false when the driver is done and there is no round to run.
 */
export function roundStarted(cpu: Cpu, p: FlagParams, i: number, round: number, reported = forbiddenReported): boolean {
  waitFor(cpu, () => Atomics.load(p.flags, i) >= round + 1, reported);
  return Atomics.load(p.flags, i) <= p.rounds;
}

// The flag words of a collapse race's rounds (collapseRounds, gupFastRounds): the round mapped
// (r + 1), collapsed and unmapped (r + 1), CPUs ready, CPUs done with the round
const F_MAPPED = 0;
const F_UNMAPPED = 1;
const F_READY = 2;
const F_DONE = 3;
/** the pages of a collapsible PMD range */
const HPAGE_PAGES = 512;

/**
 * CPU 0 of a collapse race, round after round: maps the 2 MiB at `base` (2 MiB aligned) and
 * faults every page in, waits until every other CPU is ready, collapses the range
 * (collapse_huge_page, as MADV_COLLAPSE runs it) and unmaps it at once, which frees the old table
 * deposited with the new one (zap_deposited_table), then waits until the others are done.
 */
export function collapseRounds(cpu: Cpu, p: FlagParams, base: number): void {
  const others = cpu.v.nrCpus - 1;
  for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
    mapAndTouch(cpu, p.mm, base, HPAGE_PAGES * PAGE_SIZE, HPAGE_PAGES);
    setFlag(cpu, p, F_MAPPED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_READY) >= others * (round + 1));
    collapseHugePage(cpu, p.mm, base);
    sysMunmap(cpu, p.mm, base, HPAGE_PAGES * PAGE_SIZE);
    setFlag(cpu, p, F_UNMAPPED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_DONE) >= others * (round + 1));
  }
  setFlag(cpu, p, F_MAPPED, p.rounds + 1);
}

/**
 * The other CPUs of a collapse race, each round: CPUs 1 to `walkers` pin `pin` random pages of
 * the range at `base` at a time with GUP-fast, and unpin them, until CPU 0 has unmapped it; any
 * others wait for that.
 */
export function gupFastRounds(cpu: Cpu, p: FlagParams, base: number, walkers: number, pin: number): void {
  for (let round = 0; followerGoesOn(cpu); round++) {
    if (!roundStarted(cpu, p, F_MAPPED, round)) return;
    bumpFlag(cpu, p, F_READY);
    if (cpu.id > walkers) waitFor(cpu, () => Atomics.load(p.flags, F_UNMAPPED) >= round + 1);
    while (Atomics.load(p.flags, F_UNMAPPED) < round + 1 && followerGoesOn(cpu)) {
      const first = cpu.random() % (HPAGE_PAGES - pin + 1);
      unpinUserPages(cpu, getUserPagesFast(cpu, p.mm, base + first * PAGE_SIZE, pin, false).pfns);
      cpu.interruptPoint();
    }
    bumpFlag(cpu, p, F_DONE);
  }
}

/**
 * What gives an mm a global ASID under x86TlbFlush=invlpgb, from a CPU running it: one page of its
 * own mapped read-write at `addr`, toggled read-only and back 64 times. Each toggle's flushes IPI
 * the mm's other CPUs (it has no global ASID yet), after which consider_global_asid looks one
 * time in 32 whether four CPUs or more run the mm: 128 looks miss with odds of about 1 in 60.
 * Under any other kernel, 128 flushes and nothing else.
 */
export function toggleForGlobalAsid(cpu: Cpu, mm: number, addr: number): void {
  sysMmap(cpu, mm, { addr, length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
  cpu.store(addr, 1);
  for (let i = 0; i < 64; i++) {
    sysMprotect(cpu, mm, addr, PAGE_SIZE, PROT_READ);
    sysMprotect(cpu, mm, addr, PAGE_SIZE, PROT_READ | PROT_WRITE);
  }
}
