/*
 * The data oracle: the ground truth behind the early warnings. At the end of a trial, every word
 * a program stored must still be there (in anonymous memory as a load reads it back; for a file,
 * after a final sync, on the disk and in the page cache), unless the program discarded it since
 * (MADV_DONTNEED, MADV_FREE, munmap). No TLB, PTE or flag is consulted: only the values.
 *
 * What is expected of a word. Each CPU's program records, per tracked word, the last value it
 * stored there and when it recorded it (dataStore: a place in the shadow's own sequence, taken
 * before the store). A discarding syscall's caller, once the call has returned, takes a cut in
 * the same sequence for the pages it discarded (dataForget). At the end, for each word:
 *   certain    records taken after the page's last cut: their stores came after the discard
 *              returned, so none was wiped;
 *   uncertain  records taken before it: the store may have been wiped by the discard, or may
 *              have landed after it (a CPU preempted between its record and its store), even
 *              after a certain store of another CPU.
 * A word with no certain record is not judged (MADV_FREE may leave old data, the discard zeros).
 * Otherwise it must hold a certain or an uncertain record's value: the last store to a word in
 * memory order is some CPU's last store to it, since one CPU's stores to one word stay in program
 * order, and a certain store can only be followed by another record's store.
 *
 *   CPU A (dataStore)                 CPU B (madvise, then dataForget)
 *   record v at 10
 *                                     zap, return; cut at 11: A's v is uncertain
 *   store v                           (lands on the new page, or had landed before the zap)
 *   record w at 12, store w           certain: the word must hold w, or v if it landed later
 *
 * Why mainline never fails it: a store recorded before the discard returned may be wiped (it is
 * uncertain), and every store after it lands on the page that the next load, the page cache or
 * writeback finds; mainline loses no store to a page it keeps. A report is a lost
 * write (a store through a stale translation to a frame that was written back, dropped or reused)
 * or a frame reused under a live translation.
 *
 * Layout: one SharedArrayBuffer per tracked range, made by the scenario's setup and handed to the
 * CPUs in its params: the sequence, each page's last cut, then for each CPU a value per word and
 * the place in the sequence of its record there (0: none).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { ViolationKind, reportViolation } from './oracle.ts';
import { diskWord, filemapLookup } from '../kernel/filemap.ts';

/** A tracked range of `pages` pages: what each CPU stored last in each of its words. */
export interface DataShadow {
  readonly pages: number;
  readonly cpus: number;
  /** the layout in the header */
  readonly words: Int32Array;
}

const SEQ = 0;
const CUTS = 1;

/** A shadow for `pages` pages stored to by up to `cpus` CPUs (control plane, in a setup). */
export function dataShadow(pages: number, cpus: number): DataShadow {
  const words = new Int32Array(new SharedArrayBuffer((CUTS + pages + cpus * pages * WORDS_PER_FRAME * 2) * 4));
  words[SEQ] = 1;
  return { pages, cpus, words };
}

const span = (d: DataShadow): number => d.pages * WORDS_PER_FRAME;
/** where `cpu`'s value for word `slot` is; its record's place in the sequence is span(d) further */
const recordAt = (d: DataShadow, cpu: number, slot: number): number => CUTS + d.pages + cpu * 2 * span(d) + slot;

/**
 * A user store of `value` at `va`, word `slot` of the tracked range, recorded as this CPU's last
 * store to that word. Returns what cpu.store returned; a store that faulted leaves the record as
 * it was.
 */
export function dataStore(cpu: Cpu, d: DataShadow, slot: number, va: number, value: number): boolean {
  const at = recordAt(d, cpu.id, slot);
  const oldValue = d.words[at];
  const oldSeq = d.words[at + span(d)];
  // the record's place is taken before the store: a cut taken after it makes it uncertain
  d.words[at] = value;
  d.words[at + span(d)] = Atomics.add(d.words, SEQ, 1);
  if (cpu.store(va, value)) return true;
  d.words[at] = oldValue;
  d.words[at + span(d)] = oldSeq;
  return false;
}

/**
 * A device's store (DMA, kernel/direct-io.ts) of `value` into word `word` of frame `pfn`, which
 * is word `slot` of the tracked range: recorded as this CPU's last store to that word, as
 * dataStore records a user store, then written to physical memory (no TLB, no PTE, no D bit).
 */
