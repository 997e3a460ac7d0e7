/*
 * Events each CPU logs to its ring (ring-layout.ts), stamped from the global sequence so that the
 * rings merge into one interleaving. Logging is allocation-free: a fixed record of numbers.
 *
 * The sequence (globals-layout.ts G_TRACE_SEQ) is one Int32 word taken with Atomics.add: after
 * 2^31 stamps it goes negative, after 2^32 it is back where it started. Stamps are therefore never
 * compared as numbers but by their wrap-aware difference (seqDiff), which is right for any two
 * stamps less than 2^31 apart; everything compared at once (the rings' last records, a promise and
 * a TLB fill, a violation and its interleaving) is far closer than that. readEvents hands out
 * stamps unwrapped: non-negative, increasing along the merged interleaving, and equal to the raw
 * stamps modulo 2^32 (unwrapSeq), so that exports need not know about the wrap.
 *
 * What the rings hold (DESIGN 3): TLB fills and flushes, IPIs sent and taken, tlb_gen bumps, PTE
 * changes with their old and new values (the page-table primitives and the walker's A/D update
 * log them, machine/pagetable.ts), frames allocated and freed, the mmap_lock and the PTLs taken
 * and dropped, page faults, IRQs off and on, the entry and return of every system call and kernel
 * path (KernelEnter / KernelExit with a KPath), violations, and in a controlled run each hand-over
 * of the CPU's slot (SchedSwitch, schedule/baton.ts). A TLB hit logs nothing.
 *
 * Each record keeps the CPU's IRQ state at the event (ST_IRQS_ON, and in an IPI handler the
 * hardirq context), read from the CPU's own status words, for ftrace's flags column.
 *
 * Repeats are collapsed as they are logged: when the last P records (P up to MAX_PERIOD) repeat
 * the P before them, type, IRQ state and arguments alike, the new ones are dropped and the first
 * record of the kept block counts one more repeat and keeps the dropped block's first stamp. So a
 * CPU that faults on the same page a thousand times (fault, handle_mm_fault, mmap_lock, return)
 * keeps one block with a count, and its ring still reaches back to what it did before. A
 * violation is never collapsed. The stamps of dropped records are gaps in the sequence.
 */
import type { MachineViews } from '../machine/memory.ts';
import { G_TRACE_SEQ } from '../machine/globals-layout.ts';
import { readText } from '../check/user-text.ts';
import { Activity, PERCPU_WORDS, ST_ACTIVITY, ST_IRQS_ON } from '../cpu/percpu-layout.ts';
import {
  REC_A0, REC_ARGS, REC_FLAG_HARDIRQ, REC_FLAG_IRQS_OFF, REC_INFO, REC_LAST_SEQ, REC_PERIOD, REC_REPEATS, REC_SEQ,
  REC_TYPE_MASK, REC_WORDS, RING_BASE, RING_HEAD, RING_RECORDS, RING_WORDS_PER_CPU,
} from './ring-layout.ts';

export const enum Ev {
  TlbFlush = 1, // reason, pages (-1: all), mm
  IpiSend = 2, // target, fn
  IpiTake = 3, // from, fn
  SwitchMm = 4, // prev mm, next mm, flushed
  PteChange = 5, // PteOp, mm, vpn, level, old pte, new pte
  TlbFill = 6, // vpn, pfn, tlb flags
  PageFault = 7, // vpn, fault code, write
  CsdWait = 8, // targets word 0, targets word 1
  CsdDone = 9,
  IrqOff = 10,
  IrqOn = 11,
  Violation = 12, // kind, vpn, detail 0, detail 1
  KernelEnter = 13, // KPath, then the path's own arguments (KPATH_FORMATS)
  KernelExit = 14, // KPath, return value
  FrameAlloc = 15, // pfn, FrameKind, owner, generation
  FrameFree = 16, // pfn, FrameKind it had, its new generation
  LockAcquire = 17, // LockKind, id (mm or PTE table's pfn), write
  LockRelease = 18, // LockKind, id, write
  TlbGen = 19, // mm, the new tlb_gen
  Mark = 20, // the program's cpu.mark: label (check/user-text.ts offset), three numbers
  SchedSwitch = 21, // a controlled run's scheduler handed this CPU's slot on: next CPU, Point, kernel point + 1 at a race window
}

