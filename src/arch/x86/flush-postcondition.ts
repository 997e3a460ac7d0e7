/*
 * x86's postcondition of a synced flush (flushTlbMmRange returned), checked from outside the CPUs
 * (ArchOps.flushPostcondition; check/flush-postcondition.ts dispatches here):
 *
 *  1. every CPU that has the mm loaded and is not lazy has caught up to the flush's generation;
 *  2. no CPU whose ASID for the mm claims that generation (or a later one) holds an entry for a
 *     page of the range that disagrees with the page table: a translation to another frame, one
 *     for a page no longer present, or a writable one for a page no longer writable.
 *
 * A CPU whose ASID is behind (lazy, or switched away) may hold stale entries: it flushes them when
 * it next loads the mm, and is not in violation. So may a vCPU that a paravirt flush left to the
 * host (x86TlbFlush=kvm-pv, arch/x86/kvm.ts): the host flushes its whole TLB before it runs guest
 * code again, and the guest's generations never learn of it; once the host did, after the flush's
 * generation, the vCPU is held to (2) as if it had caught up. An mm with a global ASID
 * (x86TlbFlush=invlpgb) is flushed by broadcast on every CPU, running it or not: no CPU may hold
 * a stale entry under that ASID, and a CPU running the mm on it has no generation to be behind
 * with. Only valid while the PTEs of the range are stable.
 * It is flush_tlb_mm_range's own contract, which mainline keeps by waiting in
 * smp_call_function_many until every CPU in mm_cpumask that is not lazy ran flush_tlb_func.
 */
import type { MachineViews } from '../../machine/memory.ts';
import type { FlushViolation } from '../../check/flush-postcondition.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { pteAtNoSideEffects } from '../../machine/pagetable.ts';
import { formatPte, ptePfn, ptePresent, pteWrite } from '../../machine/pte.ts';
import { tlbEntriesForVpn } from '../../machine/tlb.ts';
import { PERCPU_WORDS, TLBSTATE_BASE } from '../../cpu/percpu-layout.ts';
import { TLB_NR_DYN_ASIDS, TS_CTX_GEN, TS_CTX_ID, TS_IS_LAZY, TS_LOADED_ASID, TS_LOADED_MM, kernPcid } from './tlbstate-layout.ts';
import { mmCtxId, mmPgd } from '../../kernel/mm.ts';
import { globalAsidOf } from './broadcast.ts';
import { hostFlushCovers } from './kvm.ts';

/** The first CPU that breaks (1) or (2) after a flush of [start, end) of `mm` at generation `flushGen`, or null. */
export function x86FlushPostcondition(v: MachineViews, mm: number, start: number, end: number, flushGen: number): FlushViolation | null {
  const ctxId = mmCtxId(v, mm);
  const global = globalAsidOf(v, mm);
  for (let cpu = 0; cpu < v.nrCpus; cpu++) {
    const ts = cpu * PERCPU_WORDS + TLBSTATE_BASE;
    const onGlobal = global !== 0 && Atomics.load(v.percpu, ts + TS_LOADED_ASID) === global;
    if (global !== 0) {
      const stale = staleEntry(v, mm, cpu, kernPcid(global), start, end);
      if (stale) return { cpu, va: stale.va, what: `${stale.what} under the global ASID ${global}` };
    }
    for (let asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
      if (Atomics.load(v.percpu, ts + TS_CTX_ID + asid) !== ctxId) continue;
      const gen = Atomics.load(v.percpu, ts + TS_CTX_GEN + asid);
      if (gen < flushGen) {
        const loaded = Atomics.load(v.percpu, ts + TS_LOADED_MM) === mm;
        const lazy = Atomics.load(v.percpu, ts + TS_IS_LAZY) !== 0;
        if (!loaded || lazy || onGlobal) continue;
        // a vCPU the host will flush, or flushed since this flush's generation (kvm-pv)
        const host = hostFlushCovers(v, cpu, mm, flushGen);
        if (host === 'pending') continue;
        if (host === 'no') return { cpu, va: start, what: `runs mm ${mm} at tlb_gen ${gen}, behind the flush's ${flushGen}` };
      }
      const stale = staleEntry(v, mm, cpu, kernPcid(asid), start, end);
      if (stale) return { cpu, va: stale.va, what: `${stale.what} at tlb_gen ${gen}${gen < flushGen ? `, the host's flush of the vCPU after ${flushGen}` : ` >= ${flushGen}`}` };
    }
  }
  return null;
}

/** The first entry of `cpu` under `pcid` for a page of [start, end) that disagrees with the page table. */
function staleEntry(v: MachineViews, mm: number, cpu: number, pcid: number, start: number, end: number): { va: number; what: string } | null {
  const pgd = mmPgd(v, mm);
  for (let va = start; va < end; va += PAGE_SIZE) {
    const pte = pteAtNoSideEffects(v, pgd, va);
    for (const e of tlbEntriesForVpn(v.tlb, cpu, (va / PAGE_SIZE) | 0)) {
      if (e.pcid !== pcid) continue;
      if (!ptePresent(pte) || ptePfn(pte) !== e.pfn || (e.write && !pteWrite(pte))) {
        return { va, what: `TLB entry pfn=0x${e.pfn.toString(16)}${e.write ? ' writable' : ''}, but the PTE is ${formatPte(pte)}` };
      }
    }
  }
  return null;
}
