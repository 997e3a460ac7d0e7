/*
 * The functions an IPI can carry (ipi/protocol.ts), run on the target CPU with IRQs off.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { IpiFn, flushTlbInfoOf, type IpiMessage } from './protocol.ts';
import { doFlushTlbAll, flushTlbFunc } from '../arch/x86/flush.ts';

export function dispatchIpi(cpu: Cpu, _from: number, msg: IpiMessage): void {
  switch (msg[0]) {
    case IpiFn.FlushTlbFunc:
      flushTlbFunc(cpu, flushTlbInfoOf(msg));
      return;
    case IpiFn.DoFlushTlbAll:
      doFlushTlbAll(cpu);
      return;
    case IpiFn.TlbRemoveTableSmpSync: // nothing to do: taking the IPI proves IRQs were on
    case IpiFn.Nop:
      return;
  }
}
