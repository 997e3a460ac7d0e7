import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import {
  CONTROL_CPU, allocContigFrames, allocFrame, drainPcpLists, frameGen, frameKind, frameMetaIndex, freeFrame, initFrames,
  nrFreeFrames,
} from '../../src/machine/frames.ts';
import {
  FrameKind, META_FLAGS, META_INDEX, META_MAPCOUNT, META_NEXT, META_OWNER, META_REFCOUNT, PCP_BATCH,
  PCP_COUNT, PCP_FRAMES, PCP_HIGH, PCP_STRIDE, WORDS_PER_FRAME, ZONE_FREE_HEAD, ZONE_NR_FREE, ZONE_WORDS,
} from '../../src/machine/phys-layout.ts';

function machine(nrFrames: number, nrCpus = 2): MachineViews {
  const v = viewsOf(createMachineMemory(nrCpus, nrFrames));
  initFrames(v);
  return v;
}

const alloc = (v: MachineViews, cpu: number) => allocFrame(v, cpu, FrameKind.Anon, 1, 0, false);
const meta = (v: MachineViews, pfn: number, field: number) => v.frameMeta[frameMetaIndex(pfn, field)];
const pcpBase = (cpu: number) => ZONE_WORDS + cpu * PCP_STRIDE;
const pcpCount = (v: MachineViews, cpu: number) => v.zone[pcpBase(cpu) + PCP_COUNT];
const zoneNrFree = (v: MachineViews) => v.zone[ZONE_NR_FREE];

/** The zone's free list followed through META_NEXT, and each CPU's list bottom to top. */
function freeLists(v: MachineViews): { zone: number[]; pcp: number[][] } {
  const zone: number[] = [];
  for (let pfn = v.zone[ZONE_FREE_HEAD]; pfn !== 0 && zone.length <= v.nrFrames; pfn = meta(v, pfn, META_NEXT)) zone.push(pfn);
  const pcp = Array.from({ length: v.nrCpus }, (_, cpu) =>
    Array.from({ length: pcpCount(v, cpu) }, (_, i) => v.zone[pcpBase(cpu) + PCP_FRAMES + i]));
  return { zone, pcp };
}

/** Every frame but 0 is either allocated or on exactly one free list, and the counts agree. */
function expectAccounted(v: MachineViews, allocated: Set<number>): void {
  const { zone, pcp } = freeLists(v);
  const free = [...zone, ...pcp.flat()];
  expect(zone.length).toBe(zoneNrFree(v));
  expect(new Set(free).size).toBe(free.length);
  expect(free.filter((pfn) => allocated.has(pfn) || pfn === 0)).toEqual([]);
  expect(free.length + allocated.size).toBe(v.nrFrames - 1);
  expect(nrFreeFrames(v)).toBe(free.length);
}

describe('initFrames', () => {
  it('puts every frame but frame 0 on the zone list, lowest PFN first out', () => {
    const v = machine(16);
    expect(nrFreeFrames(v)).toBe(15);
    expect([alloc(v, CONTROL_CPU), alloc(v, CONTROL_CPU), alloc(v, CONTROL_CPU)]).toEqual([1, 2, 3]);
    expect(frameKind(v, 0)).toBe(FrameKind.Kernel);
  });
});

