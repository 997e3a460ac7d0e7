/*
 * x86's ptep_* (arch/x86/include/asm/pgtable.h, pgtable_64.h) over the primitives of
 * machine/pagetable.ts, for x86's entry of ArchOps (arch/x86/ops.ts).
 *
 * ptep_get_and_clear (native_ptep_get_and_clear, switch ptepGetAndClear) is one xchg, as arm64's
 * __ptep_get_and_clear: both are in arch/ptep-get-and-clear.ts.
 */
export { ptepGetAndClear } from '../ptep-get-and-clear.ts';
