/*
 * The events the rings hold (trace/events.ts): every kind exported with its fields named, the
 * repeats collapsed with their count, and each CPU's own window.
 */
import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { Ev, KPath, LockKind, MAX_PERIOD, PteOp, readEvents, traceEvent } from '../../src/trace/events.ts';
import { cpumaskHex, toChromeTrace, toFtrace, type ChromeTraceEvent } from '../../src/trace/export.ts';
import { FrameKind } from '../../src/machine/phys-layout.ts';
import { FAULT_PROTECTION } from '../../src/machine/walker.ts';
import { ViolationKind } from '../../src/check/oracle.ts';
import { RING_RECORDS } from '../../src/trace/ring-layout.ts';
import { PERCPU_WORDS, ST_IRQS_ON } from '../../src/cpu/percpu-layout.ts';

const machine = (cpus = 2): MachineViews => viewsOf(createMachineMemory(cpus, 16));

/** The ftrace lines of the records, without the header. */
const ftraceLines = (v: MachineViews, cpus: number[]) =>
  toFtrace(readEvents(v, cpus, RING_RECORDS))
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));

const chromeInstants = (v: MachineViews, cpus: number[]) => toChromeTrace(readEvents(v, cpus, RING_RECORDS)).traceEvents.filter((e) => e.ph === 'i');

