/*
 * Layout of files: their page caches (struct address_space: index -> frame) and their backing
 * store, the "disk", where writeback puts what it cleaned. A store that never reaches the disk is
 * a lost write.
 */
import { WORDS_PER_FRAME } from '../machine/phys-layout.ts';

export const MAX_FILES = 8;
export const FILE_PAGES = 128; // most pages a file may have

export const F_IN_USE = 0;
export const F_SIZE = 1; // pages
export const F_LOCK = 16; // the i_pages lock, own line
export const F_I_MMAP = 18; // i_mmap_rwsem: file rmap walks read, VMA unlinking writes (2 words)
export const F_I_RWSEM = 20; // inode->i_rwsem: ftruncate holds it for writing (2 words)
export const F_CACHE = 32; // FILE_PAGES words: index -> PFN, 0 when not cached
export const FILE_WORDS = F_CACHE + FILE_PAGES;

export const fileIndex = (file: number): number => file * FILE_WORDS;
/** Word index of the first word of page `index` of `file` on disk. */
export const diskIndex = (file: number, index: number): number => (file * FILE_PAGES + index) * WORDS_PER_FRAME;
export const DISK_WORDS = MAX_FILES * FILE_PAGES * WORDS_PER_FRAME;
