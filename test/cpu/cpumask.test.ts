import { describe, expect, it } from 'vitest';
import { CpuMask } from '../../src/cpu/cpumask.ts';

function forEachCpu(m: CpuMask): number[] {
  const out: number[] = [];
  for (let c = m.next(-1); c >= 0; c = m.next(c)) out.push(c);
  return out;
}

describe('CpuMask', () => {
  it('next walks the set CPUs in order across both words, from any start', () => {
    const m = CpuMask.of(0, 5, 31, 32, 40, 63);
    expect(forEachCpu(m)).toEqual([0, 5, 31, 32, 40, 63]);
    expect(m.next(5)).toBe(31);
    expect(m.next(30)).toBe(31);
    expect(m.next(31)).toBe(32);
    expect(m.next(33)).toBe(40);
    expect(m.next(63)).toBe(-1);
    expect(m.toArray()).toEqual([0, 5, 31, 32, 40, 63]);
  });

  it('an empty mask has no next CPU, and anyBut excludes only the CPU named', () => {
    expect(new CpuMask().next(-1)).toBe(-1);
    expect(CpuMask.of(3).anyBut(3)).toBe(false);
    expect(CpuMask.of(3, 33).anyBut(3)).toBe(true);
    expect(CpuMask.of(3, 33).weight()).toBe(2);
  });
});
