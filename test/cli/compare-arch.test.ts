/*
 * compare --arch x86,arm64: each architecture's rows say what it does (IPIs on x86; TLBIs by
 * kind, range ops and DSB ISHs on arm64), a table puts the two side by side per operation, the
 * arm64 cost constants are shown as estimates, and x86 alone prints what it always did.
 */
import { describe, expect, it } from 'vitest';
import { compareRow, formatCompare } from '../../src/campaign/compare.ts';
import { noTrials } from '../../src/campaign/trials.ts';
import { defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { Arch } from '../../src/arch/arch.ts';
import { DEFAULT_COST_MODEL, dsbNs } from '../../src/cost/model.ts';
import { hostInfo } from '../../src/campaign/host.ts';
import type { CompareReport } from '../../src/campaign/compare-report.ts';
import type { Counters } from '../../src/trace/counters.ts';

const CPUS = 4;

/** A row of 10 operations on `arch` with these counts. */
function row(arch: 'x86' | 'arm64', counts: Partial<Counters>) {
  const r = { ...noTrials(defaultKernelConfig(), {}, arch === 'x86' ? Arch.X86 : Arch.Arm64), trials: 1 };
  Object.assign(r.counters, { workload_ops: 10 }, counts);
  return compareRow('mainline', '', CPUS, r, DEFAULT_COST_MODEL);
}

const X86 = row('x86', { ipis_sent: 30, nr_tlb_remote_flush: 10, nr_tlb_remote_flush_received: 30, tlb_flushes_ranged: 40, invlpg: 320, tlb_entries_invalidated: 250, page_walks: 260, tlb_fills: 270 });
const ARM64 = row('arm64', { tlbi_va: 5, tlbi_va_leaf: 7, tlbi_range: 9, tlbi_range_pages: 144, tlbi_asid: 2, tlbi_all: 1, dsb_ish: 12, dsb_ish_waits: 3, local_flush_all: 1, ipis_sent: 4, tlb_remove_table_sync_one: 4, tlb_entries_invalidated: 300, page_walks: 310, tlb_fills: 330 });

function report(arches: ('x86' | 'arm64')[]): CompareReport {
  return {
    scenario: 'two-arches', operation: 'trial', columns: [], arches, hardware: {}, kernels: ['mainline'], variants: [''], cpus: [CPUS], seed: 7,
    schedule: 'free', host: hostInfo(), warnings: [], costModel: DEFAULT_COST_MODEL, rows: arches.map((a) => (a === 'x86' ? X86 : ARM64)), interrupted: null,
  };
}

/** The table under `title`: its header line and rows, cells split on runs of spaces. */
function section(text: string, title: string): string[][] {
  const lines = text.split('\n');
  const at = lines.indexOf(title);
  expect(at, `no section "${title}" in:\n${text}`).toBeGreaterThanOrEqual(0);
  const out: string[][] = [];
  for (const line of lines.slice(at + 1)) {
    if (!line.startsWith('  ')) break;
    out.push(line.trim().split(/ {2,}/));
  }
  return out;
}

describe('compare --arch x86,arm64', () => {
  it('gives an arm64 row its TLBIs by kind, range ops, DSBs, refill walks and fills', () => {
    expect(ARM64).toMatchObject({ tlbiVa: 5, tlbiVaLeaf: 7, tlbiRange: 9, tlbiRangePages: 144, tlbiAsid: 2, tlbiAll: 1, tlbis: 24, dsbIsh: 12, dsbIshWaits: 3, localFlushAll: 1, refillWalks: 310, tlbFills: 330, entriesInvalidated: 300 });
    expect(X86).toMatchObject({ tlbis: 0, dsbIsh: 0, ipis: 30 });
  });

  it('prices the arm64 counts with the arm64 constants, the DSB grown by the CPU count', () => {
    const m = DEFAULT_COST_MODEL;
    // 4 sync IPIs, each an IPI without a flush target (nr_tlb_remote_flush_received is 0)
    const ns = 4 * m.ipiSendNs + (12 + 9) * m.tlbiNs + 3 * m.tlbiAsidNs + 12 * dsbNs(m, CPUS) + m.localFlushAllNs;
    expect(ARM64.modelledUsPerOp).toBeCloseTo(ns / 1000 / 10, 9);
    // the initiators' wait: their TLBIs and DSBs, not the local_flush_tlb_all of a context switch
    expect(ARM64.modelledWaitUsPerOp).toBeCloseTo((ns - m.localFlushAllNs) / 1000 / 10, 9);
  });

  it('prints each architecture its own columns, then x86 against arm64 per operation', () => {
    const text = formatCompare(report(['x86', 'arm64']));
    expect(text).toMatch(/^ {2}arm64 cost model \(estimate: no published per-op figure for TLBI IS or DSB ISH\): TLBI va or range op 50 ns, .*DSB ISH 1000 ns x \(1 \+ CPUs\/32\)/m);
    const x86 = section(text, 'x86, results:');
    expect(x86[0]).toContain('INVLPG');
    expect(x86[0]).not.toContain('DSB ISH');
    const [head, arm] = section(text, 'arm64, results:');
    expect(head).not.toContain('INVLPG');
    const cell = (name: string) => arm![head!.indexOf(name)];
    expect([cell('TLBI va'), cell('TLBI vale'), cell('range ops'), cell('range pages'), cell('TLBI asid'), cell('TLBI all'), cell('TLBIs/op'), cell('DSB ISH'), cell('DSB waits'), cell('local flush all'), cell('IPIs'), cell('walks'), cell('fills')])
      .toEqual(['5', '7', '9', '144', '2', '1', '2.40', '12', '3', '1', '4', '310', '330']);
    const [vsHead, vs] = section(text, 'x86 against arm64, per operation:');
    expect(vsHead!.slice(0, 6)).toEqual(['kernel', 'cpus', 'x86 IPIs/op', 'arm64 TLBIs/op', 'arm64 DSBs/op', 'arm64 IPIs/op']);
    expect(vs!.slice(0, 10)).toEqual(['mainline', '4', '3', '2.40', '1.20', '0.40', '25', '30', '26', '31']);
  });

  it('prints x86 alone as it always did: no arm64 model, columns or comparison', () => {
    const text = formatCompare(report(['x86']));
    expect(text).not.toMatch(/arm64|TLBI|DSB/);
    expect(section(text, 'results:')[0]).toEqual(['kernel', 'cpus', 'ops', 'IPIs', 'IPIs/op', 'CPUs/shootdown', 'full', 'ranged', 'INVLPG', 'INVLPGB', 'TLBSYNC', 'PV deferred', 'invalidated', 'walks', 'sync IPIs', 'redundant', 'wait p50', 'wait p99', 'wait/op', 'modelled wait/op', 'modelled CPU time/op', 'violations']);
  });
});
