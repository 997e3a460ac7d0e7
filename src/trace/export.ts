/*
 * Exports a merged interleaving of trace records (readEvents in events.ts) for people and tools:
 *
 *   toFtrace(records, opts)       text as /sys/kernel/tracing/trace prints it
 *                                 (kernel/trace/trace_output.c), one line per record;
 *   toChromeTrace(records, opts)  a Chrome trace-event object (JSON-serializable) that Perfetto
 *                                 and chrome://tracing open: one process, one thread per CPU.
 *
 * The invariant: both keep the order of the global trace sequence, and their clock is that
 * sequence, not time. The sequence wraps (trace/events.ts): records and the violation are ordered
 * by wrap-aware difference and printed unwrapped from the first record, so a window that spans a
 * wrap still reads in order, with timestamps that never go backwards. Seq 123 prints as ftrace's
 * `0.000123` and as Chrome's ts 123 (which Perfetto labels microseconds; the trace's metadata and
 * process name say it is the sequence), so the two exports of one report line up event for event;
 * a gap between two timestamps counts the events stamped in between, on any CPU (collapsed repeats
 * included), not elapsed time.
 *
 * tlb_flush prints exactly as the kernel's tracepoint (include/trace/events/tlb.h,
 * "pages:%ld reason:%s (%d)", pages -1 for TLB_FLUSH_ALL), so scripts written for real traces read
 * ours. Other events print `name: key=value ...`, with PTEs, PFNs, VPNs and lock ids in hex,
 * cpumasks in hex as the kernel's %*pb prints them (32-bit chunks, comma-separated, as wide as the
 * CPUs of the trace), and kinds and codes by name: flush reasons, IPI functions, fault codes, PTE
 * operations, locks, frame kinds, violation kinds. System calls print as sys_enter_<name> and
 * sys_exit_<name>, kernel paths as <name>_enter and <name>_exit.
 *
 * The ftrace flags column is the CPU's state at the event as the ring recorded it: 'd' with IRQs
 * off, 'h' in an IPI handler; need-resched, preempt-depth and migrate-disable are not modelled and
 * print '.'. A collapsed repeat (trace/events.ts) prints once, with how often its block of events
 * repeated and when the last repeat began; in Chrome it is also a complete event over the repeats.
 *
 * Options, common to both:
 *   violation  the report the trace leads up to (seq, CPU, kind, message, fields): marked right
 *              after the last record at or before its seq;
 *   metadata   seed, scenario, kernel, ...: in the ftrace header and the Chrome trace's metadata,
 *              so that an exported trace still says how to rerun it.
 */
import { reporter } from '../check/describe.ts';
import { VIOLATION_KIND_NAMES } from '../check/oracle.ts';
import { IPI_FN_NAMES } from '../ipi/protocol.ts';
import { POINT_NAMES } from '../schedule/layout.ts';
import { KERNEL_POINTS } from '../kernel/points.ts';
import { FAULT_NOT_PRESENT, FAULT_PROTECTION } from '../machine/walker.ts';
import { FAULT_ACCESS_FLAG } from '../machine/walker-arm64.ts';
import { Ev, KPATH_FORMATS, LOCK_NAMES, PTE_OP_NAMES, TLB_FLUSH_REASON_NAMES, seqDiff, unwrapSeq, type TraceRecord } from './events.ts';

export interface TraceViolation {
  seq: number;
  /** -1: the control plane (a report made at the end of a trial) */
  cpu: number;
  kind: string;
  message: string;
  /** every detail named (check/describe.ts): one `#` line each after the mark, args in Chrome */
  fields?: Record<string, string | number>;
}

/** seed, scenario, kernel, ... passed through as they are. */
export type TraceMetadata = Record<string, string | number | boolean>;

export interface ExportOptions {
  violation?: TraceViolation;
  metadata?: TraceMetadata;
  /** CPUs of the machine, the width of a printed cpumask; default: metadata.cpus, else the highest CPU in the trace, plus one */
  nrCpus?: number;
}

export interface FtraceOptions extends ExportOptions {
  /** A seq to mark when there is no violation to mark (a violation's seq wins). */
  highlight?: number;
}

