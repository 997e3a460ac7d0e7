import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { Ev, TlbFlushReason, readEvents, traceEvent } from '../../src/trace/events.ts';
import { toChromeTrace, toFtrace, type ChromeTrace, type ChromeTraceEvent } from '../../src/trace/export.ts';

const NX_PTE = 0x80005067 | 0; // NX, PFN 5, present: negative as an int32

/** A shootdown on two CPUs, interleaved as the rings merge it: seq 0..10, CPU per step below. */
function shootdownTrace() {
  const v = viewsOf(createMachineMemory(2, 16));
  traceEvent(v, 0, Ev.PteChange, 1, 0x1234, NX_PTE, 0); // 0
  traceEvent(v, 0, Ev.IpiSend, 1, 2); // 1
  traceEvent(v, 0, Ev.CsdWait, 2, 0); // 2
  traceEvent(v, 1, Ev.IrqOff); // 3
  traceEvent(v, 1, Ev.IpiTake, 0, 2); // 4
  traceEvent(v, 1, Ev.TlbFlush, TlbFlushReason.RemoteShootdown, -1, 1); // 5
  traceEvent(v, 1, Ev.IrqOn); // 6
  traceEvent(v, 0, Ev.CsdDone); // 7
  traceEvent(v, 0, Ev.TlbFlush, TlbFlushReason.LocalShootdown, 1, 1); // 8
  traceEvent(v, 1, Ev.TlbFill, 0x1234, 5, 3); // 9
  traceEvent(v, 0, Ev.IrqOff); // 10, still open at the end
  return readEvents(v, [0, 1]);
}
const CPU_OF_SEQ = [0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0];
const NAMES = ['pte_change', 'ipi_send', 'csd_wait', 'irq_disable', 'ipi_entry', 'tlb_flush', 'irq_enable', 'csd_done', 'tlb_flush', 'tlb_fill', 'irq_disable'];

const violation = { seq: 5, cpu: 1, kind: 'use-after-free', message: 'stale entry for va 0x1234000' };

describe('toFtrace', () => {
  const records = shootdownTrace();
  const text = toFtrace(records, { metadata: { seed: 42, scenario: 'munmap-vs-access', kernel: 'v6.8' } });
  const lines = text.trimEnd().split('\n');
  const events = lines.filter((l) => !l.startsWith('#'));

  it('starts with a trace file header that carries the seed', () => {
    expect(lines[0]).toBe('# tracer: nop');
    expect(text).toContain('# entries-in-buffer/entries-written: 11/11   #P:2');
    expect(text).toContain('# shootdown: seed=42 scenario=munmap-vs-access kernel=v6.8');
  });

  it('prints one line per record in seq order across CPUs, with the CPU column of each', () => {
    expect(events).toHaveLength(11);
    const parsed = events.map((l) => l.match(/^ +cpu(\d+)-(\d+) +\[(\d{3})\] d\.\.1\. +(\d+)\.(\d{6}): (\w+):/)!);
    expect(parsed.every((m) => m !== null)).toBe(true);
    expect(parsed.map((m) => Number(m[3]))).toEqual(CPU_OF_SEQ);
    expect(parsed.map((m) => Number(m[1]))).toEqual(CPU_OF_SEQ);
    expect(parsed.map((m) => Number(m[4]) * 1e6 + Number(m[5]))).toEqual(CPU_OF_SEQ.map((_, seq) => seq));
    expect(parsed.map((m) => m[6])).toEqual(NAMES);
  });

  it('prints tlb_flush in the kernel tracepoint format, -1 pages for a full flush', () => {
    expect(events[5]).toBe('            cpu1-1       [001] d..1.     0.000005: tlb_flush: pages:-1 reason:TLB_REMOTE_SHOOTDOWN (1)');
    expect(events[8]).toMatch(/ tlb_flush: pages:1 reason:TLB_LOCAL_SHOOTDOWN \(2\)$/);
  });

  it('prints PTEs, PFNs and VPNs in hex, other arguments in decimal', () => {
    expect(events[0]).toMatch(/ pte_change: mm=1 vpn=0x1234 old=0x80005067 new=0x0$/);
    expect(events[9]).toMatch(/ tlb_fill: vpn=0x1234 pfn=0x5 flags=3$/);
    expect(events[7]).toMatch(/ csd_done:$/);
  });

  it('marks the violating event on the line after it', () => {
    const marked = toFtrace(records, { violation }).trimEnd().split('\n');
    const at = marked.findIndex((l) => l.includes('TLB_REMOTE_SHOOTDOWN'));
    expect(marked[at + 1]).toBe('# ^^^ violation: use-after-free on CPU 1: stale entry for va 0x1234000');
    const highlighted = toFtrace(records, { highlight: 9 }).trimEnd().split('\n');
    expect(highlighted[highlighted.findIndex((l) => l.includes('tlb_fill')) + 1]).toBe('# ^^^ violation: seq 9');
  });

  it("lists the violation's named fields under the mark, and names the control plane's reports", () => {
    const fields = { address: '0x1234000', pfn: '0x5', frameGenerationNow: 3 };
    const marked = toFtrace(records, { violation: { ...violation, cpu: -1, fields } }).trimEnd().split('\n');
    const at = marked.findIndex((l) => l.startsWith('# ^^^'));
    expect(marked.slice(at, at + 5)).toEqual([
      '# ^^^ violation: use-after-free on the control plane: stale entry for va 0x1234000',
      '#       address: 0x1234000',
      '#       pfn: 0x5',
      '#       frameGenerationNow: 3',
      expect.stringContaining(' irq_enable:'),
    ]);
  });
});

