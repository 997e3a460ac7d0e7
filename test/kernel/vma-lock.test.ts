import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { Detached, FaultUnderWriter, LookupRace, WriterWaits } from '../fixtures/vma-lock-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const machine = useMachine({ cpus: 2 });
const workload = (name: string) => fixtureUrl('vma-lock-workloads', name);
const kernel = (perVmaLock: 'on' | 'off') => applySwitches(defaultKernelConfig(), [`perVmaLock=${perVmaLock}`]);

describe('per-VMA locks (vma_start_read, vma_start_write, lock_vma_under_rcu)', () => {
  it('vma_start_write waits for a reader to leave; the VMA then stays write-locked until mmap_write_unlock', async () => {
    const run = await machine().run<unknown, WriterWaits | null, object>(workload('writerWaitsForReader'), {}, { seed: 1 });
    const r = run.results[0]!;
    expect(r.writerDoneEarly).toBe(false);
    expect(r.writeLockedSeen).toBe(true);
    expect(r.readWhileWriteLocked).toBe(false);
    expect(r.underRcuWhileWriteLocked).toBe(-1);
    expect(r.otherVmaWhileWriteLocked).toBe(true);
    expect(r.readAfterUnlock).toBe(true);
    expect(r.underRcuAfterUnlock).toBe(true);
    expect(run.counters.vma_lock_write_waits).toBe(1);
    expect(run.counters.vma_lock_abort).toBe(1);
    expect(run.violationCount).toBe(0);
  });

  it('a VMA detached by munmap cannot be read-locked, nor found at its address, also once its slot holds a new VMA', async () => {
    const run = await machine().run<unknown, Detached | null, object>(workload('detachedFails'), {}, { seed: 2 });
    const r = run.results[0]!;
    expect(r.readAfterMunmap).toBe(false);
    expect(r.underRcuAfterMunmap).toBe(-1);
    expect(r.sameSlot).toBe(true);
    expect(r.oldAddressAfterReuse).toBe(-1);
    expect(r.newAddressAfterReuse).toBe(true);
  });

  it('perVmaLock=on: a fault in one VMA goes through while another CPU holds the mmap_lock for writing; a fault in the VMA it write-locked falls back and waits', async () => {
    const run = await machine().run<unknown, FaultUnderWriter | null, object>(workload('faultUnderWriter'), {}, { seed: 3, kernel: kernel('on') });
    const r = run.results[1]!;
    expect(r.faultInBWhileHeld).toBe(true);
    expect(r.faultInAWhileHeld).toBe(false);
    expect(r.waitedForMmapLock).toBe(true);
    expect(run.counters.vma_lock_success).toBe(1);
    expect(run.counters.vma_lock_abort).toBe(1);
    expect(run.counters.mmap_lock_read_contended).toBe(1);
    expect(run.counters.mmap_lock_fault_waits).toBe(1);
    expect(run.violationCount).toBe(0);
  });

  it('perVmaLock=off: a fault in any VMA waits for the mmap_lock', async () => {
    const run = await machine().run<unknown, FaultUnderWriter | null, object>(workload('faultUnderWriter'), {}, { seed: 4, kernel: kernel('off') });
    const r = run.results[1]!;
    expect(r.faultInBWhileHeld).toBe(false);
    expect(r.faultInAWhileHeld).toBe(false);
    expect(r.waitedForMmapLock).toBe(true);
    expect(run.counters.vma_lock_success).toBe(0);
    // the fault in B waited; the one in A came after the writer had let go
    expect(run.counters.mmap_lock_read_contended).toBe(1);
    expect(run.counters.mmap_lock_fault_waits).toBe(1);
    expect(run.counters.mmap_lock_fault_wait_us).toBeGreaterThan(0);
    expect(run.violationCount).toBe(0);
  });

  // forced: CPU 0's fault stays between the lockless lookup and the lock while CPU 1 unmaps
  it('a VMA unmapped between lookup and lock is a miss: the fault looks again, finds nothing, and maps nothing', async () => {
    const run = await machine().run<unknown, LookupRace | null, object>(workload('lookupRace'), { remap: false }, { seed: 5 });
    expect(run.results[0]!.stored).toBe(false);
    expect(run.results[1]!.pteAfter).toBe(0);
    expect(run.counters.vma_lock_miss).toBe(1);
    expect(run.counters.vma_lock_abort).toBe(1);
    expect(run.counters.vma_lock_success).toBe(0);
    expect(run.violationCount).toBe(0);
  });

  it('a slot that holds another VMA by the time it is locked fails the address check, and the fault maps nothing', async () => {
    const run = await machine().run<unknown, LookupRace | null, object>(workload('lookupRace'), { remap: true }, { seed: 6 });
    expect(run.results[1]!.reusedSlot).toBe(true);
    expect(run.results[0]!.stored).toBe(false);
    expect(run.results[1]!.pteAfter).toBe(0);
    expect(run.counters.vma_lock_miss).toBe(0);
    expect(run.counters.vma_lock_abort).toBe(1);
    expect(run.counters.vma_lock_success).toBe(0);
    expect(run.violationCount).toBe(0);
  });
});