describe('allocFrame', () => {
  it('hands out every frame but 0 exactly once across CPUs and the control plane, then 0', () => {
    const v = machine(64);
    const got: number[] = [];
    for (let dry = false; !dry;) {
      dry = true;
      for (const cpu of [0, 1, CONTROL_CPU]) {
        const pfn = alloc(v, cpu);
        if (pfn !== 0) {
          got.push(pfn);
          dry = false;
        }
      }
    }
    expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 63 }, (_, i) => i + 1));
    expect(nrFreeFrames(v)).toBe(0);
  });

  it('returns 0 when memory is out, and succeeds again once a frame is freed', () => {
    const v = machine(4);
    const frames = [alloc(v, 0), alloc(v, 0), alloc(v, 0)];
    expect(frames.every((pfn) => pfn !== 0)).toBe(true);
    expect(alloc(v, 0)).toBe(0);
    expect(alloc(v, 1)).toBe(0);
    expect(alloc(v, CONTROL_CPU)).toBe(0);
    expect(nrFreeFrames(v)).toBe(0);
    freeFrame(v, 0, frames[1]);
    expect(alloc(v, 0)).toBe(frames[1]);
  });

  it('sets up the frame metadata with one reference, and zeroes the frame only on request', () => {
    const v = machine(16);
    const pfn = alloc(v, CONTROL_CPU);
    v.phys[pfn * WORDS_PER_FRAME + 7] = 0x1234;
    v.phys[(pfn + 1) * WORDS_PER_FRAME - 1] = 0x5678;
    freeFrame(v, CONTROL_CPU, pfn);

    expect(allocFrame(v, CONTROL_CPU, FrameKind.File, 9, 3, false)).toBe(pfn);
    expect(v.phys[pfn * WORDS_PER_FRAME + 7]).toBe(0x1234);
    expect([frameKind(v, pfn), meta(v, pfn, META_OWNER), meta(v, pfn, META_INDEX)]).toEqual([FrameKind.File, 9, 3]);
    expect([meta(v, pfn, META_REFCOUNT), meta(v, pfn, META_MAPCOUNT), meta(v, pfn, META_FLAGS)]).toEqual([1, 0, 0]);
    freeFrame(v, CONTROL_CPU, pfn);

    expect(allocFrame(v, CONTROL_CPU, FrameKind.PageTable, 2, 1, true)).toBe(pfn);
    expect(v.phys.subarray(pfn * WORDS_PER_FRAME, (pfn + 1) * WORDS_PER_FRAME).every((w) => w === 0)).toBe(true);
  });
});

describe('freeFrame', () => {
  it('bumps the generation on every free and never on allocation', () => {
    const v = machine(16);
    const pfn = alloc(v, 0);
    expect(frameGen(v, pfn)).toBe(1);
    freeFrame(v, 0, pfn);
    expect(frameGen(v, pfn)).toBe(2);
    expect([frameKind(v, pfn), meta(v, pfn, META_REFCOUNT)]).toEqual([FrameKind.Free, 0]);
    expect(alloc(v, 0)).toBe(pfn);
    expect(frameGen(v, pfn)).toBe(2);
    freeFrame(v, 0, pfn);
    expect(frameGen(v, pfn)).toBe(3);
  });

  it('makes the frame freed last on a CPU the next one that CPU allocates (LIFO)', () => {
    const v = machine(64);
    const [a, b] = [alloc(v, 0), alloc(v, 0)];
    freeFrame(v, 0, a);
    freeFrame(v, 0, b);
    expect(alloc(v, 0)).toBe(b);
    expect(alloc(v, 0)).toBe(a);
  });

  it('makes the frame freed last by the control plane the next one it allocates', () => {
    const v = machine(16);
    const [a, b] = [alloc(v, CONTROL_CPU), alloc(v, CONTROL_CPU)];
    freeFrame(v, CONTROL_CPU, a);
    freeFrame(v, CONTROL_CPU, b);
    expect(alloc(v, CONTROL_CPU)).toBe(b);
    expect(alloc(v, CONTROL_CPU)).toBe(a);
  });

  it('keeps a frame freed on one CPU on that CPU\'s list, away from the others', () => {
    const v = machine(64);
    const a = alloc(v, 0);
    alloc(v, 1);
    freeFrame(v, 0, a);
    expect(alloc(v, 1)).not.toBe(a);
    expect(alloc(v, 0)).toBe(a);
  });
});

