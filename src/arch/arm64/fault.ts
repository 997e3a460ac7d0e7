/*
 * arm64's __ptep_set_access_flags (arch/arm64/mm/fault.c; before the contiguous-PTE wrappers it
 * was ptep_set_access_flags itself): the last step of handle_pte_fault for a present PTE on a CPU
 * that does not manage the access flag or the dirty state in hardware (no FEAT_HAFDBS, or an
 * agent that walks without it). The fault path hands it `entry`, the PTE it read under the PTL
 * made young (pte_mkyoung) and, for a write to a writable PTE, dirty (pte_mkdirty: PTE_DIRTY set
 * and PTE_RDONLY cleared).
 *
 *   - nothing to do when the PTE already equals `entry` (pte_same): returns false, and the caller
 *     takes the spurious-fault path;
 *   - else only PTE_RDONLY, PTE_AF, PTE_WRITE and PTE_DIRTY of `entry` are applied, by a cmpxchg
 *     loop, so that an A/D update another agent's walker makes meanwhile is never lost and nothing
 *     else of the PTE is touched: AF, WRITE and DIRTY are ORed in, and RDONLY is taken as the more
 *     permissive of the two (set only if both have it), i.e. the access can only widen;
 *   - when `dirty` (a write fault) flush_tlb_page: a read-only translation of the old PTE may be
 *     cached on this or another CPU ("Invalidate a stale read-only entry"; on this CPU the
 *     permission fault already removed it).
 * Returns true when the PTE changed.
 *
 * The cmpxchg never takes a bit away, so no A or D state anyone set can be lost, and it marks
 * nothing seen for the lost-bit oracle (check/lost-bits.ts): the kernel does not learn the old
 * value from it, the bits stay in the PTE.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { ptepGetNoSideEffects, tracePteChange } from '../../machine/pagetable.ts';
import { PTE_AF, PTE_DIRTY, PTE_RDONLY, PTE_WRITE } from '../../machine/pte-arm64.ts';
import { PteOp } from '../../trace/events.ts';
import { schedPoint } from '../../schedule/baton.ts';
import { Point } from '../../schedule/layout.ts';
import { flushTlbPage } from '../tlbflush.ts';

/** The bits __ptep_set_access_flags keeps of `entry`: the access flags and the write permission. */
const ACCESS_FLAGS = PTE_RDONLY | PTE_AF | PTE_WRITE | PTE_DIRTY;

/** __ptep_set_access_flags(vma, address, ptep, entry, dirty) for one PTE of `mm` at `va`. */
export function ptepSetAccessFlagsArm64(cpu: Cpu, mm: number, va: number, ptep: number, entry: number, dirty: boolean): boolean {
  const v = cpu.v;
  let pte = ptepGetNoSideEffects(v, ptep);
  if (pte === entry) return false;
  // RDONLY inverted, so that ORing it in keeps the more permissive value (a & b == ~(~a | ~b))
  const bits = (entry & ACCESS_FLAGS) ^ PTE_RDONLY;
  schedPoint(Point.PteWrite);
  for (;;) {
    const want = ((pte ^ PTE_RDONLY) | bits) ^ PTE_RDONLY;
    // races with another agent's hardware A/D update: retry with what it wrote
    const seen = Atomics.compareExchange(v.phys, ptep, pte, want);
    if (seen === pte) {
      tracePteChange(v, cpu.id, PteOp.SetAccessFlags, ptep, pte, want);
      break;
    }
    pte = seen;
  }
  // invalidate a stale read-only entry
  if (dirty) flushTlbPage(cpu, mm, va);
  return true;
}
