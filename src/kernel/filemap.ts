/*
 * Files, their page caches and their backing store (mm/filemap.c, much simplified). A file page
 * in the page cache holds one reference for the cache; each mapping takes one more. Writeback
 * copies a cleaned page to the disk; what never reaches the disk is lost when the page goes.
 */
import type { MachineViews } from '../machine/memory.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { allocFrame } from '../machine/frames.ts';
import { FrameKind, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { F_CACHE, F_IN_USE, F_I_MMAP, F_LOCK, F_SIZE, FILE_PAGES, MAX_FILES, diskIndex, fileIndex } from './file-layout.ts';
import { downRead, downWrite, spinLock, spinUnlock, upRead, upWrite } from './locks.ts';
import { folioRefFreeze, getPage, putPage } from './page.ts';

/** Creates a file of `pages` pages on disk whose word w of page i is fill(i, w). Control plane. */
export function createFile(v: MachineViews, pages: number, fill: (index: number, word: number) => number = () => 0): number {
  if (pages < 1 || pages > FILE_PAGES) throw new RangeError(`a file has 1 to ${FILE_PAGES} pages, got ${pages}`);
  for (let file = 0; file < MAX_FILES; file++) {
    const f = fileIndex(file);
    if (Atomics.compareExchange(v.files, f + F_IN_USE, 0, 1) !== 0) continue;
    v.files[f + F_SIZE] = pages;
    v.files.fill(0, f + F_CACHE, f + F_CACHE + FILE_PAGES);
    for (let i = 0; i < pages; i++) {
      const d = diskIndex(file, i);
      for (let w = 0; w < WORDS_PER_FRAME; w++) v.disk[d + w] = fill(i, w);
    }
    return file;
  }
  throw new RangeError(`no free file slot (at most ${MAX_FILES} files)`);
}

/** i_size_read, in pages. */
export function fileSize(v: MachineViews, file: number): number {
  return Atomics.load(v.files, fileIndex(file) + F_SIZE);
}

/** i_size_write (truncate_setsize), in pages, under the i_pages lock: see filemapGetPage. */
export function fileSetSize(cpu: Cpu, file: number, pages: number): void {
  const f = fileIndex(file);
  spinLock(cpu, cpu.v.files, f + F_LOCK);
  Atomics.store(cpu.v.files, f + F_SIZE, pages);
  spinUnlock(cpu, cpu.v.files, f + F_LOCK);
}

/**
 * delete_from_page_cache / filemap_remove_folio for a locked page: takes frame `pfn` out of the
 * cache at page `index` and drops the cache's reference. Returns whether it was there.
 */
export function filemapDeleteFolio(cpu: Cpu, file: number, index: number, pfn: number): boolean {
  const f = fileIndex(file);
  spinLock(cpu, cpu.v.files, f + F_LOCK);
  const cached = cpu.v.files[f + F_CACHE + index] === pfn;
  if (cached) Atomics.store(cpu.v.files, f + F_CACHE + index, 0);
  spinUnlock(cpu, cpu.v.files, f + F_LOCK);
  if (cached) putPage(cpu.v, cpu.id, pfn);
  return cached;
}

/** The frame caching page `index` of `file`, 0 when not cached. */
export function filemapLookup(v: MachineViews, file: number, index: number): number {
  return Atomics.load(v.files, fileIndex(file) + F_CACHE + index);
}

/**
 * filemap_fault's page lookup: the page-cache frame for page `index` of `file`, read from disk
 * when not cached, with a reference for the caller. 0 when memory is out, or when `index` is past
 * i_size: no page is added beyond the size that a truncate set (under this lock, fileSetSize),
 * so truncate_inode_pages, which runs after it, finds every page it must remove.
 */
export function filemapGetPage(cpu: Cpu, file: number, index: number): number {
  const v = cpu.v;
  const f = fileIndex(file);
  spinLock(cpu, v.files, f + F_LOCK);
  let pfn = v.files[f + F_CACHE + index];
  if (pfn === 0 && index < v.files[f + F_SIZE]) {
    pfn = allocFrame(v, cpu.id, FrameKind.File, file, index, false);
    if (pfn !== 0) {
      v.phys.set(v.disk.subarray(diskIndex(file, index), diskIndex(file, index) + WORDS_PER_FRAME), pfn * WORDS_PER_FRAME);
      // the cache's own reference is the one allocFrame gave
      Atomics.store(v.files, f + F_CACHE + index, pfn);
    }
  }
  if (pfn !== 0) getPage(v, pfn);
  spinUnlock(cpu, v.files, f + F_LOCK);
  return pfn;
}

/** filemap_get_folio without FGP_CREAT: the cached frame of page `index` with a reference for the caller, 0 when not cached. */
export function filemapGetFolio(cpu: Cpu, file: number, index: number): number {
  const v = cpu.v;
  const f = fileIndex(file);
  spinLock(cpu, v.files, f + F_LOCK);
  const pfn = v.files[f + F_CACHE + index];
  if (pfn !== 0) getPage(v, pfn);
  spinUnlock(cpu, v.files, f + F_LOCK);
  return pfn;
}

/**
 * The page-cache half of __remove_mapping (mm/vmscan.c): takes frame `pfn` out of the cache at
 * page `index` only if it holds exactly `refs` references, by freezing its count at zero under the
 * cache lock, so that no lookup takes a new reference meanwhile. Returns whether it did; the frame
 * is then the caller's to free.
 */
export function filemapRemove(cpu: Cpu, file: number, index: number, pfn: number, refs: number): boolean {
  const f = fileIndex(file);
  spinLock(cpu, cpu.v.files, f + F_LOCK);
  const frozen = cpu.v.files[f + F_CACHE + index] === pfn && folioRefFreeze(cpu.v, pfn, refs);
  if (frozen) Atomics.store(cpu.v.files, f + F_CACHE + index, 0);
  spinUnlock(cpu, cpu.v.files, f + F_LOCK);
  return frozen;
}

/** Writes a page-cache frame's contents to the disk (the I/O of writeback). */
export function writePageToDisk(v: MachineViews, file: number, index: number, pfn: number): void {
  v.disk.set(v.phys.subarray(pfn * WORDS_PER_FRAME, (pfn + 1) * WORDS_PER_FRAME), diskIndex(file, index));
}

/** Word `word` of page `index` of `file` as the disk has it. */
export function diskWord(v: MachineViews, file: number, index: number, word: number): number {
  return v.disk[diskIndex(file, index) + word];
}

// i_mmap_rwsem: held for reading by rmap walks over the file's mappings, for writing while a
// VMA of the file is unlinked before its page tables are freed
export function iMmapLockRead(cpu: Cpu, file: number): void {
  downRead(cpu, cpu.v.files, fileIndex(file) + F_I_MMAP);
}
export function iMmapUnlockRead(cpu: Cpu, file: number): void {
  upRead(cpu, cpu.v.files, fileIndex(file) + F_I_MMAP);
}
export function iMmapLockWrite(cpu: Cpu, file: number): void {
  downWrite(cpu, cpu.v.files, fileIndex(file) + F_I_MMAP);
}
export function iMmapUnlockWrite(cpu: Cpu, file: number): void {
  upWrite(cpu, cpu.v.files, fileIndex(file) + F_I_MMAP);
}