describe('toChromeTrace', () => {
  const records = shootdownTrace();
  const trace = JSON.parse(JSON.stringify(toChromeTrace(records, { violation, metadata: { seed: 42, scenario: 'munmap-vs-access' } }))) as ChromeTrace;
  const ofPh = (ph: string) => trace.traceEvents.filter((e) => e.ph === ph);
  const cpuInstants = trace.traceEvents.filter((e) => e.ph === 'i' && e.s === 't');

  it('survives JSON and names the process and one thread per CPU', () => {
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.metadata).toMatchObject({ seed: 42, scenario: 'munmap-vs-access' });
    const meta = ofPh('M');
    expect(meta).toContainEqual({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'shootdown' } });
    for (const cpu of [0, 1]) expect(meta).toContainEqual({ name: 'thread_name', ph: 'M', pid: 1, tid: cpu, args: { name: `CPU ${cpu}` } });
  });

  it('has an instant event per record of both CPUs, in seq order, ts never going back', () => {
    expect(cpuInstants.map((e) => e.tid)).toEqual(CPU_OF_SEQ);
    expect(cpuInstants.map((e) => e.name)).toEqual(NAMES);
    expect(cpuInstants.map((e) => e.args!.seq)).toEqual(CPU_OF_SEQ.map((_, seq) => seq));
    const ts = ofPh('i').map((e) => e.ts!);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(cpuInstants.map((e) => e.cat)).toEqual(['pte', 'ipi', 'ipi', 'irq', 'ipi', 'tlb', 'irq', 'ipi', 'tlb', 'tlb', 'irq']);
  });

  it('resolves the tlb_flush reason name and keeps PTEs in hex', () => {
    expect(cpuInstants[5].args).toEqual({ seq: 5, reason: 'TLB_REMOTE_SHOOTDOWN', reason_id: 1, pages: -1, mm: 1 });
    expect(cpuInstants[0].args).toMatchObject({ vpn: '0x1234', old: '0x80005067', new: '0x0' });
  });

  it('marks the violation as a global instant right after the violating event', () => {
    const instants = ofPh('i');
    const at = instants.findIndex((e) => e.s === 'g');
    expect(instants[at]).toMatchObject({ name: 'violation: use-after-free', ph: 'i', s: 'g', pid: 1, tid: 1, ts: 5 });
    expect(instants[at - 1].args!.seq).toBe(5);
    expect(instants[at + 1].args!.seq).toBe(6);
  });

  it('exports csd waits and IRQs-off stretches as complete events', () => {
    const spans = ofPh('X').map(({ name, tid, ts, dur, args }: ChromeTraceEvent) => ({ name, tid, ts, dur, unfinished: args!.unfinished }));
    expect(spans).toEqual([
      { name: 'irqs_off', tid: 1, ts: 3, dur: 3, unfinished: false },
      { name: 'csd_wait', tid: 0, ts: 2, dur: 5, unfinished: false },
      { name: 'irqs_off', tid: 0, ts: 10, dur: 0, unfinished: true },
    ]);
  });

  it("carries the violation's named fields in the mark's args", () => {
    const trace = toChromeTrace(records, { violation: { ...violation, fields: { pfn: '0x5', frameGenerationNow: 3 } } });
    expect(trace.traceEvents.find((e) => e.s === 'g')?.args).toEqual({ seq: 5, cpu: 1, message: violation.message, pfn: '0x5', frameGenerationNow: 3 });
  });

  it('has no violation marker without a violation', () => {
    expect(toChromeTrace(records).traceEvents.some((e) => e.s === 'g')).toBe(false);
  });
});
