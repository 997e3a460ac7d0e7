/*
 * The machine's shared memory: one SharedArrayBuffer per region, each laid out by its own layout
 * module, and the typed-array views every thread makes over them. The buffers cross to the CPU
 * workers by structured clone (they are shared, not copied).
 */
import { FRAME_META_WORDS, MAX_FRAMES, PCP_STRIDE, WORDS_PER_FRAME, ZONE_WORDS } from './phys-layout.ts';
import { TLB_WORDS_PER_CPU } from './tlb-layout.ts';
import { GLOBALS_WORDS } from './globals-layout.ts';
import { PERCPU_WORDS } from '../cpu/percpu-layout.ts';
import { MAX_MMS, MM_WORDS } from '../kernel/mm-layout.ts';
import { MAX_VMAS, VMA_WORDS } from '../kernel/vma-layout.ts';
import { DISK_WORDS, FILE_WORDS, MAX_FILES } from '../kernel/file-layout.ts';
import { COUNTER_STRIDE } from '../trace/counters.ts';
import { RING_WORDS_PER_CPU } from '../trace/ring-layout.ts';
import { WAIT_STRIDE } from '../trace/waits.ts';
import { CSD_WORDS } from '../ipi/csd-layout.ts';
import { VIOLATION_WORDS } from '../check/violation-layout.ts';

export const MAX_CPUS = 64;

export interface MachineMemory {
  nrCpus: number;
  nrFrames: number;
  phys: SharedArrayBuffer;
  frameMeta: SharedArrayBuffer;
  zone: SharedArrayBuffer; // the zone line, then the per-CPU page lists
  tlb: SharedArrayBuffer;
  percpu: SharedArrayBuffer;
  mm: SharedArrayBuffer;
  vmas: SharedArrayBuffer;
  files: SharedArrayBuffer;
  disk: SharedArrayBuffer;
  globals: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  waits: SharedArrayBuffer;
  csd: SharedArrayBuffer;
  rings: SharedArrayBuffer;
  violations: SharedArrayBuffer;
}

export interface MachineViews {
  nrCpus: number;
  nrFrames: number;
  phys: Int32Array;
  frameMeta: Int32Array;
  zone: Int32Array;
  tlb: Int32Array;
  percpu: Int32Array;
  mm: Int32Array;
  vmas: Int32Array;
  files: Int32Array;
  disk: Int32Array;
  globals: Int32Array;
  counters: Float64Array;
  waits: Float64Array;
  csd: Float64Array;
  /** the same buffer as csd, as Int32 words: the CSD pending masks (ipi/csd-layout.ts) */
  csdMask: Int32Array;
  rings: Int32Array;
  violations: Int32Array;
}

const i32 = (words: number) => new SharedArrayBuffer(words * 4);

export function createMachineMemory(nrCpus: number, nrFrames: number): MachineMemory {
  if (nrFrames > MAX_FRAMES) throw new RangeError(`at most ${MAX_FRAMES} frames, got ${nrFrames}`);
  return {
    nrCpus,
    nrFrames,
    phys: i32(nrFrames * WORDS_PER_FRAME),
    frameMeta: i32(nrFrames * FRAME_META_WORDS),
    zone: i32(ZONE_WORDS + nrCpus * PCP_STRIDE),
    tlb: i32(nrCpus * TLB_WORDS_PER_CPU),
    percpu: i32(nrCpus * PERCPU_WORDS),
    mm: i32(MAX_MMS * MM_WORDS),
    vmas: i32(MAX_MMS * MAX_VMAS * VMA_WORDS),
    files: i32(MAX_FILES * FILE_WORDS),
    disk: i32(DISK_WORDS),
    globals: i32(GLOBALS_WORDS),
    counters: new SharedArrayBuffer(nrCpus * COUNTER_STRIDE * 8),
    waits: new SharedArrayBuffer(nrCpus * WAIT_STRIDE * 8),
    csd: new SharedArrayBuffer(nrCpus * CSD_WORDS * 8),
    rings: i32(nrCpus * RING_WORDS_PER_CPU),
    violations: i32(VIOLATION_WORDS),
  };
}

export function viewsOf(mem: MachineMemory): MachineViews {
  return {
    nrCpus: mem.nrCpus,
    nrFrames: mem.nrFrames,
    phys: new Int32Array(mem.phys),
    frameMeta: new Int32Array(mem.frameMeta),
    zone: new Int32Array(mem.zone),
    tlb: new Int32Array(mem.tlb),
    percpu: new Int32Array(mem.percpu),
    mm: new Int32Array(mem.mm),
    vmas: new Int32Array(mem.vmas),
    files: new Int32Array(mem.files),
    disk: new Int32Array(mem.disk),
    globals: new Int32Array(mem.globals),
    counters: new Float64Array(mem.counters),
    waits: new Float64Array(mem.waits),
    csd: new Float64Array(mem.csd),
    csdMask: new Int32Array(mem.csd),
    rings: new Int32Array(mem.rings),
    violations: new Int32Array(mem.violations),
  };
}

/** Zeroes every region: the machine as it is at power-on, before the boot CPU sets it up. */
export function clearMachineMemory(v: MachineViews): void {
  for (const a of [v.phys, v.frameMeta, v.zone, v.tlb, v.percpu, v.mm, v.vmas, v.files, v.disk, v.globals, v.rings, v.violations]) a.fill(0);
  v.counters.fill(0);
  v.waits.fill(0);
  v.csd.fill(0);
}
