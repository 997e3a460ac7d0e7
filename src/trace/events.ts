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
 */
import type { MachineViews } from '../machine/memory.ts';
import { G_TRACE_SEQ } from '../machine/globals-layout.ts';
import { readText } from '../check/user-text.ts';
import { REC_A0, REC_ARGS, REC_SEQ, REC_TYPE, REC_WORDS, RING_BASE, RING_HEAD, RING_RECORDS, RING_WORDS_PER_CPU } from './ring-layout.ts';

export const enum Ev {
  TlbFlush = 1, // reason, pages (-1: all), mm
  IpiSend = 2, // target, fn
  IpiTake = 3, // from, fn
  SwitchMm = 4, // prev mm, next mm, flushed
  PteChange = 5, // mm, vpn, old pte, new pte
  TlbFill = 6, // vpn, pfn, tlb flags
  PageFault = 7, // vpn, fault code, write
  CsdWait = 8, // targets word 0, targets word 1
  CsdDone = 9,
  IrqOff = 10,
  IrqOn = 11,
  Violation = 12, // kind, vpn, detail 0, detail 1
  Mark = 13, // the program's cpu.mark: label (check/user-text.ts offset), three numbers
}

/** Names and argument names, for reports. Index by event type. */
export const EVENT_FORMATS: Record<number, { name: string; args: string[] }> = {
  [Ev.TlbFlush]: { name: 'tlb_flush', args: ['reason', 'pages', 'mm'] },
  [Ev.IpiSend]: { name: 'ipi_send', args: ['target', 'fn'] },
  [Ev.IpiTake]: { name: 'ipi_entry', args: ['from', 'fn'] },
  [Ev.SwitchMm]: { name: 'switch_mm', args: ['prev', 'next', 'flushed'] },
  [Ev.PteChange]: { name: 'pte_change', args: ['mm', 'vpn', 'old', 'new'] },
  [Ev.TlbFill]: { name: 'tlb_fill', args: ['vpn', 'pfn', 'flags'] },
  [Ev.PageFault]: { name: 'page_fault', args: ['vpn', 'code', 'write'] },
  [Ev.CsdWait]: { name: 'csd_wait', args: ['targets0', 'targets1'] },
  [Ev.CsdDone]: { name: 'csd_done', args: [] },
  [Ev.IrqOff]: { name: 'irq_disable', args: [] },
  [Ev.IrqOn]: { name: 'irq_enable', args: [] },
  [Ev.Violation]: { name: 'violation', args: ['kind', 'vpn', 'a0', 'a1'] },
  [Ev.Mark]: { name: 'mark', args: ['label', 'a0', 'a1', 'a2'] },
};

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

export function traceEvent(v: MachineViews, cpu: number, type: Ev, a0 = 0, a1 = 0, a2 = 0, a3 = 0): void {
  const r = v.rings;
  const base = cpu * RING_WORDS_PER_CPU;
  const head = r[base + RING_HEAD];
  const rec = base + RING_BASE + (head & (RING_RECORDS - 1)) * REC_WORDS;
  r[rec + REC_SEQ] = Atomics.add(v.globals, G_TRACE_SEQ, 1);
  r[rec + REC_TYPE] = type;
  r[rec + REC_A0] = a0;
  r[rec + REC_A0 + 1] = a1;
  r[rec + REC_A0 + 2] = a2;
  r[rec + REC_A0 + 3] = a3;
  // publishes the record to readers of the ring
  Atomics.store(r, base + RING_HEAD, head + 1);
}

export interface TraceRecord {
  seq: number;
  cpu: number;
  type: number;
  name: string;
  args: Record<string, number>;
}

/** The last `max` records of each of `cpus`, merged by sequence number. */
export function readEvents(v: MachineViews, cpus: number[], max = 64): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const cpu of cpus) {
    const base = cpu * RING_WORDS_PER_CPU;
    const head = Atomics.load(v.rings, base + RING_HEAD);
    for (let i = Math.max(0, head - Math.min(max, RING_RECORDS)); i < head; i++) {
      const rec = base + RING_BASE + (i & (RING_RECORDS - 1)) * REC_WORDS;
      const type = v.rings[rec + REC_TYPE];
      const fmt = EVENT_FORMATS[type] ?? { name: `event_${type}`, args: [] };
      const args: Record<string, number> = {};
      fmt.args.forEach((name, k) => {
        if (k < REC_ARGS) args[name] = v.rings[rec + REC_A0 + k];
      });
      // a mark is named by its label: mark:<label>
      const name = type === Ev.Mark ? `mark:${readText(v, args.label)}` : fmt.name;
      out.push({ seq: v.rings[rec + REC_SEQ], cpu, type, name, args });
    }
  }
  if (out.length === 0) return out;
  // stamps of the last records of every ring are close together: order them wrap-aware, then
  // unwrap them from the oldest, which is the raw stamp read as unsigned
  out.sort((a, b) => seqDiff(a.seq, b.seq));
  const base = out[0].seq >>> 0;
  for (const r of out) r.seq = unwrapSeq(r.seq, base);
  return out.slice(-max);
}
