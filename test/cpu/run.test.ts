import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { CpuFailedError } from '../../src/errors.ts';

const machine = useMachine({ cpus: 3 });

describe('a run', () => {
  it('fails with the failing CPU, its error and its last events, and the machine runs again', async () => {
    const err = (await machine()
      .run(fixtureUrl('flush-workloads', 'cpuTwoFails'), {}, { seed: 9 })
      .catch((e: unknown) => e)) as CpuFailedError;
    expect(err).toBeInstanceOf(CpuFailedError);
    expect(err.cpu).toBe(2);
    expect(err.message).toBe('CPU 2: Error: deliberate failure on CPU 2');
    const events = (err.report as { lastEvents: { name: string; cpu: number }[] }).lastEvents;
    expect(events.map((e) => e.name)).toContain('tlb_flush');
    expect(events.every((e) => e.cpu === 2)).toBe(true);

    const again = await machine().run(fixtureUrl('flush-workloads', 'crossFlush'), { flushes: 5 }, { seed: 9 });
    expect(again.results).toEqual([5, 5, 5]);
  });

  it('rejects a module without the named workload', async () => {
    await expect(machine().run(fixtureUrl('flush-workloads', 'noSuchWorkload'), {}, {})).rejects.toThrow(/does not export a workload as 'noSuchWorkload'/);
  });
});