/** Names and argument names, for reports. Index by event type (KernelEnter/Exit: see KPATH_FORMATS). */
export const EVENT_FORMATS: Record<number, { name: string; args: string[] }> = {
  [Ev.TlbFlush]: { name: 'tlb_flush', args: ['reason', 'pages', 'mm'] },
  [Ev.IpiSend]: { name: 'ipi_send', args: ['target', 'fn'] },
  [Ev.IpiTake]: { name: 'ipi_entry', args: ['from', 'fn'] },
  [Ev.SwitchMm]: { name: 'switch_mm', args: ['prev', 'next', 'flushed'] },
  [Ev.PteChange]: { name: 'pte_change', args: ['op', 'mm', 'vpn', 'level', 'old', 'new'] },
  [Ev.TlbFill]: { name: 'tlb_fill', args: ['vpn', 'pfn', 'flags'] },
  [Ev.PageFault]: { name: 'page_fault', args: ['vpn', 'code', 'write'] },
  [Ev.CsdWait]: { name: 'csd_wait', args: ['targets0', 'targets1'] },
  [Ev.CsdDone]: { name: 'csd_done', args: [] },
  [Ev.IrqOff]: { name: 'irq_disable', args: [] },
  [Ev.IrqOn]: { name: 'irq_enable', args: [] },
  [Ev.Violation]: { name: 'violation', args: ['kind', 'vpn', 'a0', 'a1'] },
  [Ev.KernelEnter]: { name: 'kernel_enter', args: ['path'] },
  [Ev.KernelExit]: { name: 'kernel_exit', args: ['path', 'ret'] },
  [Ev.FrameAlloc]: { name: 'frame_alloc', args: ['pfn', 'kind', 'owner', 'gen'] },
  [Ev.FrameFree]: { name: 'frame_free', args: ['pfn', 'kind', 'gen'] },
  [Ev.LockAcquire]: { name: 'lock_acquire', args: ['lock', 'id', 'write'] },
  [Ev.LockRelease]: { name: 'lock_release', args: ['lock', 'id', 'write'] },
  [Ev.TlbGen]: { name: 'tlb_gen', args: ['mm', 'gen'] },
  [Ev.Mark]: { name: 'mark', args: ['label', 'a0', 'a1', 'a2'] },
  [Ev.SchedSwitch]: { name: 'sched_switch', args: ['next', 'at', 'window'] },
};

/** The system calls and kernel paths whose entry and return are logged (Ev.KernelEnter/Exit). */
export const enum KPath {
  Madvise = 1,
  Mmap = 2,
  Munmap = 3,
  Mprotect = 4,
  Reclaim = 5,
  Writeback = 6,
  KhugepagedCollapse = 7,
  NumaScan = 8,
  GupFast = 9,
  HandleMmFault = 10,
  Fork = 11,
  Ftruncate = 12,
  Mremap = 13,
}

/**
 * Per path: its name, whether it is a system call (logged as the kernel's sys_enter_<name> and
 * sys_exit_<name>; kernel paths as <name>_enter and <name>_exit), and its entry arguments.
 */
