/*
 * A CPU's state as other threads see it: what the watchdog and the violation reports print.
 * Reads the status line of the per-CPU region and the x86 TLB state, never the CPU's own objects.
 */
import type { MachineViews } from '../machine/memory.ts';
import {
  ACTIVITY_NAMES, PERCPU_WORDS, ST_ACTIVITY, ST_IPI_FN, ST_IRQ_OFF_SINCE, ST_IRQS_ON, ST_OPS, ST_WAIT, ST_WAIT_ARG, ST_WAITING_ON, TLBSTATE_BASE, IPI_PENDING, WAIT_NAMES, Wait,
} from './percpu-layout.ts';
import { KERNEL_POINT_NAMES } from '../kernel/points.ts';
import { TS_IS_LAZY, TS_LOADED_ASID, TS_LOADED_MM } from '../arch/x86/tlbstate-layout.ts';
import { CpuMask } from './cpumask.ts';
import { IPI_FN_NAMES } from '../ipi/protocol.ts';
import { readEvents, type TraceRecord } from '../trace/events.ts';

export interface CpuStatus {
  cpu: number;
  irqsEnabled: boolean;
  activity: string;
  ops: number;
  /** user operations retired since IRQs were last disabled, when they are off */
  opsWithIrqsOff: number | null;
  runningIpi: string | null;
  ipiPending: boolean;
  waitingOn: number[];
  /** what an idle wait waits for (Cpu.idleUntil), null when the CPU is not in one */
  waitingFor: string | null;
  loadedMm: number;
  loadedAsid: number;
  lazy: boolean;
  lastEvents: TraceRecord[];
}

export function readCpuStatus(v: MachineViews, cpu: number, events = 16): CpuStatus {
  const p = v.percpu;
  const b = cpu * PERCPU_WORDS;
  const irqsEnabled = Atomics.load(p, b + ST_IRQS_ON) !== 0;
  const ops = Atomics.load(p, b + ST_OPS);
  const fn = Atomics.load(p, b + ST_IPI_FN);
  return {
    cpu,
    irqsEnabled,
    activity: ACTIVITY_NAMES[Atomics.load(p, b + ST_ACTIVITY)] ?? 'unknown',
    ops,
    opsWithIrqsOff: irqsEnabled ? null : ops - Atomics.load(p, b + ST_IRQ_OFF_SINCE),
    runningIpi: fn > 0 ? (IPI_FN_NAMES[fn] ?? String(fn)) : null,
    ipiPending: Atomics.load(p, b + IPI_PENDING) !== 0,
    waitingOn: CpuMask.load(p, b + ST_WAITING_ON).toArray(),
    waitingFor: waitingFor(Atomics.load(p, b + ST_WAIT), Atomics.load(p, b + ST_WAIT_ARG)),
    loadedMm: Atomics.load(p, b + TLBSTATE_BASE + TS_LOADED_MM),
    loadedAsid: Atomics.load(p, b + TLBSTATE_BASE + TS_LOADED_ASID),
    lazy: Atomics.load(p, b + TLBSTATE_BASE + TS_IS_LAZY) !== 0,
    lastEvents: readEvents(v, [cpu], events),
  };
}

function waitingFor(wait: number, arg: number): string | null {
  if (wait === Wait.None) return null;
  if (wait === Wait.KernelPoint) return `kernel point ${KERNEL_POINT_NAMES[arg] ?? arg}`;
  if (wait === Wait.Barrier) return `smpBarrier (generation ${arg})`;
  return WAIT_NAMES[wait] ?? `wait ${wait}`;
}

export function formatCpuStatus(s: CpuStatus): string {
  const irq = s.irqsEnabled ? 'IRQs on' : `IRQs off for ${s.opsWithIrqsOff} ops`;
  const ipi = s.runningIpi ? `, in IPI ${s.runningIpi}` : '';
  const wait = (s.waitingOn.length ? `, waiting on CPUs ${s.waitingOn.join(',')}` : '') + (s.waitingFor ? `, waiting for ${s.waitingFor}` : '');
  return `CPU ${s.cpu}: ${s.activity}, ${irq}${ipi}${wait}, IPI pending: ${s.ipiPending ? 'yes' : 'no'}, mm ${s.loadedMm}${s.lazy ? ' (lazy)' : ''}`;
}
