import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { CleanRewriteResult, UnmappedResult, WriterResult } from '../fixtures/reclaim-workloads.ts';

const CPUS = 4;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('reclaim-workloads', name);

describe('writeback (folio_clear_dirty_for_io through folio_mkclean)', () => {
  it('loses no write when the file is written back over and over while three CPUs write it', async () => {
    const pages = 8;
    const run = await machine().run<unknown, WriterResult, object>(workload('writebackWhileWriting'), { pages, rounds: 200 }, { seed: 11 });
    const [flusher, ...writers] = run.results;
    for (const w of writers) expect(w).toEqual({ lost: 0 });
    // the writers waited for two passes halfway, and the first pass found every page dirty
    expect(flusher).toMatchObject({ passes: expect.any(Number), writtenWhileWriting: expect.any(Number) });
    const f = flusher as { passes: number; writtenWhileWriting: number };
    expect(f.passes).toBeGreaterThanOrEqual(2);
    expect(f.writtenWhileWriting).toBeGreaterThanOrEqual(pages);
    // each page faulted once to be mapped, and again to be written after the first pass cleaned it
    const writerFaults = run.perCpuCounters.slice(1).reduce((n, c) => n + c.page_faults, 0);
    expect(writerFaults).toBeGreaterThanOrEqual(2 * pages);
  });

  it('write-protects a cleaned page, so writing it again faults and dirties it again', async () => {
    const run = await machine().run<unknown, CleanRewriteResult | { faultsForRewrite: number } | null, object>(workload('cleanThenRewrite'), {}, { seed: 12 });
    expect(run.results[0]).toEqual({
      wroteFirst: true,
      diskAfterFirst: 0x1111,
      dirtyAfterClean: false,
      pteWritableAfterClean: false,
      pteDirtyAfterClean: false,
      dirtyAfterRewrite: true,
      wroteSecond: true,
      diskAfterSecond: 0x2222,
    });
    // the clean flushed CPU 1's writable entry: its second store faulted (write-notify)
    expect(run.results[1]).toEqual({ faultsForRewrite: 1 });
  });

  it('writes back a dirty page that nothing maps any more', async () => {
    const run = await machine().run<unknown, UnmappedResult | null, object>(workload('writebackUnmapped'), {}, { seed: 13 });
    expect(run.results[0]).toEqual({
      mappedAfterMunmap: false,
      dirtyAfterMunmap: true,
      diskBefore: 0x10000000,
      wrote: true,
      diskAfter: 0x3333,
      wroteAgain: false,
    });
  });
});
