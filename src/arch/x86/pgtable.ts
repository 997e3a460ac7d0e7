/*
 * x86's ptep_* (arch/x86/include/asm/pgtable.h, pgtable_64.h) over the primitives of
 * machine/pagetable.ts, for x86's entry of ArchOps (arch/x86/ops.ts).
 *
 * ptep_get_and_clear is switch ptepGetAndClear: mainline's native_ptep_get_and_clear is one xchg;
 * read-then-clear is the load and plain store of 0 that loses an A or D bit the walker sets in
 * between. ptep_get_and_clear_full is the same here: mainline's non-atomic clear for a fullmm
 * teardown (native_local_ptep_get_and_clear) is not modelled.
 *
 * ptep_set_access_flags (arch/x86/mm/pgtable.c) stores the fault's entry only for a write fault:
 * the hardware sets A (and D) itself, so a read fault has nothing to store.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { ptepGet, ptepGetAndClear as rawPtepGetAndClear, setPte } from '../../machine/pagetable.ts';
import { KernelPoint } from '../../kernel/points.ts';

/** ptep_get_and_clear as switch ptepGetAndClear says: one exchange, or a load then a store of 0. */
// models arch/x86/include/asm/pgtable_64.h:native_ptep_get_and_clear
export function ptepGetAndClear(cpu: Cpu, ptep: number): number {
  if (cpu.config.ptepGetAndClear === 'xchg') return rawPtepGetAndClear(cpu.v, ptep);
  const old = ptepGet(cpu.v, ptep);
  cpu.raceWindow(KernelPoint.PtepClearBetweenReadAndClear); // race window: the walker may set A or D between the read and the clear
  // a plain store of 0: setPte sees what it overwrote, and reports a bit set since the read
  // (the lost-bit oracle, check/lost-bits.ts) on this CPU
  setPte(cpu.v, ptep, 0, cpu.id);
  return old;
}

/** ptep_set_access_flags: whether `entry` differs from the PTE; stored if so on a write fault (`dirty`). */
// models arch/x86/mm/pgtable.c:ptep_set_access_flags
export function ptepSetAccessFlags(cpu: Cpu, ptep: number, entry: number, dirty: boolean): boolean {
  const changed = ptepGet(cpu.v, ptep) !== entry;
  if (changed && dirty) setPte(cpu.v, ptep, entry, cpu.id);
  return changed;
}
