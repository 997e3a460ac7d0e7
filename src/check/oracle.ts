/*
 * The oracles: rules checked at the moment of the access, on the CPU that makes it, so that a
 * report points at the access that broke the rule. An oracle never trusts a flag a kernel path
 * sets about itself; it looks at what the hardware did.
 *
 *   use-after-free   an access completed through a TLB entry whose frame generation differs from
 *                    the frame's: the frame was freed (and maybe reused) while the translation
 *                    was still cached. Checked on every TLB hit, one plain read.
 *   access after return   an access through a translation that a munmap, madvise or mprotect
 *                    already returned from removing or demoting (promises.ts). Every TLB hit
 *                    compares its epoch with its mm's promise count, one plain read.
 *   lost write       a store lands on a page-cache page that is clean and that no dirty PTE
 *                    maps: writeback will never see it. Checked on stores through file entries.
 *   freed-table walk a page walk starts from a paging-structure-cache entry whose table frame
 *                    was freed since, or GUP-fast walks a table freed under it.
 *
 * A violation is recorded in the shared violation log (violation-layout.ts) and as an event in the
 * CPU's ring; the access itself completes, as it would on hardware.
 */
import type { MachineViews } from '../machine/memory.ts';
import { G_TRACE_SEQ } from '../machine/globals-layout.ts';
import { Ev, traceEvent } from '../trace/events.ts';
import { FRAME_META_WORDS, META_FLAGS, PAGE_SIZE, PG_DIRTY } from '../machine/phys-layout.ts';
import { pteOffset, ptepGet } from '../machine/pagetable.ts';
import { pteDirty, ptePfn, ptePresent } from '../machine/pte.ts';
import { MAX_VIOLATIONS, V_BASE, V_COUNT, VR_A0, VR_CPU, VR_KIND, VR_SEQ, VR_VPN, VR_WORDS } from './violation-layout.ts';

export const enum ViolationKind {
  UseAfterFree = 1,
  AccessAfterReturn = 2,
  LostWrite = 3,
  FreedTableWalk = 4,
}

export const VIOLATION_KIND_NAMES: Record<number, string> = {
  [ViolationKind.UseAfterFree]: 'use-after-free',
  [ViolationKind.AccessAfterReturn]: 'access-after-return',
  [ViolationKind.LostWrite]: 'lost-write',
  [ViolationKind.FreedTableWalk]: 'freed-table-walk',
};

/** Records a violation seen on `cpu` at `vpn`; `a0..a3` are the kind's details. */
export function reportViolation(v: MachineViews, cpu: number, kind: ViolationKind, vpn: number, a0: number, a1: number, a2: number, a3: number): void {
  traceEvent(v, cpu, Ev.Violation, kind, vpn, a0, a1);
  const n = Atomics.add(v.violations, V_COUNT, 1);
  if (n >= MAX_VIOLATIONS) return;
  const r = V_BASE + n * VR_WORDS;
  v.violations[r + VR_KIND] = kind;
  v.violations[r + VR_CPU] = cpu;
  v.violations[r + VR_SEQ] = Atomics.load(v.globals, G_TRACE_SEQ) - 1;
  v.violations[r + VR_VPN] = vpn;
  v.violations[r + VR_A0] = a0;
  v.violations[r + VR_A0 + 1] = a1;
  v.violations[r + VR_A0 + 2] = a2;
  v.violations[r + VR_A0 + 3] = a3;
}

export interface Violation {
  kind: string;
  cpu: number;
  seq: number;
  va: number;
  details: number[];
}

export function violationCount(v: MachineViews): number {
  return Atomics.load(v.violations, V_COUNT);
}

/** The recorded violations, in the order they were claimed. Read after the run. */
export function readViolations(v: MachineViews): Violation[] {
  const n = Math.min(MAX_VIOLATIONS, violationCount(v));
  return Array.from({ length: n }, (_, i) => {
    const r = V_BASE + i * VR_WORDS;
    return {
      kind: VIOLATION_KIND_NAMES[v.violations[r + VR_KIND]] ?? `kind-${v.violations[r + VR_KIND]}`,
      cpu: v.violations[r + VR_CPU],
      seq: v.violations[r + VR_SEQ],
      va: v.violations[r + VR_VPN] * 4096,
      details: Array.from(v.violations.subarray(r + VR_A0, r + VR_A0 + 4)),
    };
  });
}

/**
 * The lost-write oracle, for a store about to land on page-cache frame `pfn` at `vpn`: the page
 * must be dirty, or mapped here by a dirty PTE that writeback's folio_mkclean will find.
 */
export function checkFileStore(v: MachineViews, cpu: number, cr3: number, vpn: number, pfn: number): void {
  if ((Atomics.load(v.frameMeta, pfn * FRAME_META_WORDS + META_FLAGS) & PG_DIRTY) !== 0) return;
  const ptep = pteOffset(v, cr3, vpn * PAGE_SIZE);
  const pte = ptep < 0 ? 0 : ptepGet(v, ptep);
  if (ptePresent(pte) && ptePfn(pte) === pfn && pteDirty(pte)) return;
  reportViolation(v, cpu, ViolationKind.LostWrite, vpn, pfn, pte, 0, 0);
}
