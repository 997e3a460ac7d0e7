/*
 * CPU masks (include/linux/cpumask.h) over two 32-bit words, enough for MAX_CPUS (64).
 * A mask in shared memory (mm_cpumask, a CSD's pending targets) is two words of an Int32Array,
 * set and cleared with Atomics.or / Atomics.and; `CpuMask` is a local copy to iterate over.
 */

export const CPUMASK_WORDS = 2;

export class CpuMask {
  readonly words = new Int32Array(CPUMASK_WORDS);

  static of(...cpus: number[]): CpuMask {
    const m = new CpuMask();
    for (const c of cpus) m.set(c);
    return m;
  }

  /** Reads a mask from shared memory at `a[i]`, `a[i + 1]`. */
  static load(a: Int32Array, i: number): CpuMask {
    const m = new CpuMask();
    m.words[0] = Atomics.load(a, i);
    m.words[1] = Atomics.load(a, i + 1);
    return m;
  }

  set(cpu: number): this {
    this.words[cpu >>> 5] |= 1 << (cpu & 31);
    return this;
  }

  clear(cpu: number): this {
    this.words[cpu >>> 5] &= ~(1 << (cpu & 31));
    return this;
  }

  test(cpu: number): boolean {
    return (this.words[cpu >>> 5] & (1 << (cpu & 31))) !== 0;
  }

  or(other: CpuMask): this {
    this.words[0] |= other.words[0];
    this.words[1] |= other.words[1];
    return this;
  }

  weight(): number {
    return popcount(this.words[0]) + popcount(this.words[1]);
  }

  isEmpty(): boolean {
    return this.words[0] === 0 && this.words[1] === 0;
  }

  /** cpumask_any_but: whether any CPU other than `cpu` is set. */
  anyBut(cpu: number): boolean {
    return this.weight() - (this.test(cpu) ? 1 : 0) > 0;
  }

  /**
   * cpumask_next: the first CPU after `cpu` in the mask, or -1. `for (let c = m.next(-1); c >= 0;
   * c = m.next(c))` is for_each_cpu, without allocating.
   */
  next(cpu: number): number {
    for (let w = (cpu + 1) >>> 5; w < CPUMASK_WORDS; w++) {
      // the bits of word w at or above cpu + 1
      const bits = w === (cpu + 1) >>> 5 ? this.words[w] & (-1 << ((cpu + 1) & 31)) : this.words[w];
      if (bits !== 0) return w * 32 + 31 - Math.clz32(bits & -bits);
    }
    return -1;
  }

  toArray(): number[] {
    const out: number[] = [];
    for (let cpu = this.next(-1); cpu >= 0; cpu = this.next(cpu)) out.push(cpu);
    return out;
  }
}

export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** cpumask_set_cpu on a mask in shared memory. */
export function atomicCpumaskSet(a: Int32Array, i: number, cpu: number): void {
  Atomics.or(a, i + (cpu >>> 5), 1 << (cpu & 31));
}

/** cpumask_clear_cpu on a mask in shared memory. */
export function atomicCpumaskClear(a: Int32Array, i: number, cpu: number): void {
  Atomics.and(a, i + (cpu >>> 5), ~(1 << (cpu & 31)));
}
