/*
 * A lock word on Atomics that spins briefly and then sleeps in Atomics.wait: the futex mutex of
 * "Futexes Are Tricky" (0 unlocked, 1 locked, 2 locked with sleepers). With more CPU threads than
 * host cores a lock holder may be descheduled; a waiter that kept spinning would burn the core it
 * needs, so it sleeps after SPIN_TRIES attempts.
 */

const SPIN_TRIES = 64;

export function spinLock(a: Int32Array, i: number): void {
  // pairs with the exchange in spinUnlock: acquiring orders every access after the lock
  if (Atomics.compareExchange(a, i, 0, 1) === 0) return;
  for (let n = 0; n < SPIN_TRIES; n++) {
    if (Atomics.load(a, i) === 0 && Atomics.compareExchange(a, i, 0, 1) === 0) return;
  }
  // mark the lock contended, and sleep until the holder hands it back
  while (Atomics.exchange(a, i, 2) !== 0) Atomics.wait(a, i, 2);
}

export function spinTrylock(a: Int32Array, i: number): boolean {
  return Atomics.compareExchange(a, i, 0, 1) === 0;
}

export function spinUnlock(a: Int32Array, i: number): void {
  // publishes every store made under the lock; wakes one sleeper if any marked the lock contended
  if (Atomics.exchange(a, i, 0) === 2) Atomics.notify(a, i, 1);
}

export function spinIsLocked(a: Int32Array, i: number): boolean {
  return Atomics.load(a, i) !== 0;
}
