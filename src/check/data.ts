/*
 * The data oracle: the ground truth behind the early warnings. At the end of a trial, every word
 * a program stored must still be there (in anonymous memory as a load reads it back; for a file,
 * after a final sync, on the disk and in the page cache), unless the program discarded it since
 * (MADV_DONTNEED, MADV_FREE, munmap). No TLB, PTE or flag is consulted: only the values.
 *
 * What is expected of a word. Each CPU's program records, per tracked word, the last value it
 * stored there (dataStore); a discarding syscall's caller forgets the range for every CPU once
 * the call has returned (dataForget). At the end the word must hold one of the values still
 * recorded: the last store to a word in memory order is some CPU's last store to it, since one
 * CPU's stores to one word stay in program order. A word nobody recorded is not judged.
 *
 *   CPU A (dataStore)                 CPU B (madvise, then dataForget)
 *   record v as A's last value
 *   store v                           zap: the page goes, v with it (the store came first)
 *                                     return, forget A's record
 *
 * A records before it stores, so that a record can never appear after a forget that followed the
 * store: a store the discard legitimately wiped is never expected. The other order (store, then
 * a late record after B's forget) would expect a value the zap removed.
 *
 * Why mainline never fails it: a store that completed before the discard returned may be wiped
 * (its record is forgotten), and every store after it lands on the page that the next load, the
 * page cache or writeback finds; mainline loses no store to a page it keeps. A report is a lost
 * write (a store through a stale translation to a frame that was written back, dropped or reused)
 * or a frame reused under a live translation.
 *
 * Layout: one SharedArrayBuffer per tracked range, made by the scenario's setup and handed to the
 * CPUs in its params: for each CPU, `words` values, then `words` flags (1: recorded).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { ViolationKind, reportViolation } from './oracle.ts';
import { diskWord, filemapLookup } from '../kernel/filemap.ts';

/** A tracked range of `pages` pages: what each CPU stored last in each of its words. */
export interface DataShadow {
  readonly pages: number;
  readonly cpus: number;
  /** per CPU: pages * WORDS_PER_FRAME values, then as many recorded flags */
  readonly words: Int32Array;
}

/** A shadow for `pages` pages stored to by up to `cpus` CPUs (control plane, in a setup). */
export function dataShadow(pages: number, cpus: number): DataShadow {
  return { pages, cpus, words: new Int32Array(new SharedArrayBuffer(cpus * pages * WORDS_PER_FRAME * 2 * 4)) };
}

const span = (d: DataShadow): number => d.pages * WORDS_PER_FRAME;

/**
 * A user store of `value` at `va`, word `slot` of the tracked range, recorded as this CPU's last
 * store to that word. Returns what cpu.store returned; a store that faulted leaves the record as
 * it was.
 */
export function dataStore(cpu: Cpu, d: DataShadow, slot: number, va: number, value: number): boolean {
  const at = cpu.id * 2 * span(d) + slot;
  const oldValue = d.words[at];
  const oldFlag = d.words[at + span(d)];
  // record first (see the header): a forget that follows the store also removes this record
  d.words[at] = value;
  Atomics.store(d.words, at + span(d), 1);
  if (cpu.store(va, value)) return true;
  d.words[at] = oldValue;
  Atomics.store(d.words, at + span(d), oldFlag);
  return false;
}

/**
 * `n` recorded stores at random words of the tracked range at `base`, each value unique to the
 * CPU, `round` and the store, so that a value found says who stored it and when.
 */
export function dataStoreBurst(cpu: Cpu, d: DataShadow, base: number, n: number, round: number): void {
  for (let i = 0; i < n; i++) {
    const slot = cpu.random() % span(d);
    dataStore(cpu, d, slot, base + slot * 4, ((cpu.id + 1) << 24) | ((round & 0xffff) << 8) | (i & 0xff));
  }
}

/** After a discarding syscall over pages [first, first + n) of the range returned: no CPU's store there is expected any more. */
export function dataForget(d: DataShadow, first: number, n: number): void {
  for (let c = 0; c < d.cpus; c++) {
    const flags = c * 2 * span(d) + span(d);
    for (let w = first * WORDS_PER_FRAME; w < (first + n) * WORDS_PER_FRAME; w++) Atomics.store(d.words, flags + w, 0);
  }
}

/**
 * Judges word `slot`, found holding `actual` at `va` (by `where`: 0 memory, 1 page cache,
 * 2 disk): reported as lost-data on `cpu` unless some CPU's recorded last store is `actual`.
 * Returns whether it was reported.
 */
function judgeWord(cpu: Cpu, d: DataShadow, slot: number, va: number, actual: number, where: number): boolean {
  let expected = 0;
  let by = -1;
  for (let c = 0; c < d.cpus; c++) {
    const at = c * 2 * span(d) + slot;
    if (Atomics.load(d.words, at + span(d)) === 0) continue;
    if (d.words[at] === actual) return false;
    expected = d.words[at];
    by = c;
  }
  if (by < 0) return false;
  reportViolation(cpu.v, cpu.id, ViolationKind.LostData, Math.floor(va / PAGE_SIZE), actual, expected, by, where);
  return true;
}

/**
 * The end-of-trial check of an anonymous range mapped at `base` in the mm `cpu` runs: every
 * recorded word is read back with a user load. Call it on one CPU once every CPU has stopped
 * storing (after a barrier). Reports the first lost word of each page; returns how many pages lost one.
 */
export function checkAnonData(cpu: Cpu, d: DataShadow, base: number): number {
  let lost = 0;
  for (let page = 0; page < d.pages; page++) {
    for (let w = 0; w < WORDS_PER_FRAME; w++) {
      const va = base + page * PAGE_SIZE + w * 4;
      const actual = cpu.load(va);
      // unmapped: the program's munmap forgot what it stored there
      if (Number.isNaN(actual)) continue;
      if (judgeWord(cpu, d, page * WORDS_PER_FRAME + w, va, actual, 0)) {
        lost++;
        break;
      }
    }
  }
  return lost;
}

/**
 * The end-of-trial check of a shared file mapping at `base` whose page i is page `first` + i of
 * `file`: after the caller's final sync (every dirty page written back), every recorded word must
 * be on the disk and, where the page is still cached, in the page cache. Reports the first lost
 * word of each page; returns how many pages lost one.
 */
export function checkFileData(cpu: Cpu, d: DataShadow, base: number, file: number, first: number): number {
  const v = cpu.v;
  let lost = 0;
  for (let page = 0; page < d.pages; page++) {
    const pfn = filemapLookup(v, file, first + page);
    for (let w = 0; w < WORDS_PER_FRAME; w++) {
      const va = base + page * PAGE_SIZE + w * 4;
      const slot = page * WORDS_PER_FRAME + w;
      const cachedLost = pfn !== 0 && judgeWord(cpu, d, slot, va, v.phys[pfn * WORDS_PER_FRAME + w], 1);
      if (cachedLost || judgeWord(cpu, d, slot, va, diskWord(v, file, first + page, w), 2)) {
        lost++;
        break;
      }
    }
  }
  return lost;
}
