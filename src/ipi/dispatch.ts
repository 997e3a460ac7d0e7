/*
 * The functions an IPI can carry (ipi/protocol.ts), run on the target CPU with IRQs off.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { IpiFn, csdFlushInfo, type IpiMessage } from './protocol.ts';
import { doFlushTlbAll, flushTlbFunc } from '../arch/x86/flush.ts';

export function dispatchIpi(cpu: Cpu, from: number, fn: IpiMessage): void {
  switch (fn) {
    case IpiFn.FlushTlbFunc:
      flushTlbFunc(cpu, csdFlushInfo(cpu.v, from));
      return;
    case IpiFn.DoFlushTlbAll:
      doFlushTlbAll(cpu);
      return;
    case IpiFn.TlbRemoveTableSmpSync: // nothing to do: taking the IPI proves IRQs were on
    case IpiFn.Nop:
      return;
  }
}
