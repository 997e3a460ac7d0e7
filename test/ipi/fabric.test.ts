import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { CpuFailedError } from '../../src/errors.ts';

const machine = useMachine({ cpus: 4 });
const workload = (name: string) => fixtureUrl('flush-workloads', name);
// no speculative walks: these tests look at exact TLB contents
const quiet = { seed: 1, speculationShift: -1 };

describe('IPI fabric', () => {
  it('never takes an IPI while the target has IRQs off, and takes it at the next interrupt point', async () => {
    const run = await machine().run<unknown, { whileOff: number; afterEnable: number } | null, object>(workload('irqOffDefersIpi'), {}, quiet);
    expect(run.results[1]).toEqual({ whileOff: 0, afterEnable: 1 });
    expect(run.counters.ipis_sent).toBe(1);
  });

  it('takes an IPI on the way back from a page fault: a CPU whose loads all fault still answers', async () => {
    const run = await machine().run<unknown, number | null, object>(workload('faultingLoop'), {}, { ...quiet, csdLockTimeoutMs: 2000 });
    expect(run.counters.ipis_received).toBe(1);
    expect(run.results[1]).toBeGreaterThan(0);
  });

  it('lets CPUs that flush each other at once all finish, each taking the others\' IPIs', async () => {
    const flushes = 300;
    const run = await machine().run<unknown, number, object>(workload('crossFlush'), { flushes }, quiet);
    expect(run.results).toEqual([flushes, flushes, flushes, flushes]);
    expect(run.counters.nr_tlb_remote_flush).toBe(4 * flushes);
    expect(run.counters.nr_tlb_remote_flush_received).toBe(4 * flushes * 3);
    expect(run.counters.ipis_received).toBe(run.counters.ipis_sent);
  });

  it('fails the run with the state of both CPUs when a target never enables IRQs, and the machine runs again', async () => {
    const failed = machine().run(workload('irqsNeverEnabled'), {}, { ...quiet, csdLockTimeoutMs: 200 });
    await expect(failed).rejects.toBeInstanceOf(CpuFailedError);
    await expect(failed).rejects.toThrow(/csd_lock_wait: CPU 0 waited more than 200 ms for CPU 1/);
    await expect(failed).rejects.toThrow(/CPU 1: user, IRQs off/);
    const err = (await failed.catch((e: unknown) => e)) as CpuFailedError;
    expect(err.cpu).toBe(0);
    expect(err.report).toMatchObject({ waiter: 0, stuck: [1] });

    const again = await machine().run<unknown, number, object>(workload('crossFlush'), { flushes: 10 }, quiet);
    expect(again.results).toEqual([10, 10, 10, 10]);
  });
});
