/*
 * The machine's shared memory: one SharedArrayBuffer holding every region, each region on lines
 * of its own and laid out by its own layout module, and the typed-array views every thread makes
 * over them. The buffer crosses to the CPU workers by structured clone (shared, not copied).
 */
import { FRAME_META_WORDS, FrameKind, MAX_FRAMES, META_GEN, META_KIND, PCP_STRIDE, WORDS_PER_FRAME, ZONE_WORDS } from './phys-layout.ts';
import { TLB_WORDS_PER_CPU } from './tlb-layout.ts';
import { GLOBALS_WORDS } from './globals-layout.ts';
import { IB_WORDS } from './tlbi-broadcast.ts';
import { ASIDS_REGION_WORDS } from '../arch/arm64/context-layout.ts';
import { PERCPU_WORDS } from '../cpu/percpu-layout.ts';
import { MAX_MMS, MM_WORDS } from '../kernel/mm-layout.ts';
import { MAX_VMAS, VMA_WORDS } from '../kernel/vma-layout.ts';
import { DISK_WORDS, FILE_PAGES, FILE_WORDS, F_IN_USE, MAX_FILES, diskIndex, fileIndex } from '../kernel/file-layout.ts';
import { COUNTER_STRIDE } from '../trace/counters.ts';
import { RING_WORDS_PER_CPU } from '../trace/ring-layout.ts';
import { WAIT_STRIDE } from '../trace/waits.ts';
import { CSD_WORDS } from '../ipi/csd-layout.ts';
import { VIOLATION_WORDS } from '../check/violation-layout.ts';
import { SCHED_WORDS } from '../schedule/layout.ts';

export { MAX_CPUS } from './memory-limits.ts';

/** The machine's memory: one buffer, the regions in it at lineAlignedLayout's offsets. */
export interface MachineMemory {
  nrCpus: number;
  nrFrames: number;
  buffer: SharedArrayBuffer;
}

export interface MachineViews {
  nrCpus: number;
  nrFrames: number;
  phys: Int32Array;
  frameMeta: Int32Array;
  zone: Int32Array; // the zone line, then the per-CPU page lists
  tlb: Int32Array;
  percpu: Int32Array;
  mm: Int32Array;
  vmas: Int32Array;
  files: Int32Array;
  disk: Int32Array;
  /** the controlled scheduler's words (schedule/layout.ts); clearMachineMemory leaves them */
  sched: Int32Array;
  globals: Int32Array;
  /** broadcast TLB invalidations (INVLPGB, TLBI IS) and how far each CPU applied them (machine/tlbi-broadcast.ts) */
  tlbi: Int32Array;
  /** x86's global ASID allocator (arch/x86/broadcast.ts), then arm64's (arch/arm64/context.ts) */
  asids: Int32Array;
  counters: Float64Array;
  waits: Float64Array;
  csd: Float64Array;
  /** the same bytes as csd, as Int32 words: the CSD pending masks (ipi/csd-layout.ts) */
  csdMask: Int32Array;
  rings: Int32Array;
  violations: Int32Array;
  /**
   * The whole buffer as Int32 words: for the CPU's hot path (cpu/cpu.ts), which reads the TLB,
   * frame metadata, mm words and physical memory through one typed array instead of four. A
   * region starts in it at wordIndexOf(its view).
   */
  words: Int32Array;
}

type Int32Region = 'phys' | 'frameMeta' | 'zone' | 'tlb' | 'percpu' | 'mm' | 'vmas' | 'files' | 'disk' | 'sched' | 'globals' | 'tlbi' | 'asids' | 'rings' | 'violations';
type Float64Region = 'counters' | 'waits' | 'csd';

/** Each region in bytes, in the order they sit in the buffer. */
function regionBytes(nrCpus: number, nrFrames: number): Record<Int32Region | Float64Region, number> {
  return {
    phys: nrFrames * WORDS_PER_FRAME * 4,
    frameMeta: nrFrames * FRAME_META_WORDS * 4,
    zone: (ZONE_WORDS + nrCpus * PCP_STRIDE) * 4,
    tlb: nrCpus * TLB_WORDS_PER_CPU * 4,
    percpu: nrCpus * PERCPU_WORDS * 4,
    mm: MAX_MMS * MM_WORDS * 4,
    vmas: MAX_MMS * MAX_VMAS * VMA_WORDS * 4,
    files: MAX_FILES * FILE_WORDS * 4,
    disk: DISK_WORDS * 4,
    sched: SCHED_WORDS * 4,
    globals: GLOBALS_WORDS * 4,
    tlbi: nrCpus * IB_WORDS * 4,
    asids: ASIDS_REGION_WORDS * 4,
    counters: nrCpus * COUNTER_STRIDE * 8,
    waits: nrCpus * WAIT_STRIDE * 8,
    csd: nrCpus * CSD_WORDS * 8,
    rings: nrCpus * RING_WORDS_PER_CPU * 4,
    violations: VIOLATION_WORDS * 4,
  };
}

