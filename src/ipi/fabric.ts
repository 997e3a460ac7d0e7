/*
 * The IPI fabric and smp_call_function_many (kernel/smp.c).
 *
 * Invariant: a message posted before its doorbell bit is never missed. The sender posts on its
 * port to the target, then sets its bit in the target's doorbell mask, raises IPI_PENDING and
 * wakes the target; the target, at an interrupt point with IRQs on, reads IPI_PENDING, clears it,
 * exchanges the mask words with zero, and only then drains the ports of the senders whose bits
 * were set, synchronously, with receiveMessageOnPort.
 *
 *   sender                               target
 *   port.postMessage(msg)
 *   Atomics.or(mask, bit)                Atomics.load(pending) == 1
 *   Atomics.store(pending, 1)            Atomics.store(pending, 0)
 *   kickCpu(target)                      bits = Atomics.exchange(mask, 0)
 *                                        receiveMessageOnPort(port[s]) for each s in bits
 *
 * A bit set after the target's exchange is followed by a store to IPI_PENDING that the target
 * sees at its next interrupt point. abortRun raises IPI_PENDING too, with no bit, so that an
 * interrupt point looks at one word; and a CPU about to sleep sets IPI_SLEEPING, so that a kick
 * writes to a CPU's wake word, and calls Atomics.notify, only when it may sleep.
 *
 * API:
 *   smpCallFunctionMany   post to every target, run locally if asked (IRQs off), and wait until
 *                         every target has run the function (csd_lock_wait). While it waits the
 *                         sender keeps taking IPIs sent to itself, as Linux does with IRQs on, so
 *                         two CPUs that shoot each other down both finish. It spins briefly, then
 *                         sleeps in Atomics.wait on its wake word, which an ack bumps.
 *   takeInterrupts        the interrupt point's check of the doorbell.
 *
 * Acknowledgements are bits in the sender's CSD_PENDING mask, on the line of its flush_tlb_info
 * (csd-layout.ts), cleared by each target after its handler returns. A wait longer than the
 * CSD-lock watchdog allows fails the run with the state of the waiting CPU and of every target
 * that has not answered, instead of hanging.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { MachineViews } from '../machine/memory.ts';
import { IPI_MASK, IPI_PENDING, IPI_SLEEPING, IPI_WAKE, PERCPU_WORDS, ST_ACTIVITY, ST_WAITING_ON, Activity } from '../cpu/percpu-layout.ts';
import { CpuMask, CPUMASK_WORDS } from '../cpu/cpumask.ts';
import type { IpiMessage } from './protocol.ts';
import { CSD_MASK_WORDS, CSD_PENDING } from './csd-layout.ts';
import { Ev, traceEvent } from '../trace/events.ts';
import { COUNTER_STRIDE, Counter } from '../trace/counters.ts';
import { recordWait } from '../trace/waits.ts';
import { CsdLockTimeoutError } from '../errors.ts';
import { formatCpuStatus, readCpuStatus } from '../cpu/status.ts';
import { currentBaton, schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import { applyBroadcastForSleepers, applyBroadcastPending, broadcastLagging, broadcastPending, tlbQuiesce, tlbResume } from '../machine/tlbi-broadcast.ts';

/** What the fabric needs of the CPU it belongs to. */
export interface IpiCpu {
  readonly id: number;
  readonly irqsOn: boolean;
  readonly csdLockTimeoutMs: number;
  /** runs a function sent by `from` (IRQs off, as in the interrupt handler) */
  runIpi(from: number, msg: IpiMessage): void;
  /** runs the function locally, IRQs off, as smp_call_function_many does for the sender */
  runLocal(msg: IpiMessage): void;
  checkAbort(): void;
}

/** Spins of the CSD wait before it sleeps: about 10-20 us of Atomics.load. */
const CSD_SPINS = 1000;
/** How long one sleep lasts before the watchdog and the abort flag are looked at again. */
const SLEEP_SLICE_MS = 20;

