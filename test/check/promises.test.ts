/*
 * The promise oracle's judgement of TLB entries by when they were filled (check/promises.ts), with
 * the system call's start, the fill and the return placed by hand in the global sequence.
 */
import { describe, expect, it } from 'vitest';
import { createMachineMemory, viewsOf, type MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU, allocFrame, initFrames } from '../../src/machine/frames.ts';
import { FrameKind, PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { pteAlloc, setPte, vpnOf } from '../../src/machine/pagetable.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_USER, mkPte } from '../../src/machine/pte-x86.ts';
import { G_TRACE_SEQ } from '../../src/machine/globals-layout.ts';
import { mmAlloc, mmFree, mmPgd } from '../../src/kernel/mm.ts';
import { PROMISE_COUNT_MASK } from '../../src/kernel/mm-layout.ts';
import { PromiseKind, checkPromises, foreignEpochMm, makePromise, promiseCountIndex, promiseStart } from '../../src/check/promises.ts';
import { readViolations, violationCount } from '../../src/check/oracle.ts';
import { TLBF_DIRTY, TLBF_USER, TLBF_VALID, TLBF_WRITE } from '../../src/machine/tlb-layout.ts';

const CPU = 1;
const VA = 2 ** 37;
const VPN = vpnOf(VA);

interface World {
  v: MachineViews;
  mm: number;
  ptep: number;
  pfn: number;
}

/** An mm whose page at VA is read-only now (what mprotect(PROT_READ) left), the sequence at `seq`. */
function world(seq = 1000): World {
  const v = viewsOf(createMachineMemory(2, 64));
  initFrames(v);
  v.globals[G_TRACE_SEQ] = seq;
  const mm = mmAlloc(v, CONTROL_CPU);
  const pfn = allocFrame(v, CONTROL_CPU, FrameKind.Anon, mm, VPN, true);
  const ptep = pteAlloc(v, CONTROL_CPU, mmPgd(v, mm), VA, mm);
  setPte(v, ptep, mkPte(pfn, _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY), CONTROL_CPU);
  return { v, mm, ptep, pfn };
}

const now = (w: World) => Atomics.load(w.v.globals, G_TRACE_SEQ);
const WRITABLE = TLBF_VALID | TLBF_WRITE | TLBF_USER | TLBF_DIRTY;
/** A store hits a writable entry for VA filled at `fillSeq` with promise epoch 0. */
const storeHit = (w: World, fillSeq: number) => checkPromises(w.v, CPU, w.mm, VPN, w.pfn, true, 0, fillSeq, WRITABLE);

/** A call of `kind` over VA's page; `during` runs between its start and its return; returns the fill stamp `during` gave. */
function call(w: World, kind: PromiseKind, during: () => number): number {
  const since = promiseStart(w.v);
  const fill = during();
  makePromise(w.v, w.mm, VA, VA + PAGE_SIZE, kind, since);
  return fill;
}

describe('the promise oracle and entries filled while the call ran', () => {
  it('judges a writable entry filled before mprotect(PROT_READ) started', () => {
    const w = world();
    const fill = now(w);
    call(w, PromiseKind.WriteProtected, () => 0);
    storeHit(w, fill);
    expect(readViolations(w.v).map((x) => [x.kind, x.cpu, x.va])).toEqual([['access-after-return', CPU, VA]]);
  });

  it('judges a writable entry refilled inside mprotect(PROT_READ) (the walker set D in its window)', () => {
    const w = world();
    const fill = call(w, PromiseKind.WriteProtected, () => now(w));
    storeHit(w, fill);
    expect(readViolations(w.v)).toMatchObject([{ kind: 'access-after-return', details: [PromiseKind.WriteProtected, w.pfn, expect.any(Number), 1, WRITABLE] }]);
  });

  it('does not judge an entry filled after mprotect returned', () => {
    const w = world();
    call(w, PromiseKind.WriteProtected, () => 0);
    storeHit(w, now(w));
    expect(violationCount(w.v)).toBe(0);
  });

  it('does not judge an entry filled while a MADV_DONTNEED or munmap ran: a fault may have mapped it', () => {
    for (const kind of [PromiseKind.Zapped, PromiseKind.Unmapped]) {
      const w = world();
      Atomics.store(w.v.phys, w.ptep, 0);
      const fill = call(w, kind, () => now(w));
      storeHit(w, fill);
      expect(violationCount(w.v)).toBe(0);
    }
  });

  it('judges across the wrap of the sequence: a call that starts below 2^31 and returns above it', () => {
    const w = world(2 ** 31 - 2);
    const fill = call(w, PromiseKind.WriteProtected, () => {
      Atomics.add(w.v.globals, G_TRACE_SEQ, 3); // events of other CPUs: the sequence wraps
      return now(w);
    });
    expect(fill).toBeLessThan(0);
    storeHit(w, fill);
    expect(violationCount(w.v)).toBe(1);
    // and one filled after the return, past the wrap, is still not judged
    const w2 = world(2 ** 31 - 2);
    call(w2, PromiseKind.WriteProtected, () => 0);
    storeHit(w2, now(w2) + 1);
    expect(violationCount(w2.v)).toBe(0);
  });
});

describe("the promise word's epoch tag", () => {
  const index = (w: World) => promiseCountIndex(w.mm);

  it('counts inside its bits across their wrap, the tag kept, and still judges the promise made at the wrap', () => {
    const w = world();
    const tag = w.v.mm[index(w)] & ~PROMISE_COUNT_MASK;
    w.v.mm[index(w)] = tag | PROMISE_COUNT_MASK;
    const epoch = w.v.mm[index(w)];
    const fill = now(w);
    call(w, PromiseKind.WriteProtected, () => 0);
    expect(w.v.mm[index(w)]).toBe(tag);
    expect(checkPromises(w.v, CPU, w.mm, VPN, w.pfn, true, epoch, fill, WRITABLE)).toBe(tag);
    expect(readViolations(w.v).map((x) => x.kind)).toEqual(['access-after-return']);
  });

  it('tells apart two live mms, and two allocations of one slot', () => {
    const w = world();
    const other = mmAlloc(w.v, CONTROL_CPU);
    const first = w.v.mm[index(w)];
    expect(foreignEpochMm(w.v.mm[promiseCountIndex(other)], first)).toBe(other);
    expect(foreignEpochMm(first + 3, first)).toBe(-1);
    mmFree(w.v, w.mm);
    expect(mmAlloc(w.v, CONTROL_CPU)).toBe(w.mm);
    expect(foreignEpochMm(first, w.v.mm[index(w)])).toBe(w.mm);
  });
});