export interface ChromeTraceEvent {
  name: string;
  ph: 'M' | 'i' | 'X';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  s?: 'g' | 'p' | 't';
  cat?: string;
  args?: Record<string, string | number | boolean>;
}

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ns';
  metadata: TraceMetadata;
}

/** Arguments that hold PTEs, PFNs, VPNs or lock ids, printed in hex. */
const HEX_ARGS = new Set(['old', 'new', 'pfn', 'vpn', 'pte', 'id']);

/** Entries are 32-bit: NX (bit 31) makes a PTE negative in the ring, so print it unsigned. */
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** __print_symbolic's lookup: an unknown value prints as hex. */
const symbolic = (names: Record<number, string>, value: number): string => names[value] ?? hex(value);

const reasonName = (reason: number): string => symbolic(TLB_FLUSH_REASON_NAMES, reason);

const FAULT_CODE_NAMES: Record<number, string> = { [FAULT_NOT_PRESENT]: 'not_present', [FAULT_PROTECTION]: 'protection', [FAULT_ACCESS_FLAG]: 'access_flag' };
/** enum FrameKind (machine/phys-layout.ts) */
const FRAME_KIND_NAMES = ['free', 'anon', 'file', 'page_table', 'kernel'];
const TLB_FLAG_NAMES = ['V', 'W', 'U', 'D', 'G', 'NX', 'HUGE', 'FILE', 'CONT'];

/** Arguments printed by name, per event type. */
const SYMBOLIC_ARGS: Record<number, Record<string, Record<number, string>>> = {
  [Ev.IpiSend]: { fn: IPI_FN_NAMES },
  [Ev.IpiTake]: { fn: IPI_FN_NAMES },
  [Ev.PageFault]: { code: FAULT_CODE_NAMES },
  [Ev.PteChange]: { op: PTE_OP_NAMES },
  [Ev.FrameAlloc]: { kind: FRAME_KIND_NAMES },
  [Ev.FrameFree]: { kind: FRAME_KIND_NAMES },
  [Ev.LockAcquire]: { lock: LOCK_NAMES },
  [Ev.LockRelease]: { lock: LOCK_NAMES },
  [Ev.Violation]: { kind: VIOLATION_KIND_NAMES },
};

/** TLB entry flags (machine/tlb-layout.ts TLBF_*) as `V|W|U`, or 0. */
function tlbFlagNames(flags: number): string {
  const names = TLB_FLAG_NAMES.filter((_, bit) => (flags & (1 << bit)) !== 0);
  return names.length === 0 ? '0' : names.join('|');
}

/**
 * A cpumask of up to 64 CPUs (two words) as the kernel's %*pb prints one (lib/vsprintf.c:
 * bitmap_string): hex in 32-bit chunks from the top, comma-separated, the top chunk as wide as
 * its bits need, the others 8 digits.
 */
export function cpumaskHex(w0: number, w1: number, nrBits: number): string {
  const chunks = [w0 >>> 0, w1 >>> 0].slice(0, Math.max(1, Math.ceil(nrBits / 32)));
  const topBits = nrBits % 32 === 0 ? 32 : nrBits % 32;
  return chunks
    .map((c, i) => {
      const bits = i === chunks.length - 1 ? topBits : 32;
      const masked = bits === 32 ? c : c & ((1 << bits) - 1);
      return masked.toString(16).padStart(Math.ceil(bits / 4), '0');
    })
    .reverse()
    .join(',');
}

/** The record's arguments as they print: kernel paths without their code (it is in the name). */
function namedArgs(r: TraceRecord, nrCpus: number): [string, string | number][] {
  const out: [string, string | number][] = [];
  const symbols = SYMBOLIC_ARGS[r.type] ?? {};
  for (const [name, value] of Object.entries(r.args)) {
    if (name === 'path' && (r.type === Ev.KernelEnter || r.type === Ev.KernelExit) && KPATH_FORMATS[value] !== undefined) continue;
    if (r.type === Ev.CsdWait && name === 'targets1') continue;
    if (r.type === Ev.CsdWait && name === 'targets0') out.push(['cpumask', cpumaskHex(value, r.args.targets1, nrCpus)]);
    else if (r.type === Ev.TlbFill && name === 'flags') out.push([name, tlbFlagNames(value)]);
    else if (symbols[name] !== undefined) out.push([name, symbolic(symbols[name], value)]);
    else out.push([name, HEX_ARGS.has(name) ? hex(value) : value]);
  }
  return out;
}

