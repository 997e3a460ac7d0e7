/*
 * A race's trace tells its story: the lost write of lost-dirty-early-rmap, its interleaving forced
 * (test/fixtures/oracle-workloads.ts dirtyWindow, rmap removed at zap time). CPU 0's MADV_DONTNEED
 * clears the PTE and waits in its flush for CPU 1, which holds IRQs off; CPU 2's writeback finds
 * no mapping and cleans the page; CPU 1 stores through its TLB: the lost write.
 */
import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE } from '../fixtures/oracle-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { readEvents, type TraceRecord } from '../../src/trace/events.ts';
import { toChromeTrace, toFtrace } from '../../src/trace/export.ts';
import { RING_RECORDS } from '../../src/trace/ring-layout.ts';
import { MADV_DONTNEED } from '../../src/kernel/madvise.ts';

const machine = useMachine({ cpus: 3 });
const VPN = BASE / 4096;

describe('the trace of a forced lost write', () => {
  it('shows madvise entry and return, the PTE clear with its values and the writeback on their CPUs around the violation', async () => {
    const m = machine();
    const run = await m.run<unknown, number | null, object>(fixtureUrl('oracle-workloads', 'dirtyWindow'), {}, {
      seed: 5,
      speculationShift: -1,
      kernel: applySwitches(defaultKernelConfig(), ['delayedRmap=off']),
    });
    const [violation] = run.violations;
    expect(violation).toMatchObject({ kind: 'lost-write', cpu: 1, va: BASE });
    const events = readEvents(m.v, [0, 1, 2], RING_RECORDS);
    const at = (pred: (r: TraceRecord) => boolean) => events.find(pred);
    const vSeq = events.find((r) => r.name === 'violation')!.seq;

    const enter = at((r) => r.name === 'sys_enter_madvise' && r.args.vpn === VPN);
    const clear = at((r) => r.name === 'pte_change' && r.args.vpn === VPN && r.args.new === 0 && r.args.old !== 0 && r.cpu === 0);
    const wbEnter = at((r) => r.name === 'writeback_folio_enter');
    const wbExit = at((r) => r.name === 'writeback_folio_exit');
    const exit = at((r) => r.name === 'sys_exit_madvise');
    expect(enter).toMatchObject({ cpu: 0, args: { behavior: MADV_DONTNEED, pages: 1 } });
    expect(clear?.args.level).toBe(1);
    expect(wbEnter?.cpu).toBe(2);
    expect(wbExit).toMatchObject({ cpu: 2, args: { written: 1 } });
    expect(exit).toMatchObject({ cpu: 0, args: { ret: 0 } });
    // the story in order: madvise clears the PTE, writeback cleans the page, CPU 1 stores, madvise returns
    expect(enter!.seq).toBeLessThan(clear!.seq);
    expect(clear!.seq).toBeLessThan(wbEnter!.seq);
    expect(wbExit!.seq).toBeLessThan(vSeq);
    expect(vSeq).toBeLessThan(exit!.seq);
    // CPU 1 stored with IRQs off, after its irq_disable and before its irq_enable
    const cpu1 = events.filter((r) => r.cpu === 1);
    const off = cpu1.filter((r) => r.name === 'irq_disable' && r.seq < vSeq).at(-1)!;
    const on = cpu1.find((r) => r.name === 'irq_enable' && r.seq > vSeq)!;
    // irq_enable itself is logged before IRQs come on, as the kernel's trace_hardirqs_on is; the
    // flush IPI it lets in runs at once, in hardirq context
    expect(cpu1.filter((r) => r.seq >= off.seq && r.seq <= on.seq).every((r) => r.irqsOff && !r.hardirq)).toBe(true);
    expect(cpu1.find((r) => r.seq > on.seq)).toMatchObject({ name: 'ipi_entry', hardirq: true });

    const mark = { seq: vSeq, cpu: 1, kind: violation.kind, message: 'store to a clean page no PTE maps' };
    const text = toFtrace(events, { violation: mark });
    const lines = text.split('\n');
    const markAt = lines.findIndex((l) => l.startsWith('# ^^^ violation: lost-write'));
    const before = lines.slice(0, markAt).join('\n');
    expect(before).toMatch(new RegExp(`cpu0-0 +\\[000\\] [.d]\\.\\.\\.\\. +[\\d.]+: sys_enter_madvise: mm=\\d+ vpn=0x${VPN.toString(16)} pages=1 behavior=4\\n`));
    expect(before).toMatch(new RegExp(`cpu0-0 .*: pte_change: op=ptep_get_and_clear mm=\\d+ vpn=0x${VPN.toString(16)} level=1 old=0x[0-9a-f]+ new=0x0\\n`));
    expect(before).toMatch(/cpu2-2 .*: writeback_folio_exit: written=1\n/);
    expect(lines[markAt - 1]).toMatch(/cpu1-1 +\[001\] d\.\.\.\. .*: violation: kind=lost-write vpn=0x/);
    expect(lines.slice(markAt).join('\n')).toMatch(/cpu0-0 .*: sys_exit_madvise: ret=0\n/);

    const chrome = toChromeTrace(events, { violation: mark });
    const madvise = chrome.traceEvents.find((e) => e.ph === 'X' && e.name === 'madvise');
    expect(madvise).toMatchObject({ tid: 0, args: { unfinished: false, behavior: 4, return_ret: 0 } });
    expect(madvise!.ts!).toBeLessThan(vSeq);
    expect(madvise!.ts! + madvise!.dur!).toBeGreaterThan(vSeq);
    expect(chrome.traceEvents.find((e) => e.ph === 'X' && e.name === 'writeback_folio')).toMatchObject({ tid: 2, args: { return_written: 1 } });
  });
});
