/*
 * Populating memory from the control plane before a run: anonymous pages mapped straight into an
 * mm's page tables, as a fault would map them (mm/memory.c:do_anonymous_page), without VMAs.
 */
import type { MachineViews } from '../machine/memory.ts';
import { allocFrame } from '../machine/frames.ts';
import { FrameKind, PAGE_SIZE } from '../machine/phys-layout.ts';
import { pteAlloc, setPte } from '../machine/pagetable.ts';
import { PAGE_SHARED, pfnPte } from '../machine/pte.ts';
import { mmPgd } from '../kernel/mm.ts';

/**
 * Maps `pages` zeroed anonymous pages at `base` in `mm` with protection `prot` (by default
 * PAGE_SHARED of the run's architecture: user, writable, clean, old on x86). Returns their PFNs.
 */
export function mapAnonPages(v: MachineViews, cpu: number, mm: number, base: number, pages: number, prot = PAGE_SHARED): number[] {
  const pgd = mmPgd(v, mm);
  const pfns: number[] = [];
  for (let i = 0; i < pages; i++) {
    const va = base + i * PAGE_SIZE;
    // page->index of an anonymous page is its VPN: the rmap finds the mapping from it
    const pfn = allocFrame(v, cpu, FrameKind.Anon, mm, va / PAGE_SIZE, true);
    const ptep = pteAlloc(v, cpu, pgd, va, mm);
    if (pfn === 0 || ptep < 0) throw new RangeError(`out of memory mapping page ${i} of ${pages}`);
    setPte(v, ptep, pfnPte(pfn, prot));
    pfns.push(pfn);
  }
  return pfns;
}