/** The width of a cpumask: the option, else the metadata's `cpus` (stress and run-all set it), else the highest CPU seen. */
const nrCpusOf = (records: readonly TraceRecord[], opts: ExportOptions): number => {
  const fromMetadata = opts.metadata?.cpus;
  return opts.nrCpus ?? (typeof fromMetadata === 'number' ? fromMetadata : Math.max(1, ...records.map((r) => r.cpu + 1)));
};

/**
 * The records in sequence order (wrap-aware), their stamps unwrapped from the first one (read as
 * unsigned), so that they increase; copies, the caller's records are left as they are.
 */
function bySeq(records: readonly TraceRecord[]): TraceRecord[] {
  const sorted = [...records].sort((a, b) => seqDiff(a.seq, b.seq));
  if (sorted.length === 0) return sorted;
  const base = sorted[0].seq >>> 0;
  return sorted.map((r) => ({ ...r, seq: unwrapSeq(r.seq, base) }));
}

/** A stamp (raw or unwrapped) in the frame of `sorted` (bySeq's), or as unsigned with no records. */
const inFrame = (sorted: readonly TraceRecord[], seq: number): number => (sorted.length === 0 ? seq >>> 0 : unwrapSeq(seq, sorted[0].seq));

/** Where a mark for `seq` goes: after the last record at or before it. `records` is sorted. */
function markIndex(records: readonly TraceRecord[], seq: number): number {
  const i = records.findIndex((r) => seqDiff(r.seq, seq) > 0);
  return i < 0 ? records.length : i;
}

const cpusOf = (records: readonly TraceRecord[], extra: number[]): number[] =>
  [...new Set([...records.map((r) => r.cpu), ...extra])].sort((a, b) => a - b);

// ---- ftrace text ----

/** irqs-off, need-resched, hardirq, preempt-depth, migrate-disable (trace_output.c:trace_print_lat_fmt) */
const ftraceFlags = (r: TraceRecord): string => `${r.irqsOff ? 'd' : '.'}.${r.hardirq ? 'h' : '.'}..`;

/** seq as ftrace's seconds.microseconds ("%5lu.%06lu"): one event per microsecond. */
function ftraceTimestamp(seq: number): string {
  return `${Math.floor(seq / 1e6)}.${String(seq % 1e6).padStart(6, '0')}`.padStart(12);
}