/**
 * Wakes `cpu` if it sleeps on its wake word. A CPU that is running is not written to at all: the
 * kicker made what the sleeper waits for true before this look at IPI_SLEEPING, and a sleeper
 * looks at what it waits for after it sets IPI_SLEEPING (sleepUnless), so one of them sees the
 * other. Only a sleeper costs an Atomics.notify, which takes a lock shared by every thread.
 */
export function kickCpu(p: Int32Array, cpu: number): void {
  const b = cpu * PERCPU_WORDS;
  if (Atomics.load(p, b + IPI_SLEEPING) === 0) return;
  Atomics.add(p, b + IPI_WAKE, 1);
  Atomics.notify(p, b + IPI_WAKE);
}

export class IpiFabric {
  private readonly p: Int32Array;
  private readonly base: number;
  /** this CPU's CSD line in v.csdMask */
  private readonly csd: number;

  constructor(
    private readonly v: MachineViews,
    private readonly self: number,
    /** tx[t]: this CPU's port to CPU t */
    private readonly tx: (MessagePort | null)[],
    /** rx[s]: CPU s's port to this CPU */
    private readonly rx: (MessagePort | null)[],
  ) {
    this.p = v.percpu;
    this.base = self * PERCPU_WORDS;
    this.csd = self * CSD_MASK_WORDS;
  }

  /** Wakes `cpu` if it sleeps on its wake word (an IPI, an ack, or a change of run state). */
  kick(cpu: number): void {
    kickCpu(this.p, cpu);
  }

  /**
   * Sleeps on this CPU's wake word for at most `ms`, unless `ready()` holds once IPI_SLEEPING is
   * set (the sleeper's half of kickCpu). Returns what `ready()` said.
   */
  private sleepUnless(ready: () => boolean, ms: number): boolean {
    const { p, base } = this;
    const seen = Atomics.load(p, base + IPI_WAKE);
    Atomics.store(p, base + IPI_SLEEPING, 1);
    const isReady = ready();
    // a kick after the store bumps the word, and the wait returns at once; in a controlled run
    // the CPU blocks instead, until a kick or its slice of steps (schedule/baton.ts)
    if (!isReady) {
      // asleep, the CPU's TLB is left to INVLPGB issuers (machine/tlbi-broadcast.ts)
      tlbQuiesce(this.v, this.self);
      if (!currentBaton()?.block(seen)) Atomics.wait(p, base + IPI_WAKE, seen, ms);
      tlbResume(this.v, this.self);
    }
    Atomics.store(p, base + IPI_SLEEPING, 0);
    return isReady;
  }

  private send(target: number, msg: IpiMessage): void {
    schedPoint(Point.IpiSend);
    this.tx[target]!.postMessage(msg);
    const tb = target * PERCPU_WORDS;
    // pairs with the exchange in takeInterrupts: the message is on the port before the bit is seen
    Atomics.or(this.p, tb + IPI_MASK + (this.self >>> 5), 1 << (this.self & 31));
    Atomics.store(this.p, tb + IPI_PENDING, 1);
    this.kick(target);
  }

  /**
   * The INVLPGBs other CPUs posted since this CPU last looked, applied to its TLB: hardware work,
   * done at every interrupt point and in every wait, IRQs on or off (machine/tlbi-broadcast.ts).
   */
  takeBroadcastInvalidations(): void {
    if (!broadcastPending(this.v, this.self)) return;
    this.v.counters[this.self * COUNTER_STRIDE + Counter.TlbEntriesInvalidated] += applyBroadcastPending(this.v, this.self);
  }

  /**
   * A stall of `ms` (the noise of a race window): the CPU runs no instruction meanwhile, IRQs as
   * they were, but its TLB still takes the INVLPGBs of other CPUs, as hardware does.
   */
  stall(ms: number): void {
    const end = performance.now() + ms;
    for (let left = ms; left > 0; left = end - performance.now()) {
      this.takeBroadcastInvalidations();
      this.sleepUnless(() => broadcastPending(this.v, this.self), left);
    }
    this.takeBroadcastInvalidations();
  }

