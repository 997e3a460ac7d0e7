/*
 * The global trace sequence is one Int32 word: it goes negative after 2^31 stamps and comes back
 * to 0 after 2^32 (trace/events.ts). Merging and exports must keep the order across both.
 */
import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { G_TRACE_SEQ } from '../../src/machine/globals-layout.ts';
import { Ev, readEvents, seqDiff, traceEvent } from '../../src/trace/events.ts';
import { toChromeTrace, toFtrace } from '../../src/trace/export.ts';
import { ViolationKind, readViolations, reportViolation } from '../../src/check/oracle.ts';

/** CPUs 0 and 1 take turns logging `n` events, the sequence starting at `start` (raw int32). */
function alternate(start: number, n: number): MachineViews {
  const v = viewsOf(createMachineMemory(2, 16));
  v.globals[G_TRACE_SEQ] = start;
  for (let i = 0; i < n; i++) traceEvent(v, i % 2, Ev.TlbFill, i, 0, 0);
  return v;
}

const ftraceTimes = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => Number(/ (\d+\.\d{6}): /.exec(l)?.[1]));

describe('the trace sequence across its wrap', () => {
  it('orders stamps by their wrap-aware difference', () => {
    expect(seqDiff(-(2 ** 31), 2 ** 31 - 1)).toBe(1);
    expect(seqDiff(2 ** 31 - 1, -(2 ** 31))).toBe(-1);
    expect(seqDiff(0, -1)).toBe(1);
    expect(seqDiff(5, 3)).toBe(2);
  });

  it.each([
    ['2^31 (the int32 goes negative)', 2 ** 31 - 6],
    ['2^32 (back to 0)', -6],
  ])('merges two rings in logging order across %s, with increasing non-negative stamps', (_name, start) => {
    const v = alternate(start | 0, 12);
    // the sequence really wrapped while they logged
    expect(Math.sign(Atomics.load(v.globals, G_TRACE_SEQ))).not.toBe(Math.sign(start | 0) || 1);
    const events = readEvents(v, [0, 1]);
    expect(events.map((e) => e.args.vpn)).toEqual([...Array(12).keys()]);
    expect(events.map((e) => e.cpu)).toEqual([...Array(12).keys()].map((i) => i % 2));
    const seqs = events.map((e) => e.seq);
    expect(seqs.every((s, i) => s >= 0 && (i === 0 || s === seqs[i - 1] + 1))).toBe(true);
    expect(seqs[0]).toBe((start | 0) >>> 0);
  });

  it('exports across the wrap in order, timestamps never going backwards, the violation marked after its event', () => {
    const v = alternate(2 ** 31 - 4, 6);
    // CPU 1 sees a violation after the wrap; two more events follow it
    reportViolation(v, 1, ViolationKind.LostDirtyBit, 0x42, 1, 2, 3, 4);
    traceEvent(v, 0, Ev.TlbFill, 100, 0, 0);
    traceEvent(v, 1, Ev.TlbFill, 101, 0, 0);
    const [report] = readViolations(v);
    expect(report.seq).toBe(2 ** 31 + 2);
    const records = readEvents(v, [0, 1]);
    const violation = { seq: report.seq, cpu: report.cpu, kind: report.kind, message: 'x' };

    const text = toFtrace(records, { violation });
    const times = ftraceTimes(text);
    expect(times).toHaveLength(9);
    expect(times.every((t, i) => i === 0 || t > times[i - 1])).toBe(true);
    const lines = text.split('\n').filter((l) => !l.startsWith('#   ') && l !== '');
    const mark = lines.findIndex((l) => l.startsWith('# ^^^ violation: lost-dirty-bit'));
    expect(lines[mark - 1]).toContain('violation: kind=lost-dirty-bit');
    expect(lines[mark + 1]).toContain('vpn=0x64');

    // the same with the raw (negative) stamp the violation log holds
    const raw = toFtrace(records, { violation: { ...violation, seq: report.seq | 0 } });
    expect(raw).toBe(text);

    const chrome = toChromeTrace(records, { violation });
    const instants = chrome.traceEvents.filter((e) => e.ph === 'i');
    const ts = instants.map((e) => e.ts ?? -1);
    expect(ts.every((t, i) => t >= 0 && (i === 0 || t >= ts[i - 1]))).toBe(true);
    const at = instants.findIndex((e) => e.name === 'violation: lost-dirty-bit');
    expect(instants[at - 1].name).toBe('violation');
    expect(instants[at + 1].args?.vpn).toBe('0x64');
  });
});