export const KPATH_FORMATS: Record<number, { name: string; syscall: boolean; args: string[]; ret: string }> = {
  [KPath.Madvise]: { name: 'madvise', syscall: true, args: ['mm', 'vpn', 'pages', 'behavior'], ret: 'ret' },
  [KPath.Mmap]: { name: 'mmap', syscall: true, args: ['mm', 'vpn', 'pages', 'prot'], ret: 'vpn' },
  [KPath.Munmap]: { name: 'munmap', syscall: true, args: ['mm', 'vpn', 'pages'], ret: 'ret' },
  [KPath.Mprotect]: { name: 'mprotect', syscall: true, args: ['mm', 'vpn', 'pages', 'prot'], ret: 'ret' },
  [KPath.Reclaim]: { name: 'reclaim_pages', syscall: false, args: ['nr_targets'], ret: 'reclaimed' },
  [KPath.Writeback]: { name: 'writeback_folio', syscall: false, args: ['file', 'index'], ret: 'written' },
  [KPath.KhugepagedCollapse]: { name: 'collapse_huge_page', syscall: false, args: ['mm', 'vpn'], ret: 'collapsed' },
  [KPath.NumaScan]: { name: 'task_numa_work', syscall: false, args: ['mm'], ret: 'changed' },
  [KPath.GupFast]: { name: 'gup_fast', syscall: false, args: ['mm', 'vpn', 'pages', 'write'], ret: 'pinned' },
  [KPath.HandleMmFault]: { name: 'handle_mm_fault', syscall: false, args: ['mm', 'vpn', 'write'], ret: 'handled' },
  [KPath.Fork]: { name: 'fork', syscall: true, args: ['mm'], ret: 'child_mm' },
  [KPath.Ftruncate]: { name: 'ftruncate', syscall: true, args: ['file', 'pages'], ret: 'ret' },
  [KPath.Mremap]: { name: 'mremap', syscall: true, args: ['mm', 'vpn', 'old_pages', 'new_pages'], ret: 'ret' },
};

/** How a PTE changed (Ev.PteChange): the primitive, or the walker. */
export const enum PteOp {
  SetPte = 1,
  GetAndClear = 2,
  ClearYoung = 3,
  SetWrprotect = 4,
  HwSetAccessFlags = 5,
  Populate = 6,
  ClearTable = 7,
  SetAccessFlags = 8,
}

export const PTE_OP_NAMES = ['', 'set_pte', 'ptep_get_and_clear', 'ptep_test_and_clear_young', 'ptep_set_wrprotect', 'hw_set_accessed_dirty', 'pmd_populate', 'pmd_clear', 'ptep_set_access_flags'];

/** The locks whose operations are logged (Ev.LockAcquire/Release). */
export const enum LockKind {
  MmapLock = 1,
  Ptl = 2,
}

export const LOCK_NAMES = ['', 'mmap_lock', 'ptl'];

/** enum tlb_flush_reason (include/linux/mm_types.h) */
export const enum TlbFlushReason {
  OnTaskSwitch = 0,
  RemoteShootdown = 1,
  LocalShootdown = 2,
  LocalMmShootdown = 3,
  RemoteSendIpi = 4,
}

export const TLB_FLUSH_REASON_NAMES = [
  'TLB_FLUSH_ON_TASK_SWITCH',
  'TLB_REMOTE_SHOOTDOWN',
  'TLB_LOCAL_SHOOTDOWN',
  'TLB_LOCAL_MM_SHOOTDOWN',
  'TLB_REMOTE_SEND_IPI',
];

/** The event kinds that may end a collapsed block, as a bit mask by kind (all below 32). */
const COLLAPSE_ENDS = [Ev.SwitchMm, Ev.PteChange, Ev.TlbFill, Ev.PageFault, Ev.KernelEnter, Ev.KernelExit, Ev.FrameAlloc, Ev.FrameFree, Ev.LockAcquire, Ev.LockRelease, Ev.Mark].reduce((m, t) => m | (1 << t), 0);

/** Most records in a block that collapses into its predecessor. */
export const MAX_PERIOD = 8;

/**
 * a - b for two stamps of the global sequence, taking the wrap into account: < 0 when `a` was
 * taken first. Right for stamps less than 2^31 apart.
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * `seq` (raw, or unwrapped) as the unwrapped stamp nearest to `ref` (an unwrapped stamp): the
 * number that is seq modulo 2^32 and less than 2^31 away from `ref`.
 */
export function unwrapSeq(seq: number, ref: number): number {
  return ref + seqDiff(seq, ref);
}

const slotOf = (base: number, i: number): number => base + RING_BASE + (i & (RING_RECORDS - 1)) * REC_WORDS;

/** The CPU's IRQ state, from its own status words (it is the only writer). */
function irqFlags(v: MachineViews, cpu: number): number {
  const p = cpu * PERCPU_WORDS;
  if (v.percpu[p + ST_ACTIVITY] === Activity.Irq) return REC_FLAG_IRQS_OFF | REC_FLAG_HARDIRQ;
  return v.percpu[p + ST_IRQS_ON] === 0 ? REC_FLAG_IRQS_OFF : 0;
}

