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
 * wrap still reads in order, with timestamps that never go backwards. Seq 123 prints as ftrace's `0.000123` and as Chrome's ts 123 (microseconds),
 * so timestamps never go backwards and the two exports of one report line up event for event; a
 * gap between two timestamps counts the events logged in between, on any CPU, not elapsed time.
 *
 * tlb_flush prints exactly as the kernel's tracepoint (include/trace/events/tlb.h,
 * "pages:%ld reason:%s (%d)", pages -1 for TLB_FLUSH_ALL), so scripts written for real traces read
 * ours. Other events print `name: key=value ...`, with PTEs, PFNs and VPNs in hex. The ftrace
 * flags column is the constant `d..1.`: the rings do not record IRQ or preempt state per event.
 *
 * Options, common to both:
 *   violation  the report the trace leads up to (seq, CPU, kind, message, fields): marked right
 *              after the last record at or before its seq;
 *   metadata   seed, scenario, kernel, ...: in the ftrace header and the Chrome trace's metadata,
 *              so that an exported trace still says how to rerun it.
 */
import { reporter } from '../check/describe.ts';
import { Ev, TLB_FLUSH_REASON_NAMES, seqDiff, unwrapSeq, type TraceRecord } from './events.ts';

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

/** Arguments that hold PTEs, PFNs or VPNs, printed in hex. */
const HEX_ARGS = new Set(['old', 'new', 'pfn', 'vpn', 'pte']);

/** Entries are 32-bit: NX (bit 31) makes a PTE negative in the ring, so print it unsigned. */
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

const argValue = (name: string, value: number): string | number => (HEX_ARGS.has(name) ? hex(value) : value);

/** __print_symbolic's lookup: an unknown value prints as hex. */
const reasonName = (reason: number): string => TLB_FLUSH_REASON_NAMES[reason] ?? hex(reason);

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

const FTRACE_FLAGS = 'd..1.';

/** seq as ftrace's seconds.microseconds ("%5lu.%06lu"): one event per microsecond. */
function ftraceTimestamp(seq: number): string {
  return `${Math.floor(seq / 1e6)}.${String(seq % 1e6).padStart(6, '0')}`.padStart(12);
}

function ftraceFields(r: TraceRecord): string {
  // TP_printk of include/trace/events/tlb.h:tlb_flush
  if (r.type === Ev.TlbFlush) return `pages:${r.args.pages} reason:${reasonName(r.args.reason)} (${r.args.reason})`;
  return Object.entries(r.args)
    .map(([name, value]) => `${name}=${argValue(name, value)}`)
    .join(' ');
}

/** One line as trace_output.c prints it: "%16s-%-7d [%03d] flags timestamp: event: fields". */
function ftraceLine(r: TraceRecord): string {
  const fields = ftraceFields(r);
  const task = `cpu${r.cpu}`.padStart(16);
  const cpu = String(r.cpu).padStart(3, '0');
  return `${task}-${String(r.cpu).padEnd(7)} [${cpu}] ${FTRACE_FLAGS} ${ftraceTimestamp(r.seq)}: ${r.name}:${fields === '' ? '' : ` ${fields}`}`;
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
    '#',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
  ];
  const markSeq = violation?.seq ?? highlight;
  const markAt = markSeq === undefined ? undefined : inFrame(sorted, markSeq);
  const at = markAt === undefined ? -1 : markIndex(sorted, markAt);
  const mark = violation
    ? [`# ^^^ violation: ${violation.kind} on ${reporter(violation.cpu)}: ${violation.message}`, ...Object.entries(violation.fields ?? {}).map(([k, v]) => `#       ${k}: ${v}`)]
    : [`# ^^^ violation: seq ${markAt}`];
  sorted.forEach((r, i) => {
    if (i === at) lines.push(...mark);
    lines.push(ftraceLine(r));
  });
  if (at === sorted.length) lines.push(...mark);
  return lines.join('\n') + '\n';
}

// ---- Chrome trace-event JSON ----

const PID = 1;

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
  [Ev.Violation]: 'violation',
};

/** Event pairs that bracket a stretch of one CPU's time, exported as complete ('X') events too. */
const SPANS = [
  { begin: Ev.CsdWait, end: Ev.CsdDone, name: 'csd_wait', cat: 'ipi' },
  { begin: Ev.IrqOff, end: Ev.IrqOn, name: 'irqs_off', cat: 'irq' },
];

function chromeArgs(r: TraceRecord): Record<string, string | number> {
  const args: Record<string, string | number> = { seq: r.seq };
  for (const [name, value] of Object.entries(r.args)) args[name] = argValue(name, value);
  if (r.type === Ev.TlbFlush) {
    args.reason = reasonName(r.args.reason);
    args.reason_id = r.args.reason;
  }
  return args;
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
  const events: ChromeTraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: PID, tid: 0, args: { name: 'shootdown' } },
    ...cpus.flatMap((cpu): ChromeTraceEvent[] => [
      { name: 'thread_name', ph: 'M', pid: PID, tid: cpu, args: { name: reporter(cpu) } },
      { name: 'thread_sort_index', ph: 'M', pid: PID, tid: cpu, args: { sort_index: cpu } },
    ]),
  ];
  const instants = sorted.map(
    (r): ChromeTraceEvent => ({ name: r.name, cat: CATEGORIES[r.type] ?? 'other', ph: 'i', s: 't', pid: PID, tid: r.cpu, ts: r.seq, args: chromeArgs(r) }),
  );
  if (violation) {
    const { cpu, kind, message, fields } = violation;
    const seq = inFrame(sorted, violation.seq);
    instants.splice(markIndex(sorted, seq), 0, { name: `violation: ${kind}`, cat: 'violation', ph: 'i', s: 'g', pid: PID, tid: cpu, ts: seq, args: { seq, cpu, message, ...fields } });
  }
  return {
    traceEvents: [...events, ...instants, ...spanEvents(sorted)],
    displayTimeUnit: 'ns',
    metadata: { ...metadata, clock: 'global trace sequence: ts = seq, one event per microsecond' },
  };
}
