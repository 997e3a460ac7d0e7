/*
 * Address-space switching as the kernel calls it (asm/mmu_context.h): each function forwards to
 * the run's arch code (cpu.archOps). Scenarios use switchMm and enterLazyTlb to put a CPU on an mm.
 *
 *   switchMm        switch_mm: load `next` (init_mm to run no user mm); afterwards cpu.cr3,
 *                   cpu.pcid and cpu.mm describe it, and no entry of an earlier use of the
 *                   TLB tag is left to be hit
 *   enterLazyTlb    enter_lazy_tlb: a kernel thread keeps the user mm's tables loaded
 *   destroyContext  destroy_context: the mm is gone; release what the arch holds for it
 */
import type { Cpu } from '../cpu/cpu.ts';

export function switchMm(cpu: Cpu, next: number): void {
  cpu.archOps.switchMm(cpu, next);
}

export function enterLazyTlb(cpu: Cpu): void {
  cpu.archOps.enterLazyTlb(cpu);
}

export function destroyContext(cpu: Cpu, mm: number): void {
  cpu.archOps.destroyContext(cpu, mm);
}
