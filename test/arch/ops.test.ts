import { describe, expect, it } from 'vitest';
import { Arch } from '../../src/arch/arch.ts';
import { archOpsFor } from '../../src/arch/ops.ts';
import { X86_OPS } from '../../src/arch/x86/ops.ts';
import { flushTlbMmRange as x86FlushTlbMmRange, switchMm as x86SwitchMm } from '../../src/arch/x86/flush.ts';
import { x86FlushPostcondition } from '../../src/arch/x86/flush-postcondition.ts';

describe('the arch contract', () => {
  it("gives x86 runs x86's own flush, switch and postcondition, not copies of them", () => {
    const ops = archOpsFor(Arch.X86);
    expect(ops).toBe(X86_OPS);
    expect(ops.arch).toBe(Arch.X86);
    expect(ops.flushTlbMmRange).toBe(x86FlushTlbMmRange);
    expect(ops.switchMm).toBe(x86SwitchMm);
    expect(ops.flushPostcondition).toBe(x86FlushPostcondition);
  });

  it('refuses arm64 until its arch code exists', () => {
    expect(() => archOpsFor(Arch.Arm64)).toThrow('arm64 arch code is not built yet');
  });

  it('keeps a batch of deferred flushes per task: each allocation is a fresh one', () => {
    expect(X86_OPS.archTlbbatchAlloc()).not.toBe(X86_OPS.archTlbbatchAlloc());
  });
});
