/*
 * Kernel locks on Atomics, for code running on a simulated CPU (include/linux/spinlock.h,
 * kernel/locking/rwsem.c).
 *
 * A CPU that waits for a lock with IRQs on keeps taking IPIs, as a real CPU spinning on a
 * spinlock with interrupts enabled does: otherwise a CPU that holds the lock and waits for a flush
 * acknowledgement from the waiter would deadlock with it. So a waiter does not sleep on the lock
 * word: it spins a little, then sleeps on its own wake word, which IPIs bump; an unlock that saw
 * waiters (state 2) wakes every CPU to retry.
 *
 * Taking and dropping a lock is a scheduling point of a controlled run (schedule/baton.ts).
 *
 *   spinLock / spinUnlock         spin_lock / spin_unlock (IRQs as they are)
 *   downRead / upRead, downWrite / upWrite, downgradeWrite   the mmap_lock's rw_semaphore;
 *                                 downRead and downWrite return whether they had to wait
 *   downReadTrylock               down_read_trylock (the per-VMA lock's readers, vma-lock.ts)
 */
import type { Cpu } from '../cpu/cpu.ts';
import { kickAll } from '../cpu/smp.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';

const SPIN_TRIES = 100;
const SLEEP_MS = 1;

/** Waits, taking IPIs when IRQs are on, until `tryTake()` succeeds. */
function contend(cpu: Cpu, tryTake: () => boolean): void {
  for (let n = 0; n < SPIN_TRIES; n++) {
    if (tryTake()) return;
    if (cpu.irqsOn) cpu.fabric.takeInterrupts(cpu);
  }
  cpu.fabric.idleUntil(cpu, tryTake, SLEEP_MS);
}

// lock word: 0 unlocked, 1 locked, 2 locked and someone waits
export function spinLock(cpu: Cpu, a: Int32Array, i: number): void {
  schedPoint(Point.Lock);
  // acquiring orders every access after it; pairs with the exchange in spinUnlock
  if (Atomics.compareExchange(a, i, 0, 1) === 0) return;
  contend(cpu, () => Atomics.exchange(a, i, 2) === 0);
}

export function spinUnlock(cpu: Cpu, a: Int32Array, i: number): void {
  schedPoint(Point.Unlock);
  // publishes every store made under the lock
  if (Atomics.exchange(a, i, 0) === 2) kickAll(cpu.v);
}

export function spinIsLocked(a: Int32Array, i: number): boolean {
  return Atomics.load(a, i) !== 0;
}

/*
 * rw_semaphore: word i counts readers (> 0) or holds WRITER; word i + 1 counts waiters, so that
 * releases wake CPUs only when someone waits. No fairness: enough for short kernel sections.
 */
const WRITER = -1;

/** Takes the semaphore; true when it had to wait for it (lock contention). */
function rwsemWait(cpu: Cpu, a: Int32Array, i: number, tryTake: () => boolean): boolean {
  schedPoint(Point.Lock);
  if (tryTake()) return false;
  Atomics.add(a, i + 1, 1);
  try {
    contend(cpu, tryTake);
  } finally {
    Atomics.sub(a, i + 1, 1);
  }
  return true;
}

function rwsemWake(cpu: Cpu, a: Int32Array, i: number): void {
  if (Atomics.load(a, i + 1) !== 0) kickAll(cpu.v);
}

/** One attempt at the read side: fails on a writer (or on a racing change of the count). */
function tryDownRead(a: Int32Array, i: number): boolean {
  const c = Atomics.load(a, i);
  return c >= 0 && Atomics.compareExchange(a, i, c, c + 1) === c;
}

export function downRead(cpu: Cpu, a: Int32Array, i: number): boolean {
  return rwsemWait(cpu, a, i, () => tryDownRead(a, i));
}

/** down_read_trylock: the read side if no writer holds it, without waiting. */
export function downReadTrylock(a: Int32Array, i: number): boolean {
  schedPoint(Point.Lock);
  for (;;) {
    const c = Atomics.load(a, i);
    if (c < 0) return false;
    if (Atomics.compareExchange(a, i, c, c + 1) === c) return true;
  }
}

export function upRead(cpu: Cpu, a: Int32Array, i: number): void {
  schedPoint(Point.Unlock);
  if (Atomics.sub(a, i, 1) === 1) rwsemWake(cpu, a, i);
}

export function downWrite(cpu: Cpu, a: Int32Array, i: number): boolean {
  return rwsemWait(cpu, a, i, () => Atomics.compareExchange(a, i, 0, WRITER) === 0);
}

export function upWrite(cpu: Cpu, a: Int32Array, i: number): void {
  schedPoint(Point.Unlock);
  Atomics.store(a, i, 0);
  rwsemWake(cpu, a, i);
}

/** downgrade_write: the writer becomes a reader without letting another writer in between. */
export function downgradeWrite(cpu: Cpu, a: Int32Array, i: number): void {
  schedPoint(Point.Unlock);
  Atomics.store(a, i, 1);
  rwsemWake(cpu, a, i);
}

export function rwsemIsWriteLocked(a: Int32Array, i: number): boolean {
  return Atomics.load(a, i) === WRITER;
}
