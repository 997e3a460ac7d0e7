/*
 * CPU masks (include/linux/cpumask.h) over two 32-bit words, enough for MAX_CPUS (64).
 * A mask in shared memory (mm_cpumask, a CSD's pending targets) is two words of an Int32Array,
 * set and cleared with Atomics.or / Atomics.and; `CpuMask` is a local copy to iterate over.
 */

export const CPUMASK_WORDS = 2;

export class CpuMask {
  /** CPUs 0-31 and 32-63: plain numbers, so that a mask that never leaves a function is free */
  w0 = 0;
  w1 = 0;

  static of(...cpus: number[]): CpuMask {
    const m = new CpuMask();
    for (const c of cpus) m.set(c);
    return m;
  }

  /** Reads a mask from shared memory at `a[i]`, `a[i + 1]`. */
  static load(a: Int32Array, i: number): CpuMask {
    const m = new CpuMask();
    m.w0 = Atomics.load(a, i);
    m.w1 = Atomics.load(a, i + 1);
    return m;
  }

  /** Word `w`: CPUs 32w to 32w + 31. */
  word(w: number): number {
    return w === 0 ? this.w0 : this.w1;
  }

  set(cpu: number): this {
    if (cpu < 32) this.w0 |= 1 << cpu;
    else this.w1 |= 1 << (cpu & 31);
    return this;
  }

  clear(cpu: number): this {
    if (cpu < 32) this.w0 &= ~(1 << cpu);
    else this.w1 &= ~(1 << (cpu & 31));
    return this;
  }

  clearAll(): this {
    this.w0 = 0;
    this.w1 = 0;
    return this;
  }

  test(cpu: number): boolean {
    return (this.word(cpu >>> 5) & (1 << (cpu & 31))) !== 0;
  }

  or(other: CpuMask): this {
    this.w0 |= other.w0;
    this.w1 |= other.w1;
    return this;
  }

  weight(): number {
    return popcount(this.w0) + popcount(this.w1);
  }

  isEmpty(): boolean {
    return this.w0 === 0 && this.w1 === 0;
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
      const bits = w === (cpu + 1) >>> 5 ? this.word(w) & (-1 << ((cpu + 1) & 31)) : this.word(w);
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
