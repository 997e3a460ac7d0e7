/*
 * The functions an IPI can carry (ipi/protocol.ts), run on the target CPU with IRQs off.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { IpiMessage } from './protocol.ts';
import { doFlushTlbAll, flushTlbFunc } from '../arch/x86/flush.ts';

export function dispatchIpi(cpu: Cpu, _from: number, msg: IpiMessage): void {
  switch (msg.fn) {
    case 'flushTlbFunc':
      flushTlbFunc(cpu, msg.info);
      return;
    case 'doFlushTlbAll':
      doFlushTlbAll(cpu);
      return;
    case 'tlbRemoveTableSmpSync': // nothing to do: taking the IPI proves IRQs were on
    case 'nop':
      return;
  }
}
