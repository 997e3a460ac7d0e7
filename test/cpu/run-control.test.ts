import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { RunStuckError } from '../../src/machine/machine.ts';
import { kernelPoint } from '../../src/kernel/points.ts';

const machine = useMachine({ cpus: 4 });
const workload = (name: string) => fixtureUrl('run-control-workloads', name);
const quiet = { seed: 3, speculationShift: -1 };

interface PointResult {
  before: number;
  reached: boolean;
  madviseReturn: number;
  zapPteCleared: number;
  mmuGatherBeforeFlush: number;
  ownZaps: number;
}

describe('smpBarrier', () => {
  it('waits only for the CPUs still in the program: two CPUs meet five times while two extra CPUs returned at once', async () => {
    const run = await machine().run<unknown, number | null, object>(workload('barrierTwoOfMany'), { rounds: 5 }, quiet);
    expect(run.results).toEqual([10, 10, null, null]);
  });
});

describe('named kernel points', () => {
  it('a CPU waiting for madvise to return takes the flush IPI that madvise needs from it', async () => {
    // a wait that held IRQs off would stall CPU 0's flush until the CSD-lock watchdog failed the run
    const run = await machine().run<unknown, PointResult | boolean | null, object>(workload('waitOnMadvise'), {}, { ...quiet, csdLockTimeoutMs: 3000 });
    expect(run.results[0]).toBe(true);
    expect(run.results[1]).toEqual({ before: 0, reached: true, madviseReturn: 1, zapPteCleared: 4, mmuGatherBeforeFlush: 1, ownZaps: 0 });
    expect(run.perCpuCounters[1].ipis_received).toBeGreaterThan(0);
  });

  it('a wait for a point nobody passes ends, false, when the run reaches its deadline', async () => {
    const run = await machine().run<unknown, boolean | null, object>(workload('waitForever'), {}, { ...quiet, deadline: performance.now() + 300 });
    expect(run.results[0]).toBe(false);
  });

  it('rejects an unknown point name, listing the names', () => {
    expect(() => kernelPoint('zap:cleared')).toThrow(/unknown kernel point 'zap:cleared'; points: zap:pte-cleared, /);
  });
});

describe('the run watchdog', () => {
  it('ends a deadlock, naming the stuck CPUs and what each waits for, and the machine runs again', async () => {
    const err = await machine().run(workload('deadlock'), {}, { ...quiet, watchdogMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStuckError);
    const stuck = err as RunStuckError;
    expect(stuck.message).toMatch(/^run watchdog: no CPU passed an interrupt point for \d+ ms; stuck: CPU 0, CPU 1\n/);
    expect(stuck.stuck.map((s) => [s.cpu, s.waitingFor])).toEqual([
      [0, 'a condition (a flag, a handshake, a lock)'],
      [1, 'a condition (a flag, a handshake, a lock)'],
    ]);
    expect(stuck.message).toContain('CPU 1: idle, IRQs on, waiting for a condition');

    const again = await machine().run<unknown, number | null, object>(workload('barrierTwoOfMany'), { rounds: 2 }, quiet);
    expect(again.results).toEqual([4, 4, null, null]);
  });

  it('ends a run that goes on past its deadline without stopping, naming the CPU', async () => {
    const err = await machine().run(workload('ignoresStop'), {}, { ...quiet, deadline: performance.now() + 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStuckError);
    expect((err as RunStuckError).message).toMatch(/^run watchdog: the run did not end within 1000 ms of its deadline; stuck: CPU 0\n  CPU 0: user/);
  });
});