describe('every event kind, exported with its fields named', () => {
  // [what is logged, the ftrace event and fields, the Chrome instant's name and args]
  const cases: [string, (v: MachineViews) => void, string, string, Record<string, string | number>][] = [
    ['a system call entry', (v) => traceEvent(v, 0, Ev.KernelEnter, KPath.Madvise, 3, 0x4000000, 1, 4), 'sys_enter_madvise', 'mm=3 vpn=0x4000000 pages=1 behavior=4', { mm: 3, vpn: '0x4000000', pages: 1, behavior: 4 }],
    ['a system call return', (v) => traceEvent(v, 0, Ev.KernelExit, KPath.Madvise, -22), 'sys_exit_madvise', 'ret=-22', { ret: -22 }],
    ['a kernel path entry', (v) => traceEvent(v, 0, Ev.KernelEnter, KPath.Writeback, 2, 0), 'writeback_folio_enter', 'file=2 index=0', { file: 2, index: 0 }],
    ['a kernel path return', (v) => traceEvent(v, 0, Ev.KernelExit, KPath.HandleMmFault, 1), 'handle_mm_fault_exit', 'handled=1', { handled: 1 }],
    ['mmap returning its address', (v) => traceEvent(v, 0, Ev.KernelExit, KPath.Mmap, 0x4000000), 'sys_exit_mmap', 'vpn=0x4000000', { vpn: '0x4000000' }],
    ['a PTE change', (v) => traceEvent(v, 0, Ev.PteChange, PteOp.HwSetAccessFlags, 1, 0x42, 1, 0x5027, 0x5067), 'pte_change', 'op=hw_set_accessed_dirty mm=1 vpn=0x42 level=1 old=0x5027 new=0x5067', { op: 'hw_set_accessed_dirty', mm: 1, vpn: '0x42', level: 1, old: '0x5027', new: '0x5067' }],
    ['a frame allocated', (v) => traceEvent(v, 0, Ev.FrameAlloc, 9, FrameKind.Anon, 1, 3), 'frame_alloc', 'pfn=0x9 kind=anon owner=1 gen=3', { pfn: '0x9', kind: 'anon', owner: 1, gen: 3 }],
    ['a frame freed', (v) => traceEvent(v, 0, Ev.FrameFree, 9, FrameKind.PageTable, 4), 'frame_free', 'pfn=0x9 kind=page_table gen=4', { pfn: '0x9', kind: 'page_table', gen: 4 }],
    ['the mmap_lock taken', (v) => traceEvent(v, 0, Ev.LockAcquire, LockKind.MmapLock, 1, 0), 'lock_acquire', 'lock=mmap_lock id=0x1 write=0', { lock: 'mmap_lock', id: '0x1', write: 0 }],
    ['a PTL dropped', (v) => traceEvent(v, 0, Ev.LockRelease, LockKind.Ptl, 0x1f, 1), 'lock_release', 'lock=ptl id=0x1f write=1', { lock: 'ptl', id: '0x1f', write: 1 }],
    ['a tlb_gen bump', (v) => traceEvent(v, 0, Ev.TlbGen, 1, 7), 'tlb_gen', 'mm=1 gen=7', { mm: 1, gen: 7 }],
    ['a page fault', (v) => traceEvent(v, 0, Ev.PageFault, 0x42, FAULT_PROTECTION, 1), 'page_fault', 'vpn=0x42 code=protection write=1', { vpn: '0x42', code: 'protection', write: 1 }],
    ['a violation', (v) => traceEvent(v, 0, Ev.Violation, ViolationKind.LostWrite, 0x42, 1, 2), 'violation', 'kind=lost-write vpn=0x42 a0=1 a1=2', { kind: 'lost-write', vpn: '0x42', a0: 1, a1: 2 }],
  ];

  it.each(cases)('%s', (_what, log, name, fields, args) => {
    const v = machine();
    log(v);
    expect(ftraceLines(v, [0])).toEqual([expect.stringMatching(new RegExp(` ${name}: ${fields.replace(/[|()]/g, '\\$&')}$`))]);
    const [instant] = chromeInstants(v, [0]);
    expect(instant.name).toBe(name);
    expect(instant.args).toMatchObject(args);
    expect(instant.args).not.toHaveProperty('path');
  });

  it('prints a cpumask as the kernel\'s %*pb: 32-bit chunks from the top, as wide as the CPUs', () => {
    expect(cpumaskHex(0b101, 0, 4)).toBe('5');
    expect(cpumaskHex(0b101, 0, 8)).toBe('05');
    expect(cpumaskHex(0x80000001 | 0, 1, 64)).toBe('00000001,80000001');
    expect(cpumaskHex(3, 1, 40)).toBe('01,00000003');
  });

  it("prints a csd wait's cpumask as wide as the machine's CPUs: the option, the metadata's cpus, or the CPUs seen", () => {
    const v = machine();
    traceEvent(v, 0, Ev.CsdWait, 2, 0);
    traceEvent(v, 1, Ev.CsdDone);
    const records = readEvents(v, [0, 1]);
    expect(toFtrace(records)).toMatch(/ csd_wait: cpumask=2\n/);
    expect(toFtrace(records, { metadata: { cpus: 12 } })).toMatch(/ csd_wait: cpumask=002\n/);
    expect(toFtrace(records, { nrCpus: 64 })).toMatch(/ csd_wait: cpumask=00000000,00000002\n/);
  });

  it('makes a complete event of each kernel path from its entry to its return, nested ones inside', () => {
    const v = machine();
    traceEvent(v, 0, Ev.KernelEnter, KPath.Reclaim, 2); // 0
    traceEvent(v, 0, Ev.KernelEnter, KPath.Writeback, 1, 0); // 1
    traceEvent(v, 1, Ev.KernelEnter, KPath.Mprotect, 1, 0x10, 1, 0); // 2, never returns in the window
    traceEvent(v, 0, Ev.KernelExit, KPath.Writeback, 1); // 3
    traceEvent(v, 0, Ev.KernelExit, KPath.Reclaim, 2); // 4
    const spans = toChromeTrace(readEvents(v, [0, 1]))
      .traceEvents.filter((e) => e.ph === 'X' && e.cat === 'kernel')
      .map(({ name, tid, ts, dur, args }: ChromeTraceEvent) => ({ name, tid, ts, dur, args }));
    expect(spans).toEqual([
      { name: 'writeback_folio', tid: 0, ts: 1, dur: 2, args: { unfinished: false, file: 1, index: 0, return_written: 1 } },
      { name: 'reclaim_pages', tid: 0, ts: 0, dur: 4, args: { unfinished: false, nr_targets: 2, return_reclaimed: 2 } },
      { name: 'mprotect', tid: 1, ts: 2, dur: 2, args: { unfinished: true, mm: 1, vpn: '0x10', pages: 1, prot: 0 } },
    ]);
  });
});

