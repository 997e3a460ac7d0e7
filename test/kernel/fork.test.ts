import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { CowResult, OrphanResult, PrivateFileResult, RmapResult } from '../fixtures/fork-workloads.ts';
import { MAX_MMS } from '../../src/kernel/mm-layout.ts';

const machine = useMachine({ cpus: 2 });
const workload = (name: string) => fixtureUrl('fork-workloads', name);

describe('fork and copy-on-write', () => {
  it("gives the child the parent's data, keeps each side's writes its own, and reuses a page mapped once", async () => {
    const run = await machine().run<unknown, CowResult | null, object>(workload('forkCow'), {}, { seed: 1 });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.parentWritableAfterFork).toBe(false);
    expect(r.childFirst).toEqual([100, 101, 102, 103]);
    expect(r.parentAfterChild).toEqual([100, 101, 102, 103]);
    expect(r.childAfterParent).toEqual([200, 201, 102, 103]);
    // pages 0 and 1: the child copied them first, the parent then found them mapped once
    expect(r.parentPfnsAfter.slice(0, 2)).toEqual(r.parentPfnsBefore.slice(0, 2));
    // pages 2 and 3: still shared when the parent wrote, copied
    expect(r.parentPfnsAfter[2]).not.toBe(r.parentPfnsBefore[2]);
    expect(r.parentPfnsAfter[3]).not.toBe(r.parentPfnsBefore[3]);
    // the child's page 2 was the parent's old page, the child's alone by then: reused
    expect(r.childPage2Before).toBe(r.parentPfnsBefore[2]);
    expect(r.childPage2After).toBe(r.childPage2Before);
    expect(r.mapcountsAfterExit).toEqual([1, 1, 1, 1]);
    expect(r.refcountsAfterExit).toEqual([1, 1, 1, 1]);
    // both mms exited: every frame is free again but the null frame and init_mm's PGD
    expect(await machine().freeFrames()).toBe(machine().v.nrFrames - 2);
  });

  it('copies a private file mapping on write and leaves the file, its cache and shared mappings untouched', async () => {
    const run = await machine().run<unknown, PrivateFileResult | null, object>(workload('privateFile'), {}, { seed: 2 });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.before).toBe(0x2000 + 5);
    expect(r.after).toBe(0xabc);
    expect(r.shared).toBe(0x2000 + 5);
    expect(r.cached).toBe(0x2000 + 5);
    expect(r.disk).toBe(0x2000 + 5);
    expect(r.copied).toBe(true);
    expect(r.childReads).toBe(0xabc);
    expect(r.childUntouched).toBe(0x4000 + 7);
  });

  it("finds a parent's page in its children and grandchildren, and a child's page in the child's family only", async () => {
    const run = await machine().run<unknown, RmapResult | null, object>(workload('forkRmap'), {}, { seed: 3 });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    const base = 2 ** 38;
    expect(r.afterFork).toEqual([
      [r.parent, base],
      [r.child, base],
    ].sort((a, b) => a[0] - b[0]));
    expect(r.afterGrandchild).toEqual([
      [r.parent, base],
      [r.child, base],
      [r.grandchild, base],
    ].sort((a, b) => a[0] - b[0]));
    expect(r.childPage).toEqual([
      [r.child, base + 4096],
      [r.grandchild, base + 4096],
    ].sort((a, b) => a[0] - b[0]));
    expect(r.pinnedCopied).toBe(true);
    expect(r.pinnedParentWritable).toBe(true);
    expect(r.pinnedChildValue).toBe(103);
  });

  it('forks and exits more children than there are mm slots, and frees everything', async () => {
    const rounds = MAX_MMS + 20;
    const run = await machine().run<unknown, number | null, { rounds: number }>(workload('forkLoop'), { rounds }, { seed: 4 });
    expect(run.violations).toEqual([]);
    expect(run.results[0]).toBe(rounds);
    expect(await machine().freeFrames()).toBe(machine().v.nrFrames - 2);
  });

  it("keeps an exited parent's slot while a child maps its pages, whose rmap still finds the child's mapping", async () => {
    const run = await machine().run<unknown, OrphanResult | null, object>(workload('forkOrphan'), {}, { seed: 5 });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.allocated).not.toContain(r.parent);
    expect(r.found).toEqual([[r.child, 2 ** 38]]);
    // once the child exited too, the slot is the first one free again
    expect(r.reused).toBe(true);
  });
});
