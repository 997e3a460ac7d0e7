import { describe, expect, it } from 'vitest';
import { clearMachineMemory, createMachineMemory, viewsOf, wordIndexOf } from '../../src/machine/memory.ts';

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

  it('is all zero again after clearMachineMemory', () => {
    v.counters[0] = 5;
    clearMachineMemory(v);
    expect(v.words.every((x) => x === 0)).toBe(true);
    expect(v.counters[0]).toBe(0);
  });
});