describe('per-CPU page lists', () => {
  it('refill an empty list with one batch from the zone', () => {
    const v = machine(64);
    const pfn = alloc(v, 0);
    expect(pfn).toBeGreaterThanOrEqual(1);
    expect(pfn).toBeLessThanOrEqual(PCP_BATCH);
    expect(zoneNrFree(v)).toBe(63 - PCP_BATCH);
    expect(pcpCount(v, 0)).toBe(PCP_BATCH - 1);
    expect(pcpCount(v, 1)).toBe(0);
    expect(nrFreeFrames(v)).toBe(62);
  });

  it('refill with what is left when the zone holds less than a batch', () => {
    const v = machine(4);
    alloc(v, 0);
    expect([zoneNrFree(v), pcpCount(v, 0), nrFreeFrames(v)]).toEqual([0, 2, 2]);
  });

  it('drain one batch to the zone when a list is full, keeping the last freed frame on top', () => {
    const v = machine(128);
    const frames = Array.from({ length: PCP_HIGH + 1 }, () => alloc(v, CONTROL_CPU));
    const zoneBefore = zoneNrFree(v);
    frames.slice(0, PCP_HIGH).forEach((pfn, i) => {
      freeFrame(v, 0, pfn);
      expect(nrFreeFrames(v)).toBe(zoneBefore + i + 1);
    });
    expect([pcpCount(v, 0), zoneNrFree(v)]).toEqual([PCP_HIGH, zoneBefore]);

    freeFrame(v, 0, frames[PCP_HIGH]);
    expect([pcpCount(v, 0), zoneNrFree(v)]).toEqual([PCP_HIGH - PCP_BATCH + 1, zoneBefore + PCP_BATCH]);
    expect(nrFreeFrames(v)).toBe(zoneBefore + PCP_HIGH + 1);
    expectAccounted(v, new Set());
    expect(alloc(v, 0)).toBe(frames[PCP_HIGH]);
  });

  it('all return to the zone on drainPcpLists', () => {
    const v = machine(64);
    const a = alloc(v, 0);
    const b = alloc(v, 1);
    freeFrame(v, 1, a);
    const free = nrFreeFrames(v);
    drainPcpLists(v);
    expect([pcpCount(v, 0), pcpCount(v, 1), zoneNrFree(v), nrFreeFrames(v)]).toEqual([0, 0, free, free]);
    expectAccounted(v, new Set([b]));
  });
});

describe('the allocator as a whole', () => {
  it('keeps every frame allocated or on exactly one free list through mixed traffic (seed 7)', () => {
    const v = machine(96, 3);
    const allocated = new Set<number>();
    let seed = 7;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    for (let step = 0; step < 2000; step++) {
      const cpu = next(4) - 1; // CONTROL_CPU, 0, 1 or 2
      if (allocated.size > 0 && next(2) === 0) {
        const pfn = [...allocated][next(allocated.size)];
        allocated.delete(pfn);
        freeFrame(v, cpu, pfn);
      } else {
        const pfn = alloc(v, cpu);
        if (pfn !== 0) {
          expect(allocated.has(pfn)).toBe(false);
          allocated.add(pfn);
        }
      }
      if (step % 50 === 0) expectAccounted(v, allocated);
    }
    expectAccounted(v, allocated);
    drainPcpLists(v);
    expectAccounted(v, allocated);
  });
});

describe('allocContigFrames', () => {
  const range = (first: number, n: number) => Array.from({ length: n }, (_, i) => first + i);

  it('takes the first naturally aligned run that is wholly free off the zone list, each frame prepared', () => {
    const v = machine(64);
    const allocated = new Set([alloc(v, CONTROL_CPU)]); // frame 1: block 0 holds frame 0 anyway
    const pfn = allocContigFrames(v, 16, FrameKind.Anon, 7, 100, true);
    expect(pfn).toBe(16);
    for (const f of range(16, 16)) allocated.add(f);
    expectAccounted(v, allocated);
    expect(range(16, 16).map((f) => [frameKind(v, f), meta(v, f, META_OWNER), meta(v, f, META_INDEX), meta(v, f, META_REFCOUNT)]))
      .toEqual(range(16, 16).map((f) => [FrameKind.Anon, 7, 100 + f - 16, 1]));
    expect(allocContigFrames(v, 16, FrameKind.Anon, 7, 0, false)).toBe(32);
  });

  it('skips a block with a frame allocated or on a CPU list, and returns 0 when no block is whole', () => {
    const v = machine(32);
    freeFrame(v, 0, alloc(v, 0)); // CPU 0's refill took frames 1..8 from the zone; 8 went back on its list
    expect(allocContigFrames(v, 8, FrameKind.Anon, 1, 0, false)).toBe(16);
    expect(alloc(v, CONTROL_CPU)).toBe(9);
    expect(allocContigFrames(v, 8, FrameKind.Anon, 1, 0, false)).toBe(24);
    expect(allocContigFrames(v, 8, FrameKind.Anon, 1, 0, false)).toBe(0);
    drainPcpLists(v);
    expect(allocContigFrames(v, 8, FrameKind.Anon, 1, 0, false)).toBe(0);
    freeFrame(v, CONTROL_CPU, 9);
    expect(allocContigFrames(v, 8, FrameKind.Anon, 1, 0, false)).toBe(8);
  });
});
