import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { Ev, PteOp, TlbFlushReason, readEvents, traceEvent } from '../../src/trace/events.ts';
import { toChromeTrace, toFtrace, type ChromeTrace, type ChromeTraceEvent } from '../../src/trace/export.ts';
import { Activity, PERCPU_WORDS, ST_ACTIVITY, ST_IRQS_ON } from '../../src/cpu/percpu-layout.ts';

const NX_PTE = 0x80005067 | 0; // NX, PFN 5, present: negative as an int32

/**
 * A shootdown on two CPUs, interleaved as the rings merge it: seq 0..10, CPU per step below. The
 * CPUs' status words say what cpu.ts keeps in them: IRQs on or off, and the IPI handler's activity.
 */
function shootdownTrace() {
  const v = viewsOf(createMachineMemory(2, 16));
  const irqs = (cpu: number, on: boolean) => (v.percpu[cpu * PERCPU_WORDS + ST_IRQS_ON] = on ? 1 : 0);
  const activity = (cpu: number, a: Activity) => (v.percpu[cpu * PERCPU_WORDS + ST_ACTIVITY] = a);
  irqs(0, true);
  irqs(1, true);
  traceEvent(v, 0, Ev.PteChange, PteOp.GetAndClear, 1, 0x1234, 1, NX_PTE, 0); // 0
  traceEvent(v, 0, Ev.IpiSend, 1, 2); // 1
  traceEvent(v, 0, Ev.CsdWait, 2, 0); // 2
  irqs(1, false);
  traceEvent(v, 1, Ev.IrqOff); // 3
  activity(1, Activity.Irq);
  traceEvent(v, 1, Ev.IpiTake, 0, 2); // 4
  traceEvent(v, 1, Ev.TlbFlush, TlbFlushReason.RemoteShootdown, -1, 1); // 5
  activity(1, Activity.Kernel);
  irqs(1, true);
  traceEvent(v, 1, Ev.IrqOn); // 6
  traceEvent(v, 0, Ev.CsdDone); // 7
  traceEvent(v, 0, Ev.TlbFlush, TlbFlushReason.LocalShootdown, 1, 1); // 8
  traceEvent(v, 1, Ev.TlbFill, 0x1234, 5, 3); // 9
  irqs(0, false);
  traceEvent(v, 0, Ev.IrqOff); // 10, still open at the end
  return readEvents(v, [0, 1]);
}
/** The flags column per seq: IRQs off from CPU 1's irq_disable to its irq_enable, 'h' in its IPI handler. */
const FLAGS_OF_SEQ = ['.....', '.....', '.....', 'd....', 'd.h..', 'd.h..', '.....', '.....', '.....', '.....', 'd....'];
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
    const parsed = events.map((l) => l.match(/^ +cpu(\d+)-(\d+) +\[(\d{3})\] ([d.]\.[h.]\.\.) +(\d+)\.(\d{6}): (\w+):/)!);
    expect(parsed.every((m) => m !== null)).toBe(true);
    expect(parsed.map((m) => Number(m[3]))).toEqual(CPU_OF_SEQ);
    expect(parsed.map((m) => Number(m[1]))).toEqual(CPU_OF_SEQ);
    expect(parsed.map((m) => Number(m[5]) * 1e6 + Number(m[6]))).toEqual(CPU_OF_SEQ.map((_, seq) => seq));
    expect(parsed.map((m) => m[7])).toEqual(NAMES);
  });

  it('prints the IRQ state each event was logged in: d after irq_disable until irq_enable, h in the IPI handler', () => {
    expect(events.map((l) => l.slice(31, 36))).toEqual(FLAGS_OF_SEQ);
    expect(text).toContain("# flags: 'd' IRQs off, 'h' in an IPI handler");
  });

  it('prints tlb_flush in the kernel tracepoint format, -1 pages for a full flush', () => {
    expect(events[5]).toBe('            cpu1-1       [001] d.h..     0.000005: tlb_flush: pages:-1 reason:TLB_REMOTE_SHOOTDOWN (1)');
    expect(events[8]).toMatch(/ tlb_flush: pages:1 reason:TLB_LOCAL_SHOOTDOWN \(2\)$/);
  });

  it('prints PTEs, PFNs and VPNs in hex, cpumasks as the kernel does, codes by name, other arguments in decimal', () => {
    expect(events[0]).toMatch(/ pte_change: op=ptep_get_and_clear mm=1 vpn=0x1234 level=1 old=0x80005067 new=0x0$/);
    expect(events[9]).toMatch(/ tlb_fill: vpn=0x1234 pfn=0x5 flags=V\|W$/);
    expect(events[1]).toMatch(/ ipi_send: target=1 fn=do_flush_tlb_all$/);
    expect(events[2]).toMatch(/ csd_wait: cpumask=2$/);
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
    expect(meta.find((e) => e.name === 'process_name')?.args?.name).toMatch(/^shootdown \(ts is the global trace sequence number, not time/);
    expect(trace.metadata.clock).toMatch(/^ts is the global trace sequence number, not time/);
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
    expect(cpuInstants[5].args).toEqual({ seq: 5, irqs_off: true, hardirq: true, reason: 'TLB_REMOTE_SHOOTDOWN', reason_id: 1, pages: -1, mm: 1 });
    expect(cpuInstants.map((e) => e.args!.irqs_off)).toEqual(FLAGS_OF_SEQ.map((f) => f[0] === 'd'));
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