/** Same event, IRQ state and arguments. */
function sameRecord(r: Int32Array, a: number, b: number): boolean {
  for (let k = REC_INFO; k < REC_A0 + REC_ARGS; k++) {
    if (k !== REC_REPEATS && k !== REC_PERIOD && k !== REC_LAST_SEQ && r[a + k] !== r[b + k]) return false;
  }
  return true;
}

/**
 * The new head after collapsing the record just written (the `n`th) with its predecessors: when
 * records [n-P, n) repeat [n-2P, n-P) for the smallest such P, the new block is dropped and the
 * old block's first record counts it. Only that first record may already count repeats (of the
 * same period); any other collapsed record in either block stops the match, so counts never mix.
 */
function collapse(r: Int32Array, base: number, n: number): number {
  const last = slotOf(base, n - 1);
  for (let p = 1; p <= MAX_PERIOD && 2 * p <= n; p++) {
    // the cheap test first: the record just written must repeat the one p before it
    const before = slotOf(base, n - 1 - p);
    if (r[last + REC_INFO] !== r[before + REC_INFO] || r[last + REC_A0] !== r[before + REC_A0]) continue;
    let i = 0;
    for (; i < p; i++) {
      const a = slotOf(base, n - p + i);
      const b = slotOf(base, n - 2 * p + i);
      if (!sameRecord(r, a, b) || r[a + REC_REPEATS] !== 0 || (r[a + REC_INFO] & REC_TYPE_MASK) === Ev.Violation) break;
      if (r[b + REC_REPEATS] !== 0 && (i !== 0 || r[b + REC_PERIOD] !== p)) break;
    }
    if (i < p) continue;
    const first = slotOf(base, n - 2 * p);
    r[first + REC_REPEATS]++;
    r[first + REC_PERIOD] = p;
    r[first + REC_LAST_SEQ] = r[slotOf(base, n - p) + REC_SEQ];
    return n - p;
  }
  return n;
}

/** Logs an event on `cpu`'s ring; returns its stamp. Runs on `cpu`'s own thread. */
export function traceEvent(v: MachineViews, cpu: number, type: Ev, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  const r = v.rings;
  const base = cpu * RING_WORDS_PER_CPU;
  const head = r[base + RING_HEAD];
  const rec = slotOf(base, head);
  const seq = Atomics.add(v.globals, G_TRACE_SEQ, 1);
  r[rec + REC_SEQ] = seq;
  r[rec + REC_INFO] = type | irqFlags(v, cpu);
  r[rec + REC_REPEATS] = 0;
  r[rec + REC_PERIOD] = 0;
  r[rec + REC_LAST_SEQ] = seq;
  r[rec + REC_A0] = a0;
  r[rec + REC_A0 + 1] = a1;
  r[rec + REC_A0 + 2] = a2;
  r[rec + REC_A0 + 3] = a3;
  r[rec + REC_A0 + 4] = a4;
  r[rec + REC_A0 + 5] = a5;
  // a block is collapsed when its last record is one a loop repeats (a fault, a fill, a kernel
  // path's return, ...); the shootdown's own events (IPIs, CSD waits, flushes, IRQ toggles,
  // tlb_gen) never end one, so the flush path pays no comparison (bench/ipi-floor)
  const next = (COLLAPSE_ENDS >>> type) & 1 ? collapse(r, base, head + 1) : head + 1;
  // publishes the record to readers of the ring
  Atomics.store(r, base + RING_HEAD, next);
  return seq;
}

/** A CPU as the kernel paths pass it: its machine and its id. */
interface TracingCpu {
  v: MachineViews;
  id: number;
}

/** A VPN of a user address, and the pages a length covers, as the records keep them (31 bits). */
export const traceVpn = (addr: number): number => Math.floor(addr / 4096) | 0;
export const tracePages = (length: number): number => Math.ceil(length / 4096) | 0;

/** Logs the entry of a system call or kernel path, with its arguments (KPATH_FORMATS). */
export function traceKernelEnter(cpu: TracingCpu, path: KPath, a0 = 0, a1 = 0, a2 = 0, a3 = 0): void {
  traceEvent(cpu.v, cpu.id, Ev.KernelEnter, path, a0, a1, a2, a3);
}

