import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { IpiFabric, kickCpu, type IpiCpu } from '../../src/ipi/fabric.ts';
import { IPI_SLEEPING, IPI_WAKE, PERCPU_WORDS } from '../../src/cpu/percpu-layout.ts';

const cpu: IpiCpu = { id: 0, irqsOn: true, csdLockTimeoutMs: 1000, runIpi: () => {}, runLocal: () => {}, checkAbort: () => {} };

describe('the idle loop', () => {
  it('returns the first time its condition holds, so a condition may take a lock', () => {
    const fabric = new IpiFabric(viewsOf(createMachineMemory(1, 16)), 0, [null], [null]);
    // a try-lock that fails once, then succeeds, and from then on fails (the lock is ours)
    let calls = 0;
    fabric.idleUntil(cpu, () => ++calls === 2);
    expect(calls).toBe(2);
  });

  it('a kick leaves a running CPU\'s wake word alone and bumps a sleeping one\'s', () => {
    const v = viewsOf(createMachineMemory(2, 16));
    const wake = PERCPU_WORDS + IPI_WAKE;
    kickCpu(v.percpu, 1);
    expect(v.percpu[wake]).toBe(0);
    v.percpu[PERCPU_WORDS + IPI_SLEEPING] = 1;
    kickCpu(v.percpu, 1);
    expect(v.percpu[wake]).toBe(1);
  });
});