  hasPendingIpi(): boolean {
    return Atomics.load(this.p, this.base + IPI_PENDING) !== 0;
  }

  /** The doorbell check of an interrupt point. The caller has IRQs on. */
  takeInterrupts(cpu: IpiCpu): void {
    const { p, base } = this;
    if (Atomics.load(p, base + IPI_PENDING) === 0) return;
    // clear the summary before reading the mask: a bit set after the exchange raises it again
    Atomics.store(p, base + IPI_PENDING, 0);
    for (let w = 0; w < CPUMASK_WORDS; w++) {
      let bits = Atomics.exchange(p, base + IPI_MASK + w, 0);
      while (bits !== 0) {
        const bit = bits & -bits;
        bits ^= bit;
        const from = w * 32 + (31 - Math.clz32(bit));
        const port = this.rx[from]!;
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
          cpu.runIpi(from, m.message as IpiMessage);
        }
      }
    }
  }

  /** Drops messages a torn-down run left on this CPU's ports; the doorbell was cleared with it. */
  discardStaleMessages(): void {
    for (const port of this.rx) if (port) while (receiveMessageOnPort(port) !== undefined);
  }

  /** csd_unlock: tells `sender` this CPU has run its function. */
  ack(sender: number): void {
    schedPoint(Point.IpiAck);
    // pairs with the sender's load of CSD_PENDING: everything the handler did is visible first
    Atomics.and(this.v.csdMask, sender * CSD_MASK_WORDS + CSD_PENDING + (this.self >>> 5), ~(1 << (this.self & 31)));
    this.kick(sender);
  }

  /**
   * smp_call_function_many(targets, func, wait=true), with the local CPU's function run in
   * between when `runLocal` is set. Returns when every target has run the function.
   * Returns the number of IPIs sent; the wait, when there was one, goes to trace/waits.ts.
   */
  smpCallFunctionMany(cpu: IpiCpu, targets: CpuMask, msg: IpiMessage, runLocal: boolean): number {
    const { v } = this;
    const remote = new CpuMask().or(targets).clear(this.self);
    const n = remote.weight();
    // the initiator's wait, timed only when someone is waited for
    const t0 = n > 0 ? performance.now() : 0;
    // the pending mask is complete before any target can ack
    Atomics.store(v.csdMask, this.csd + CSD_PENDING, remote.w0);
    Atomics.store(v.csdMask, this.csd + CSD_PENDING + 1, remote.w1);
    for (let t = remote.next(-1); t >= 0; t = remote.next(t)) {
      traceEvent(v, this.self, Ev.IpiSend, t, msg);
      this.send(t, msg);
    }
    v.counters[this.self * COUNTER_STRIDE + Counter.IpisSent] += n;
    if (runLocal) cpu.runLocal(msg);
    if (n > 0) {
      this.csdWait(cpu, remote);
      recordWait(v, this.self, (performance.now() - t0) * 1000);
    }
    return n;
  }

  private csdPendingEmpty(): boolean {
    const m = this.v.csdMask;
    return Atomics.load(m, this.csd + CSD_PENDING) === 0 && Atomics.load(m, this.csd + CSD_PENDING + 1) === 0;
  }

  /** csd_lock_wait for every target, taking this CPU's own IPIs meanwhile. */
  private csdWait(cpu: IpiCpu, targets: CpuMask): void {
    const { p, base, v } = this;
    const prevActivity = p[base + ST_ACTIVITY];
    p[base + ST_ACTIVITY] = Activity.CsdWait;
    p[base + ST_WAITING_ON] = targets.w0;
    p[base + ST_WAITING_ON + 1] = targets.w1;
    traceEvent(v, this.self, Ev.CsdWait, targets.w0, targets.w1);
    // a controlled run has nobody to spin for: the targets run when this CPU blocks
    let spins = currentBaton() === null ? 0 : CSD_SPINS;
    let since = 0;
    for (;;) {
      if (this.csdPendingEmpty()) break;
      this.takeBroadcastInvalidations();
      if (cpu.irqsOn) this.takeInterrupts(cpu);
      cpu.checkAbort();
      if (spins < CSD_SPINS) {
        spins++;
        continue;
      }
      if (since === 0) since = performance.now();
      this.sleepUnless(() => this.csdPendingEmpty() || (cpu.irqsOn && this.hasPendingIpi()) || broadcastPending(this.v, this.self), SLEEP_SLICE_MS);
      if (performance.now() - since > cpu.csdLockTimeoutMs && !this.csdPendingEmpty()) {
        throw this.watchdog(cpu, 'csd_lock_wait: ', CpuMask.load(this.v.csdMask, this.csd + CSD_PENDING).toArray(), 'to run its IPI');
      }
    }
    p[base + ST_WAITING_ON] = 0;
    p[base + ST_WAITING_ON + 1] = 0;
    p[base + ST_ACTIVITY] = prevActivity;
    traceEvent(v, this.self, Ev.CsdDone);
  }

  /** The watchdog's error for a wait of this CPU on the CPUs `stuck`, with the state of each. */
  private watchdog(cpu: IpiCpu, wait: string, stuck: number[], what: string): CsdLockTimeoutError {
    const states = [this.self, ...stuck].map((c) => readCpuStatus(this.v, c));
    const lines = states.map(formatCpuStatus).join('\n  ');
    return new CsdLockTimeoutError(
      `${wait}CPU ${this.self} waited more than ${cpu.csdLockTimeoutMs} ms for CPU${stuck.length > 1 ? 's' : ''} ${stuck.join(',')} ${what}\n  ${lines}`,
      { waiter: this.self, stuck, cpus: states },
    );
  }

  /**
   * Sleeps until `done()` holds, taking IPIs: the idle loop of a CPU with nothing to run, and the
   * wait for a contended lock. Whoever makes `done()` true must kick this CPU; a sleep lasts at
   * most `sliceMs` before everything is looked at again. Returns as soon as `done()` returns true,
   * so `done()` may be a try-lock.
   */
  idleUntil(cpu: IpiCpu, done: () => boolean, sliceMs = SLEEP_SLICE_MS): void {
    let isDone = false;
    const ready = (): boolean => (isDone = done()) || (cpu.irqsOn && this.hasPendingIpi()) || broadcastPending(this.v, this.self);
    for (;;) {
      this.takeBroadcastInvalidations();
      if (cpu.irqsOn) this.takeInterrupts(cpu);
      cpu.checkAbort();
      if (done()) return;
      this.sleepUnless(ready, sliceMs);
      if (isDone) return;
    }
  }

  /**
   * Waits in an instruction (TLBSYNC, or an INVLPGB whose ring is full) until `done()` holds: no
   * IPI is taken, but the INVLPGBs of other CPUs are applied meanwhile, as the hardware does. The
   * CPUs it waits for kick it. A wait longer than the CSD-lock watchdog allows fails the run.
   */
  hardwareWait(cpu: IpiCpu, done: () => boolean): void {
    let since = 0;
    for (;;) {
      this.takeBroadcastInvalidations();
      cpu.checkAbort();
      if (done()) return;
      if (since === 0) since = performance.now();
      else if (performance.now() - since > cpu.csdLockTimeoutMs) throw this.watchdog(cpu, '', broadcastLagging(this.v, this.self), 'to apply its INVLPGBs');
      // the CPUs asleep take our INVLPGBs from us; the others, at their next interrupt point
      this.v.counters[this.self * COUNTER_STRIDE + Counter.TlbEntriesInvalidated] += applyBroadcastForSleepers(this.v, this.self);
      if (done()) return;
      // In a controlled run every other CPU is parked, or on its way there, or outside the baton:
      // the wait ends without anyone else running, and must not be a decision of the scheduler
      // (how long a CPU takes to park is the host's, and would change the schedule).
      if (currentBaton() !== null) Atomics.wait(this.p, this.base + IPI_WAKE, Atomics.load(this.p, this.base + IPI_WAKE), 0.05);
      else this.sleepUnless(() => done() || broadcastPending(this.v, this.self), SLEEP_SLICE_MS);
    }
  }
}
