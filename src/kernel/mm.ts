/*
 * mm_struct in shared memory (layout in mm-layout.ts): the page-table root, context.ctx_id,
 * context.tlb_gen and mm_cpumask. Kernel objects hang off the mm by its id (its slot number).
 */
import type { MachineViews } from '../machine/memory.ts';
import { pgdAlloc } from '../machine/pagetable.ts';
import { G_NEXT_CTX_ID } from '../machine/globals-layout.ts';
import { CpuMask } from '../cpu/cpumask.ts';
import { INIT_MM, MAX_MMS, MM_CPUMASK, MM_CTX_ID, MM_PGD, MM_TLB_GEN, MM_USERS, MM_WORDS } from './mm-layout.ts';

export const mmBase = (mm: number): number => mm * MM_WORDS;

/** Sets up init_mm: the kernel's own mm, with a PGD that maps no user address. */
export function initInitMm(v: MachineViews, cpu: number): void {
  const b = mmBase(INIT_MM);
  v.mm[b + MM_PGD] = pgdAlloc(v, cpu, INIT_MM);
  v.mm[b + MM_CTX_ID] = Atomics.add(v.globals, G_NEXT_CTX_ID, 1) + 1;
  Atomics.store(v.mm, b + MM_USERS, 1);
}

/** mm_alloc + init_new_context: a fresh mm with its own PGD and a never-used ctx_id. */
export function mmAlloc(v: MachineViews, cpu: number): number {
  for (let mm = 1; mm < MAX_MMS; mm++) {
    const b = mmBase(mm);
    if (Atomics.compareExchange(v.mm, b + MM_USERS, 0, 1) !== 0) continue;
    const pgd = pgdAlloc(v, cpu, mm);
    if (pgd === 0) {
      Atomics.store(v.mm, b + MM_USERS, 0);
      throw new RangeError('out of memory allocating a PGD');
    }
    v.mm[b + MM_PGD] = pgd;
    v.mm[b + MM_CTX_ID] = Atomics.add(v.globals, G_NEXT_CTX_ID, 1) + 1;
    Atomics.store(v.mm, b + MM_TLB_GEN, 0);
    Atomics.store(v.mm, b + MM_CPUMASK, 0);
    Atomics.store(v.mm, b + MM_CPUMASK + 1, 0);
    return mm;
  }
  throw new RangeError(`no free mm slot (at most ${MAX_MMS - 1} mms)`);
}

export function mmPgd(v: MachineViews, mm: number): number {
  return v.mm[mmBase(mm) + MM_PGD];
}

export function mmCtxId(v: MachineViews, mm: number): number {
  return v.mm[mmBase(mm) + MM_CTX_ID];
}

/** atomic64_read(&mm->context.tlb_gen) */
export function mmTlbGen(v: MachineViews, mm: number): number {
  return Atomics.load(v.mm, mmBase(mm) + MM_TLB_GEN);
}

/**
 * inc_mm_tlb_gen: a full barrier that orders the caller's page-table changes before any CPU that
 * reads the new generation (switch_mm, flush_tlb_func) decides it is up to date.
 */
export function incMmTlbGen(v: MachineViews, mm: number): number {
  return Atomics.add(v.mm, mmBase(mm) + MM_TLB_GEN, 1) + 1;
}

/** A snapshot of mm_cpumask(mm). */
export function mmCpumask(v: MachineViews, mm: number): CpuMask {
  return CpuMask.load(v.mm, mmBase(mm) + MM_CPUMASK);
}

export function mmCpumaskIndex(mm: number): number {
  return mmBase(mm) + MM_CPUMASK;
}