function ftraceFields(r: TraceRecord, nrCpus: number): string {
  // TP_printk of include/trace/events/tlb.h:tlb_flush
  if (r.type === Ev.TlbFlush) return `pages:${r.args.pages} reason:${reasonName(r.args.reason)} (${r.args.reason})`;
  if (r.type === Ev.SchedSwitch) return `next=${r.args.next} at=${POINT_NAMES[r.args.at] ?? r.args.at}${r.args.window > 0 ? ` (${KERNEL_POINTS[r.args.window - 1]?.name ?? r.args.window - 1})` : ''}`;
  return namedArgs(r, nrCpus)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

/** A collapsed repeat, after the first event of its block. */
function repeatNote(r: TraceRecord): string {
  if (!r.repeats) return '';
  const { count, period, lastSeq } = r.repeats;
  const what = period === 1 ? 'this event' : `these ${period} events`;
  return ` [${what} repeated ${count} more time${count === 1 ? '' : 's'}, the last from ${ftraceTimestamp(lastSeq).trim()}]`;
}

/** One line as trace_output.c prints it: "%16s-%-7d [%03d] flags timestamp: event: fields". */
function ftraceLine(r: TraceRecord, nrCpus: number): string {
  const fields = ftraceFields(r, nrCpus);
  const task = `cpu${r.cpu}`.padStart(16);
  const cpu = String(r.cpu).padStart(3, '0');
  return `${task}-${String(r.cpu).padEnd(7)} [${cpu}] ${ftraceFlags(r)} ${ftraceTimestamp(r.seq)}: ${r.name}:${fields === '' ? '' : ` ${fields}`}${repeatNote(r)}`;
}

/** Kinds of event an interleaving table shows: the kernel steps, not the bookkeeping around them. */
const TABLE_EVENTS = new Set([Ev.KernelEnter, Ev.KernelExit, Ev.PteChange, Ev.TlbFlush, Ev.IpiSend, Ev.IpiTake, Ev.PageFault, Ev.TlbGen, Ev.SwitchMm, Ev.FrameFree, Ev.Violation, Ev.Mark, Ev.SchedSwitch]);

/**
 * The records up to the one stamped `until` (a violation's) as a table of the interleaving, one
 * column per CPU, one row per kernel step in the global order (system call entry and return, PTE
 * change, flush, tlb_gen bump, IPI sent or taken, page fault, frame freed, the violation): what a
 * commit message can show of a race. At most the last `rows` steps before it.
 */
export function toInterleavingTable(records: readonly TraceRecord[], nrCpus: number, until: number, rows = 40): string {
  const upTo = records.filter((r) => seqDiff(r.seq, until) <= 0);
  const sorted = bySeq(upTo).filter((r) => TABLE_EVENTS.has(r.type));
  const shown = sorted.slice(-rows);
  const cpus = cpusOf(shown, []);
  const cell = (r: TraceRecord): string => {
    if (r.type === Ev.SchedSwitch) return `-> CPU ${r.args.next}: ${r.args.window > 0 ? KERNEL_POINTS[r.args.window - 1]?.name : POINT_NAMES[r.args.at]}`;
    const fields = ftraceFields(r, nrCpus);
    return `${r.name}${fields === '' ? '' : ` ${fields}`}${r.repeats ? ` (x${r.repeats.count + 1})` : ''}`;
  };
  const width = Math.min(40, Math.max(12, ...shown.map((r) => cell(r).length)));
  const head = ['step'.padStart(5), ...cpus.map((c) => `CPU ${c}`.padEnd(width))].join('  ');
  const lines = shown.map((r, i) => {
    const cols = cpus.map((c) => (c === r.cpu ? cell(r).slice(0, width) : '').padEnd(width));
    return [String(sorted.length - shown.length + i + 1).padStart(5), ...cols].join('  ').trimEnd();
  });
  return [head.trimEnd(), ...lines].join('\n');
}

/**
 * The records as ftrace text. Task `cpu<N>`, pid N: one emulated task per CPU (the tid of the
 * Chrome trace). A violation (or `highlight`) adds a `# ^^^ violation: ...` line after its event.
 */
export function toFtrace(records: readonly TraceRecord[], opts: FtraceOptions = {}): string {
  const sorted = bySeq(records);
  const { violation, metadata = {}, highlight } = opts;
  const meta = Object.entries(metadata).map(([k, v]) => `${k}=${v}`);
  const lines = [
    '# tracer: nop',
    '#',
    `# entries-in-buffer/entries-written: ${sorted.length}/${sorted.length}   #P:${cpusOf(sorted, []).length}`,
    ...(meta.length > 0 ? [`# shootdown: ${meta.join(' ')}`] : []),
    '# timestamps are global trace sequence numbers, one event per microsecond: seq 123 is 0.000123',
    "# flags: 'd' IRQs off, 'h' in an IPI handler; need-resched, preempt-depth, migrate-disable not modelled",
    '#',
    '#                                _-----=> irqs-off',
    '#                               / _----=> need-resched',
    '#                              | / _---=> hardirq/softirq',
    '#                              || / _--=> preempt-depth',
    '#                              ||| / _-=> migrate-disable',
    '#                              |||| /',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
  ];
  const markSeq = violation?.seq ?? highlight;
  const markAt = markSeq === undefined ? undefined : inFrame(sorted, markSeq);
  const at = markAt === undefined ? -1 : markIndex(sorted, markAt);
  const mark = violation
    ? [`# ^^^ violation: ${violation.kind} on ${reporter(violation.cpu)}: ${violation.message}`, ...Object.entries(violation.fields ?? {}).map(([k, v]) => `#       ${k}: ${v}`)]
    : [`# ^^^ violation: seq ${markAt}`];
  const nrCpus = nrCpusOf(sorted, opts);
  sorted.forEach((r, i) => {
    if (i === at) lines.push(...mark);
    lines.push(ftraceLine(r, nrCpus));
  });
  if (at === sorted.length) lines.push(...mark);
  return lines.join('\n') + '\n';
}

// ---- Chrome trace-event JSON ----

const PID = 1;

/** What ts is, in the process name and the metadata, since Perfetto labels it microseconds. */
const CLOCK = 'ts is the global trace sequence number, not time: one event per microsecond';

const CATEGORIES: Record<number, string> = {
  [Ev.TlbFlush]: 'tlb',
  [Ev.TlbFill]: 'tlb',
  [Ev.IpiSend]: 'ipi',
  [Ev.IpiTake]: 'ipi',
  [Ev.CsdWait]: 'ipi',
  [Ev.CsdDone]: 'ipi',
  [Ev.PteChange]: 'pte',
  [Ev.PageFault]: 'fault',
  [Ev.IrqOff]: 'irq',
  [Ev.IrqOn]: 'irq',
  [Ev.SwitchMm]: 'mm',
  [Ev.TlbGen]: 'mm',
  [Ev.Violation]: 'violation',
  [Ev.KernelEnter]: 'kernel',
  [Ev.KernelExit]: 'kernel',
  [Ev.FrameAlloc]: 'frame',
  [Ev.FrameFree]: 'frame',
  [Ev.LockAcquire]: 'lock',
  [Ev.LockRelease]: 'lock',
};

/** Event pairs that bracket a stretch of one CPU's time, exported as complete ('X') events too. */
const SPANS = [
  { begin: Ev.CsdWait, end: Ev.CsdDone, name: 'csd_wait', cat: 'ipi' },
  { begin: Ev.IrqOff, end: Ev.IrqOn, name: 'irqs_off', cat: 'irq' },
];

function chromeArgs(r: TraceRecord, nrCpus: number): Record<string, string | number | boolean> {
  const args: Record<string, string | number | boolean> = { seq: r.seq, irqs_off: r.irqsOff };
  if (r.hardirq) args.hardirq = true;
  for (const [name, value] of namedArgs(r, nrCpus)) args[name] = value;
  if (r.type === Ev.TlbFlush) {
    args.reason = reasonName(r.args.reason);
    args.reason_id = r.args.reason;
  }
  if (r.repeats) {
    args.repeats = r.repeats.count;
    args.repeat_period = r.repeats.period;
    args.last_repeat_seq = r.repeats.lastSeq;
  }
  return args;
}

/**
 * Complete events for the kernel paths, per CPU, from their entry and return: a return closes
 * the innermost open entry of its path (and whatever opened inside it and never returned, which a
 * window cut short can leave). An entry still open at the window's end lasts to the last record,
 * marked unfinished; a return whose entry is before the window is dropped.
 */
function kernelPathEvents(records: readonly TraceRecord[]): ChromeTraceEvent[] {
  const out: ChromeTraceEvent[] = [];
  const stacks = new Map<number, TraceRecord[]>();
  // the entry's arguments, then the return's (its value under the path's name for it)
  const complete = (begin: TraceRecord, endSeq: number, exit: TraceRecord | undefined) => {
    const path = KPATH_FORMATS[begin.args.path];
    const args = { unfinished: exit === undefined, ...Object.fromEntries(namedArgs(begin, 64)), ...(exit ? Object.fromEntries(namedArgs(exit, 64).map(([k, v]) => [`return_${k}`, v])) : {}) };
    out.push({ name: path?.name ?? `path_${begin.args.path}`, cat: 'kernel', ph: 'X', pid: PID, tid: begin.cpu, ts: begin.seq, dur: endSeq - begin.seq, args });
  };
  for (const r of records) {
    if (r.type !== Ev.KernelEnter && r.type !== Ev.KernelExit) continue;
    const stack = stacks.get(r.cpu) ?? [];
    stacks.set(r.cpu, stack);
    if (r.type === Ev.KernelEnter) stack.push(r);
    else {
      let at = stack.length - 1;
      while (at >= 0 && stack[at].args.path !== r.args.path) at--;
      if (at < 0) continue;
      const [entry, ...unreturned] = stack.splice(at);
      complete(entry, r.seq, r);
      for (const open of unreturned) complete(open, r.seq, undefined);
    }
  }
  const last = records.at(-1)?.seq ?? 0;
  for (const stack of stacks.values()) for (const open of stack) complete(open, last, undefined);
  return out;
}

/** A complete event over each collapsed repeat: from its first record to its last repeat. */
function repeatEvents(records: readonly TraceRecord[]): ChromeTraceEvent[] {
  return records
    .filter((r) => r.repeats !== undefined)
    .map((r): ChromeTraceEvent => {
      const { count, period, lastSeq } = r.repeats!;
      return { name: `${r.name} x${count + 1}`, cat: 'repeat', ph: 'X', pid: PID, tid: r.cpu, ts: r.seq, dur: lastSeq - r.seq, args: { repeats: count, period } };
    });
}

/**
 * Complete events for the SPANS pairs, per CPU. An end whose begin is before the window is
 * dropped; a begin still open at the window's end lasts to the last record, marked unfinished.
 * The emulator logs irq_disable and irq_enable only on a change of state, and a csd wait never
 * straddles one, so the spans of one CPU nest as Perfetto needs.
 */
function spanEvents(records: readonly TraceRecord[]): ChromeTraceEvent[] {
  type Span = (typeof SPANS)[number];
  const out: ChromeTraceEvent[] = [];
  const open = new Map<string, { span: Span; begin: TraceRecord }>(); // by `${cpu}:${span name}`
  const complete = (span: Span, begin: TraceRecord, endSeq: number, unfinished: boolean) =>
    out.push({ name: span.name, cat: span.cat, ph: 'X', pid: PID, tid: begin.cpu, ts: begin.seq, dur: endSeq - begin.seq, args: { unfinished } });
  for (const r of records) {
    for (const span of SPANS) {
      const key = `${r.cpu}:${span.name}`;
      const o = open.get(key);
      if (r.type === span.begin && o === undefined) open.set(key, { span, begin: r });
      if (r.type === span.end && o !== undefined) {
        complete(span, o.begin, r.seq, false);
        open.delete(key);
      }
    }
  }
  const last = records.at(-1)?.seq ?? 0;
  for (const { span, begin } of open.values()) complete(span, begin, last, true);
  return out;
}

/**
 * The records as a Chrome trace: metadata events naming the process "shootdown" and each CPU's
 * thread "CPU n", one instant event per record in seq order (ts = seq, in microseconds), the
 * violation as a global instant event where it was seen, then the csd-wait and IRQs-off spans.
 */
export function toChromeTrace(records: readonly TraceRecord[], opts: ExportOptions = {}): ChromeTrace {
  const sorted = bySeq(records);
  const { violation, metadata = {} } = opts;
  const cpus = cpusOf(sorted, violation ? [violation.cpu] : []);
  const nrCpus = nrCpusOf(sorted, opts);
  const events: ChromeTraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: PID, tid: 0, args: { name: `shootdown (${CLOCK})` } },
    ...cpus.flatMap((cpu): ChromeTraceEvent[] => [
      { name: 'thread_name', ph: 'M', pid: PID, tid: cpu, args: { name: reporter(cpu) } },
      { name: 'thread_sort_index', ph: 'M', pid: PID, tid: cpu, args: { sort_index: cpu } },
    ]),
  ];
  const instants = sorted.map(
    (r): ChromeTraceEvent => ({ name: r.name, cat: CATEGORIES[r.type] ?? 'other', ph: 'i', s: 't', pid: PID, tid: r.cpu, ts: r.seq, args: chromeArgs(r, nrCpus) }),
  );
  if (violation) {
    const { cpu, kind, message, fields } = violation;
    const seq = inFrame(sorted, violation.seq);
    instants.splice(markIndex(sorted, seq), 0, { name: `violation: ${kind}`, cat: 'violation', ph: 'i', s: 'g', pid: PID, tid: cpu, ts: seq, args: { seq, cpu, message, ...fields } });
  }
  return {
    traceEvents: [...events, ...instants, ...spanEvents(sorted), ...kernelPathEvents(sorted), ...repeatEvents(sorted)],
    displayTimeUnit: 'ns',
    metadata: { ...metadata, clock: CLOCK },
  };
}
