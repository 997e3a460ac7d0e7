import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { KEEP, PAGES, SIGBUS, SIGSEGV, onDisk, type MapperResult, type TruncaterResult } from '../fixtures/truncate-workloads.ts';

const machine = useMachine({ cpus: 4 });

describe('ftruncate (truncate_pagecache)', () => {
  it('zaps every mapping past the new size in every mm, drops those pages, keeps the rest; loads there are SIGBUS', async () => {
    const run = await machine().run<unknown, MapperResult | TruncaterResult | null, object>(fixtureUrl('truncate-workloads', 'truncateMapped'), {}, { seed: 5 });
    const mappers = run.results.slice(0, 3) as MapperResult[];
    const truncater = run.results[3] as TruncaterResult;
    expect(truncater).toMatchObject({ ret: 0, size: KEEP, cachedPast: 0, ptesPast: 0, grow: 0 });
    const past = PAGES - KEEP;
    for (const [c, r] of mappers.entries()) {
      // the pages below the size keep their data, CPU 0's store included
      expect(r.kept).toEqual(Array.from({ length: KEEP }, (_, i) => onDisk(i, 1)));
      expect(r.stored).toBe(0xaaaa);
      expect(r.loadSignals).toEqual(new Array(past).fill(SIGBUS));
      expect(r.storeSignals).toEqual(new Array(past).fill(SIGBUS));
      expect(r.unmappedSignal, `CPU ${c}`).toBe(SIGSEGV);
      // grown again, the truncated pages read as zeros: the old data and CPU 0's store went with them
      expect(r.afterGrow).toEqual(new Array(past).fill(0));
    }
    // the first truncate flushed the TLBs of the CPUs running either mm (they had every page cached)
    expect(run.counters.nr_tlb_remote_flush).toBeGreaterThan(0);
  });
});