const LINE = 64;

/** Where every region starts, each on a cache line of its own, and the bytes of the whole buffer. */
function lineAlignedLayout(bytes: Record<Int32Region | Float64Region, number>): { offsets: Map<string, number>; total: number } {
  const offsets = new Map<string, number>();
  let total = 0;
  for (const [name, n] of Object.entries(bytes)) {
    offsets.set(name, total);
    total += Math.ceil(n / LINE) * LINE;
  }
  return { offsets, total };
}

export function createMachineMemory(nrCpus: number, nrFrames: number): MachineMemory {
  if (nrFrames > MAX_FRAMES) throw new RangeError(`at most ${MAX_FRAMES} frames, got ${nrFrames}`);
  return { nrCpus, nrFrames, buffer: new SharedArrayBuffer(lineAlignedLayout(regionBytes(nrCpus, nrFrames)).total) };
}

/** Where a view over the machine's buffer starts in MachineViews.words. */
export function wordIndexOf(view: Int32Array): number {
  return view.byteOffset / 4;
}

export function viewsOf(mem: MachineMemory): MachineViews {
  const bytes = regionBytes(mem.nrCpus, mem.nrFrames);
  const { offsets } = lineAlignedLayout(bytes);
  const buf = mem.buffer;
  const i32 = (name: Int32Region | 'csd'): Int32Array => new Int32Array(buf, offsets.get(name)!, bytes[name] / 4);
  const f64 = (name: Float64Region): Float64Array => new Float64Array(buf, offsets.get(name)!, bytes[name] / 8);
  return {
    nrCpus: mem.nrCpus,
    nrFrames: mem.nrFrames,
    phys: i32('phys'),
    frameMeta: i32('frameMeta'),
    zone: i32('zone'),
    tlb: i32('tlb'),
    percpu: i32('percpu'),
    mm: i32('mm'),
    vmas: i32('vmas'),
    files: i32('files'),
    disk: i32('disk'),
    sched: i32('sched'),
    globals: i32('globals'),
    tlbi: i32('tlbi'),
    asids: i32('asids'),
    counters: f64('counters'),
    waits: f64('waits'),
    csd: f64('csd'),
    csdMask: i32('csd'),
    rings: i32('rings'),
    violations: i32('violations'),
    words: new Int32Array(buf),
  };
}

/**
 * The machine as it is at power-on, before the boot CPU sets it up: every region zeroed, except
 * that physical memory and the disk are zeroed only where the last run used them, which is all a
 * run can see of them: a frame is handed out zeroed or filled whole (allocFrame), and a file's
 * disk pages are written when it is created. A frame was used if it is allocated or was freed
 * since power-on (its generation moved past the one initFrames gives), a disk page if its file
 * was created. Zeroing all 16 MiB of frames cost 8-15 ms a trial, most of a small scenario's.
 */
export function clearMachineMemory(v: MachineViews): void {
  for (let pfn = 0; pfn < v.nrFrames; pfn++) {
    const m = pfn * FRAME_META_WORDS;
    if (v.frameMeta[m + META_GEN] > 1 || v.frameMeta[m + META_KIND] !== FrameKind.Free) v.phys.fill(0, pfn * WORDS_PER_FRAME, (pfn + 1) * WORDS_PER_FRAME);
  }
  for (let file = 0; file < MAX_FILES; file++) {
    if (v.files[fileIndex(file) + F_IN_USE] !== 0) v.disk.fill(0, diskIndex(file, 0), diskIndex(file, FILE_PAGES - 1) + WORDS_PER_FRAME);
  }
  // every other region but the scheduler's: the frame metadata up to the disk, then the globals to the end
  v.words.fill(0, wordIndexOf(v.frameMeta), wordIndexOf(v.disk));
  v.words.fill(0, wordIndexOf(v.globals));
}
