import { describe, expect, it } from 'vitest';
import { clearMachineMemory, createMachineMemory, viewsOf, wordIndexOf } from '../../src/machine/memory.ts';
import { FRAME_META_WORDS, FrameKind, META_GEN, META_KIND, WORDS_PER_FRAME } from '../../src/machine/phys-layout.ts';
import { FILE_PAGES, F_IN_USE, diskIndex, fileIndex } from '../../src/kernel/file-layout.ts';

describe('machine memory', () => {
  const v = viewsOf(createMachineMemory(3, 64));
  const names = ['phys', 'frameMeta', 'zone', 'tlb', 'percpu', 'mm', 'vmas', 'files', 'disk', 'globals', 'rings', 'violations'] as const;

  it('gives every region lines of its own in one buffer, and words sees each at wordIndexOf its view', () => {
    const all = [...names, 'counters', 'waits', 'csd'] as const;
    const spans = all.map((name) => ({ name, start: v[name].byteOffset, end: v[name].byteOffset + v[name].byteLength }));
    spans.sort((a, b) => a.start - b.start);
    for (let i = 0; i < spans.length; i++) {
      expect(spans[i].start % 64, spans[i].name).toBe(0);
      if (i > 0) expect(spans[i].start, spans[i].name).toBeGreaterThanOrEqual(spans[i - 1].end);
      expect(v[spans[i].name].buffer).toBe(v.words.buffer);
    }
    for (const name of names) {
      const region = v[name];
      region[0] = 11;
      region[region.length - 1] = 22;
      expect(v.words[wordIndexOf(region)], name).toBe(11);
      expect(v.words[wordIndexOf(region) + region.length - 1], name).toBe(22);
    }
  });

  it('the CSD mask view shares the bytes of the CSD info', () => {
    v.csd[7] = 0;
    v.csdMask[15] = 1 << 20;
    expect(v.csd[7]).not.toBe(0);
  });

  it('is all zero again after clearMachineMemory, but for frames and disk pages no run used', () => {
    v.words.fill(0);
    v.words.fill(7, wordIndexOf(v.frameMeta));
    v.phys.fill(7);
    // frame 3 allocated, frame 4 freed since power-on (generation 2), frame 5 never used
    const meta = (pfn: number, word: number) => pfn * FRAME_META_WORDS + word;
    for (let pfn = 0; pfn < 64; pfn++) [v.frameMeta[meta(pfn, META_KIND)], v.frameMeta[meta(pfn, META_GEN)]] = [FrameKind.Free, 1];
    v.frameMeta[meta(3, META_KIND)] = FrameKind.Anon;
    v.frameMeta[meta(4, META_GEN)] = 2;
    // file 1 was created, the others not
    v.files.fill(0);
    v.files[fileIndex(1) + F_IN_USE] = 1;
    clearMachineMemory(v);
    const frame = (pfn: number) => v.phys.subarray(pfn * WORDS_PER_FRAME, (pfn + 1) * WORDS_PER_FRAME);
    expect(frame(3).every((x) => x === 0)).toBe(true);
    expect(frame(4).every((x) => x === 0)).toBe(true);
    expect(frame(5).every((x) => x === 7)).toBe(true);
    const disk = (file: number) => v.disk.subarray(diskIndex(file, 0), diskIndex(file, FILE_PAGES - 1) + WORDS_PER_FRAME);
    expect(disk(1).every((x) => x === 0)).toBe(true);
    expect(disk(2).every((x) => x === 7)).toBe(true);
    for (const name of ['frameMeta', 'zone', 'tlb', 'percpu', 'mm', 'vmas', 'files', 'globals', 'rings', 'violations'] as const) {
      expect(v[name].every((x) => x === 0), name).toBe(true);
    }
    for (const name of ['counters', 'waits', 'csd'] as const) expect(v[name].every((x) => x === 0), name).toBe(true);
  });
});
