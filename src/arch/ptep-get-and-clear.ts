/*
 * ptep_get_and_clear of an architecture whose hardware sets the accessed and dirty bits, for both
 * entries of ArchOps (arch/x86/ops.ts, arch/arm64/ops.ts) over the primitives of
 * machine/pagetable.ts.
 *
 * It is switch ptepGetAndClear: mainline's x86 native_ptep_get_and_clear
 * (arch/x86/include/asm/pgtable_64.h) and arm64 __ptep_get_and_clear (arch/arm64/include/asm/
 * pgtable.h) are one xchg; read-then-clear is include/linux/pgtable.h's generic ptep_get_and_clear
 * (ptep_get, then pte_clear), the load and plain store of 0 that loses an A or D bit the walker
 * sets in between (x86's _PAGE_ACCESSED/_PAGE_DIRTY; arm64's AF, or the PTE_RDONLY that DBM
 * clears). ptep_get_and_clear_full is the same here: x86's non-atomic clear for a fullmm teardown
 * (native_local_ptep_get_and_clear) is not modelled.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { ptepGet, ptepGetAndClear as rawPtepGetAndClear, setPte } from '../machine/pagetable.ts';
import { KernelPoint } from '../kernel/points.ts';

/** ptep_get_and_clear as switch ptepGetAndClear says: one exchange, or a load then a store of 0. */
// models arch/x86/include/asm/pgtable_64.h:native_ptep_get_and_clear, arch/arm64/include/asm/pgtable.h:__ptep_get_and_clear
export function ptepGetAndClear(cpu: Cpu, ptep: number): number {
  if (cpu.config.ptepGetAndClear === 'xchg') return rawPtepGetAndClear(cpu.v, ptep);
  const old = ptepGet(cpu.v, ptep);
  cpu.raceWindow(KernelPoint.PtepClearBetweenReadAndClear); // race window: the walker may set A or D between the read and the clear
  // a plain store of 0: setPte sees what it overwrote, and reports a bit set since the read
  // (the lost-bit oracle, check/lost-bits.ts) on this CPU
  setPte(cpu.v, ptep, 0, cpu.id);
  return old;
}
