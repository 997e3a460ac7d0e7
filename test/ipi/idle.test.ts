import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { IpiFabric, type IpiCpu } from '../../src/ipi/fabric.ts';

const cpu: IpiCpu = { id: 0, irqsOn: true, csdLockTimeoutMs: 1000, runIpi: () => {}, runLocal: () => {}, checkAbort: () => {} };

describe('the idle loop', () => {
  it('returns the first time its condition holds, so a condition may take a lock', () => {
    const fabric = new IpiFabric(viewsOf(createMachineMemory(1, 16)), 0, [null], [null]);
    // a try-lock that fails once, then succeeds, and from then on fails (the lock is ours)
    let calls = 0;
    fabric.idleUntil(cpu, () => ++calls === 2);
    expect(calls).toBe(2);
  });
});