describe('collapsed repeats', () => {
  /** One failing fault as a CPU logs it: the exception, handle_mm_fault, the mmap_lock, the return. */
  const failingFault = (v: MachineViews, cpu: number, vpn: number) => {
    traceEvent(v, cpu, Ev.PageFault, vpn, FAULT_PROTECTION, 0);
    traceEvent(v, cpu, Ev.KernelEnter, KPath.HandleMmFault, 1, vpn, 0);
    traceEvent(v, cpu, Ev.LockAcquire, LockKind.MmapLock, 1, 0);
    traceEvent(v, cpu, Ev.LockRelease, LockKind.MmapLock, 1, 0);
    traceEvent(v, cpu, Ev.KernelExit, KPath.HandleMmFault, 0);
  };

  it('keeps a block of events that repeats once, with the count and the stamp of the last repeat', () => {
    const v = machine();
    traceEvent(v, 0, Ev.KernelEnter, KPath.Mprotect, 1, 0x10, 1, 0);
    for (let i = 0; i < 1000; i++) failingFault(v, 0, 0x42);
    failingFault(v, 0, 0x43);
    const records = readEvents(v, [0], RING_RECORDS);
    expect(records.map((r) => r.name)).toEqual([
      'sys_enter_mprotect',
      ...['page_fault', 'handle_mm_fault_enter', 'lock_acquire', 'lock_release', 'handle_mm_fault_exit'],
      ...['page_fault', 'handle_mm_fault_enter', 'lock_acquire', 'lock_release', 'handle_mm_fault_exit'],
    ]);
    // 999 repeats of the first fault's 5 events; the last began at seq 1 + 999 * 5
    expect(records[1].repeats).toEqual({ count: 999, period: 5, lastSeq: 1 + 999 * 5 });
    expect(records.filter((r) => r.repeats !== undefined)).toHaveLength(1);
    // the other fault's address breaks the repeat, and starts after every stamp the repeats took
    expect(records[6]).toMatchObject({ seq: 1 + 1000 * 5, args: { vpn: 0x43 } });

    const text = toFtrace(records);
    expect(text).toMatch(/ page_fault: vpn=0x42 code=protection write=0 \[these 5 events repeated 999 more times, the last from 0\.004996\]\n/);
    const chrome = toChromeTrace(records);
    expect(chrome.traceEvents.find((e) => e.ph === 'i' && e.args?.repeats !== undefined)?.args).toMatchObject({ repeats: 999, repeat_period: 5, last_repeat_seq: 4996 });
    expect(chrome.traceEvents.find((e) => e.cat === 'repeat')).toMatchObject({ name: 'page_fault x1000', ph: 'X', tid: 0, ts: 1, dur: 4995 });
  });

  it('collapses a single repeated event, and not events that differ in an argument or in the IRQ state', () => {
    const v = machine();
    for (let i = 0; i < 10; i++) traceEvent(v, 0, Ev.TlbFill, 0x42, 5, 3);
    traceEvent(v, 0, Ev.TlbFill, 0x42, 6, 3);
    // a fresh machine's CPUs read as IRQs off (ST_IRQS_ON 0): CPU 0 turns them on
    v.percpu[0 * PERCPU_WORDS + ST_IRQS_ON] = 1;
    traceEvent(v, 0, Ev.TlbFill, 0x42, 6, 3);
    const records = readEvents(v, [0], RING_RECORDS);
    expect(records.map((r) => [r.args.pfn, r.repeats?.count ?? 0])).toEqual([
      [5, 9],
      [6, 0],
      [6, 0],
    ]);
  });

  it('never collapses a violation, nor a block longer than MAX_PERIOD', () => {
    const v = machine();
    for (let i = 0; i < 3; i++) traceEvent(v, 0, Ev.Violation, ViolationKind.LostWrite, 0x42, 1, 2);
    for (let i = 0; i < 3; i++) for (let k = 0; k <= MAX_PERIOD; k++) traceEvent(v, 1, Ev.TlbFill, k, 0, 0);
    expect(readEvents(v, [0], RING_RECORDS).map((r) => r.repeats)).toEqual([undefined, undefined, undefined]);
    expect(readEvents(v, [1], RING_RECORDS)).toHaveLength(3 * (MAX_PERIOD + 1));
  });
});

describe("each CPU's window", () => {
  it("keeps every CPU's last records, however many another CPU logged after them", () => {
    const v = machine(3);
    traceEvent(v, 1, Ev.KernelEnter, KPath.Madvise, 1, 0x10, 1, 4);
    traceEvent(v, 2, Ev.KernelEnter, KPath.Writeback, 1, 0);
    // CPU 0 logs more than the window of distinct events
    for (let i = 0; i < 600; i++) traceEvent(v, 0, Ev.TlbFill, i, 0, 0);
    const records = readEvents(v, [0, 1, 2], 256);
    expect(records.filter((r) => r.cpu === 0)).toHaveLength(256);
    expect(records.filter((r) => r.cpu !== 0).map((r) => r.name)).toEqual(['sys_enter_madvise', 'writeback_folio_enter']);
    expect(records.map((r) => r.seq)).toEqual([0, 1, ...Array.from({ length: 256 }, (_, i) => 600 - 256 + 2 + i)]);
  });
});