export function dataDeviceStore(cpu: Cpu, d: DataShadow, slot: number, pfn: number, word: number, value: number): void {
  const at = recordAt(d, cpu.id, slot);
  d.words[at] = value;
  d.words[at + span(d)] = Atomics.add(d.words, SEQ, 1);
  cpu.v.phys[pfn * WORDS_PER_FRAME + word] = value;
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

/** After a discarding syscall over pages [first, first + n) of the range returned: the cut for those pages. */
export function dataForget(d: DataShadow, first: number, n: number): void {
  const cut = Atomics.add(d.words, SEQ, 1);
  // a concurrent forget of the same page with a later cut keeps its own
  for (let page = first; page < first + n; page++) {
    for (let old = Atomics.load(d.words, CUTS + page); old < cut; old = Atomics.load(d.words, CUTS + page)) {
      if (Atomics.compareExchange(d.words, CUTS + page, old, cut) === old) break;
    }
  }
}

/**
 * Judges word `slot`, found holding `actual` at `va` (by `where`: 0 memory, 1 page cache,
 * 2 disk), once every CPU has stopped storing: reported as lost-data on `cpu` if the word has a
 * certain record and no record, certain or uncertain, of value `actual`. Returns whether it was
 * reported.
 */
function judgeWord(cpu: Cpu, d: DataShadow, slot: number, va: number, actual: number, where: number): boolean {
  const cut = d.words[CUTS + Math.floor(slot / WORDS_PER_FRAME)];
  let expected = 0;
  let by = -1;
  for (let c = 0; c < d.cpus; c++) {
    const at = recordAt(d, c, slot);
    const seq = d.words[at + span(d)];
    if (seq === 0) continue;
    if (d.words[at] === actual) return false;
    if (seq > cut) {
      expected = d.words[at];
      by = c;
    }
  }
  if (by < 0) return false;
  reportViolation(cpu.v, cpu.id, ViolationKind.LostData, Math.floor(va / PAGE_SIZE), actual, expected, by, where);
  return true;
}

/**
 * The end-of-trial check of an anonymous range mapped at `base` in the mm `cpu` runs: every
 * recorded word is read back with a user load. Call it on one CPU once every CPU has stopped
 * storing (after a barrier). Reports the first lost word of each page; returns how many pages lost one.
 * With `stride`, tracked page i is at `base` + i * `stride` pages (pages spread over a mapping).
 */
export function checkAnonData(cpu: Cpu, d: DataShadow, base: number, stride = 1): number {
  return pagesLosingAWord(d, base, stride, () => (_w, slot, va) => {
    const actual = cpu.load(va);
    // unmapped: the program's munmap forgot what it stored there
    return !Number.isNaN(actual) && judgeWord(cpu, d, slot, va, actual, 0);
  });
}

/**
 * The end-of-trial check of a shared file mapping at `base` whose page i is page `first` + i of
 * `file`: after the caller's final sync (every dirty page written back), every recorded word must
 * be on the disk and, where the page is still cached, in the page cache. Reports the first lost
 * word of each page; returns how many pages lost one.
 */
export function checkFileData(cpu: Cpu, d: DataShadow, base: number, file: number, first: number): number {
  const v = cpu.v;
  return pagesLosingAWord(d, base, 1, (page) => {
    const pfn = filemapLookup(v, file, first + page);
    return (w, slot, va) => {
      const cachedLost = pfn !== 0 && judgeWord(cpu, d, slot, va, v.phys[pfn * WORDS_PER_FRAME + w], 1);
      return cachedLost || judgeWord(cpu, d, slot, va, diskWord(v, file, first + page, w), 2);
    };
  });
}

/**
 * How many pages of the range at `base` (tracked page i at `stride` * i pages from it) have a
 * word judged lost; `judgePage(page)` gives the judge of that page's words. Each page is judged
 * up to its first lost word.
 */
function pagesLosingAWord(d: DataShadow, base: number, stride: number, judgePage: (page: number) => (word: number, slot: number, va: number) => boolean): number {
  let pages = 0;
  for (let page = 0; page < d.pages; page++) {
    const lost = judgePage(page);
    for (let w = 0; w < WORDS_PER_FRAME; w++) {
      if (lost(w, page * WORDS_PER_FRAME + w, base + page * stride * PAGE_SIZE + w * 4)) {
        pages++;
        break;
      }
    }
  }
  return pages;
}
