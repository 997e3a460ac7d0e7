/*
 * A raw lock for the machine's own structures (the zone lock of the allocator): spins briefly,
 * then sleeps in Atomics.wait on the lock word, the futex mutex of "Futexes Are Tricky"
 * (0 unlocked, 1 locked, 2 locked with sleepers). A waiter takes no IPI, as with raw_spin_lock_irqsave,
 * so the holder must never wait for anything while holding it. With more CPU threads than host
 * cores a holder may be descheduled: a waiter that kept spinning would burn the core it needs.
 *
 * Kernel code running on a CPU uses kernel/locks.ts, whose waiters keep taking IPIs.
 */

const SPIN_TRIES = 64;

export function rawSpinLock(a: Int32Array, i: number): void {
  // pairs with the exchange in rawSpinUnlock: acquiring orders every access after the lock
  if (Atomics.compareExchange(a, i, 0, 1) === 0) return;
  for (let n = 0; n < SPIN_TRIES; n++) {
    if (Atomics.load(a, i) === 0 && Atomics.compareExchange(a, i, 0, 1) === 0) return;
  }
  // mark the lock contended, and sleep until the holder hands it back
  while (Atomics.exchange(a, i, 2) !== 0) Atomics.wait(a, i, 2);
}

export function rawSpinUnlock(a: Int32Array, i: number): void {
  // publishes every store made under the lock; wakes one sleeper if any marked the lock contended
  if (Atomics.exchange(a, i, 0) === 2) Atomics.notify(a, i, 1);
}