/** Logs the return of a system call or kernel path with its return value, and returns that. */
export function traceKernelExit(cpu: TracingCpu, path: KPath, ret: number): number {
  traceEvent(cpu.v, cpu.id, Ev.KernelExit, path, ret);
  return ret;
}

export interface TraceRecord {
  seq: number;
  cpu: number;
  type: number;
  /** the event's name; for a system call or kernel path, the tracepoint's (sys_enter_madvise, ...) */
  name: string;
  /** arguments by name; a kernel path's are its own (KPATH_FORMATS), with `path` its name's code */
  args: Record<string, number>;
  /** IRQs were off on the CPU at the event (ftrace's 'd') */
  irqsOff: boolean;
  /** the event happened in an IPI handler (ftrace's 'h') */
  hardirq: boolean;
  /** a collapsed repeat: the block of `period` records starting here ran `repeats` more times, the last at `lastSeq` */
  repeats?: { count: number; period: number; lastSeq: number };
}

/** The name and argument names of a record of `type` whose first argument is `a0`. */
function formatOf(type: number, a0: number): { name: string; args: string[] } {
  if (type === Ev.KernelEnter || type === Ev.KernelExit) {
    const path = KPATH_FORMATS[a0];
    if (path !== undefined) {
      const enter = type === Ev.KernelEnter;
      const name = path.syscall ? `sys_${enter ? 'enter' : 'exit'}_${path.name}` : `${path.name}_${enter ? 'enter' : 'exit'}`;
      return { name, args: ['path', ...(enter ? path.args : [path.ret])] };
    }
  }
  return EVENT_FORMATS[type] ?? { name: `event_${type}`, args: [] };
}

/** The record at word `rec` of the rings, as a TraceRecord. */
function decodeRecord(r: Int32Array, rec: number, cpu: number): TraceRecord {
  const info = r[rec + REC_INFO];
  const type = info & REC_TYPE_MASK;
  const fmt = formatOf(type, r[rec + REC_A0]);
  const args: Record<string, number> = {};
  fmt.args.forEach((name, k) => {
    if (k < REC_ARGS) args[name] = r[rec + REC_A0 + k];
  });
  const out: TraceRecord = { seq: r[rec + REC_SEQ], cpu, type, name: fmt.name, args, irqsOff: (info & REC_FLAG_IRQS_OFF) !== 0, hardirq: (info & REC_FLAG_HARDIRQ) !== 0 };
  if (r[rec + REC_REPEATS] !== 0) out.repeats = { count: r[rec + REC_REPEATS], period: r[rec + REC_PERIOD], lastSeq: r[rec + REC_LAST_SEQ] };
  return out;
}

/**
 * The last `max` records of each of `cpus` (at most RING_RECORDS), merged by sequence number.
 * Each CPU keeps its own window, as ftrace's per-CPU buffers do: a busy CPU's records reach back
 * less far than a quiet one's, but none pushes another CPU's last steps out.
 */
export function readEvents(v: MachineViews, cpus: number[], max = 64): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const cpu of cpus) {
    const base = cpu * RING_WORDS_PER_CPU;
    const head = Atomics.load(v.rings, base + RING_HEAD);
    for (let i = Math.max(0, head - Math.min(max, RING_RECORDS)); i < head; i++) {
      const rec = decodeRecord(v.rings, slotOf(base, i), cpu);
      // a mark is named by its label: mark:<label>
      if (rec.type === Ev.Mark) rec.name = `mark:${readText(v, rec.args.label)}`;
      out.push(rec);
    }
  }
  if (out.length === 0) return out;
  // stamps of the last records of every ring are close together: order them wrap-aware, then
  // unwrap them from the oldest, which is the raw stamp read as unsigned
  out.sort((a, b) => seqDiff(a.seq, b.seq));
  const base = out[0].seq >>> 0;
  for (const r of out) {
    r.seq = unwrapSeq(r.seq, base);
    if (r.repeats) r.repeats.lastSeq = unwrapSeq(r.repeats.lastSeq, r.seq);
  }
  return out;
}
