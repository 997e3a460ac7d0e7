/*
 * x86's ptep_* (arch/x86/include/asm/pgtable.h, pgtable_64.h) over the primitives of
 * machine/pagetable.ts, for x86's entry of ArchOps (arch/x86/ops.ts).
 *
 * ptep_get_and_clear (native_ptep_get_and_clear, switch ptepGetAndClear) is one xchg, as arm64's
 * __ptep_get_and_clear: both are in arch/ptep-get-and-clear.ts.
 *
 * ptep_set_access_flags (arch/x86/mm/pgtable.c) stores the fault's entry only for a write fault:
 * the hardware sets A (and D) itself, so a read fault has nothing to store.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { ptepGet, setPte } from '../../machine/pagetable.ts';

export { ptepGetAndClear } from '../ptep-get-and-clear.ts';

/** ptep_set_access_flags: whether `entry` differs from the PTE; stored if so on a write fault (`dirty`). */
// models arch/x86/mm/pgtable.c:ptep_set_access_flags
export function ptepSetAccessFlags(cpu: Cpu, ptep: number, entry: number, dirty: boolean): boolean {
  const changed = ptepGet(cpu.v, ptep) !== entry;
  if (changed && dirty) setPte(cpu.v, ptep, entry, cpu.id);
  return changed;
}
