/*
 * Layout of the VMAs (struct vm_area_struct) in shared memory: a fixed table of MAX_VMAS slots
 * per mm, changed under the mmap_lock held for writing and read under it held for reading.
 * A VMA leaves the tree (munmap under the write lock) before it leaves the rmap (after its PTEs
 * are zapped, under the rmap lock): a slot is free only when it is in neither.
 * Addresses are page numbers: [VMA_START, VMA_END) in VPNs.
 *
 * The per-VMA lock (include/linux/mm_types.h vm_lock_seq and vma->vm_lock, kernel/vma-lock.ts):
 * VMA_LOCK is a reader-writer semaphore in the shape of locks.ts (count, waiters) that the fault
 * path read-trylocks; VMA_LOCK_SEQ is the mm_lock_seq at which a holder of the mmap_lock for
 * writing last write-locked the VMA: it stays write-locked until that writer drops the mmap_lock.
 */
export const MAX_VMAS = 64;

export const VMA_IN_USE = 0; // in the mm's VMA tree: found by faults and syscalls
export const VMA_START = 1; // vm_start >> PAGE_SHIFT
export const VMA_END = 2; // vm_end >> PAGE_SHIFT, exclusive
export const VMA_FLAGS = 3; // VM_* below
export const VMA_FILE = 4; // the file mapped, or NO_FILE for anonymous memory
export const VMA_PGOFF = 5; // vm_pgoff: the file page mapped at VMA_START
export const VMA_NUMAB_PIDS = 6; // vma->numab_state->pids_active: PID bits of tasks that faulted here
export const VMA_RMAP = 7; // linked in the rmap (anon_vma / i_mmap): found by rmap walks
export const VMA_LOCK_SEQ = 8; // vm_lock_seq: the VMA is write-locked while it equals its mm's mm_lock_seq
export const VMA_LOCK = 9; // vm_lock: a rw_semaphore, 2 words (readers or WRITER, waiters)
export const VMA_WORDS = 11;

export const NO_FILE = -1;

// vm_flags
export const VM_READ = 1 << 0;
export const VM_WRITE = 1 << 1;
export const VM_EXEC = 1 << 2;
export const VM_SHARED = 1 << 3;

export const vmaIndex = (mm: number, slot: number): number => (mm * MAX_VMAS + slot) * VMA_WORDS;
/** vma->vm_mm: the mm whose table holds the VMA. */
export const vmaMm = (vma: number): number => Math.floor(vma / (MAX_VMAS * VMA_WORDS));
