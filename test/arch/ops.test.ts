import { describe, expect, it } from 'vitest';
import { Arch } from '../../src/arch/arch.ts';
import { archOpsFor } from '../../src/arch/ops.ts';
import { X86_OPS } from '../../src/arch/x86/ops.ts';
import { flushTlbMmRange as x86FlushTlbMmRange, switchMm as x86SwitchMm } from '../../src/arch/x86/flush.ts';
import { x86FlushPostcondition } from '../../src/arch/x86/flush-postcondition.ts';
import { ARM64_OPS } from '../../src/arch/arm64/ops.ts';
import { flushTlbMmRange as arm64FlushTlbMmRange } from '../../src/arch/arm64/tlbflush.ts';
import { checkAndSwitchContext } from '../../src/arch/arm64/context.ts';
import { arm64FlushPostcondition } from '../../src/arch/arm64/flush-postcondition.ts';

describe('the arch contract', () => {
  it("gives x86 runs x86's own flush, switch and postcondition, not copies of them", () => {
    const ops = archOpsFor(Arch.X86);
    expect(ops).toBe(X86_OPS);
    expect(ops.arch).toBe(Arch.X86);
    expect(ops.flushTlbMmRange).toBe(x86FlushTlbMmRange);
    expect(ops.switchMm).toBe(x86SwitchMm);
    expect(ops.flushPostcondition).toBe(x86FlushPostcondition);
  });

  it("gives arm64 runs arm64's TLBI flush, its ASID allocator's switch and its postcondition", () => {
    const ops = archOpsFor(Arch.Arm64);
    expect(ops).toBe(ARM64_OPS);
    expect(ops.arch).toBe(Arch.Arm64);
    expect(ops.flushTlbMmRange).toBe(arm64FlushTlbMmRange);
    expect(ops.switchMm).toBe(checkAndSwitchContext);
    expect(ops.flushPostcondition).toBe(arm64FlushPostcondition);
    expect(ops.tlbTableFlushImpliesIpiBroadcast(undefined as never)).toBe(false);
  });

  it('keeps a batch of deferred flushes per task: each allocation is a fresh one', () => {
    expect(X86_OPS.archTlbbatchAlloc()).not.toBe(X86_OPS.archTlbbatchAlloc());
  });
});
