/**
 * xorshift32 (Marsaglia 2003): the next state after `x`, a nonzero Int32, as an Int32. The CPUs'
 * own streams (cpu.ts), the scheduler's (schedule/baton.ts) and PCT's set-up (schedule/control.ts)
 * all step with it; `>>> 0` of the state is the number they hand out.
 */
export function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x;
}
