/*
 * Layout of the VMAs (struct vm_area_struct) in shared memory: a fixed table of MAX_VMAS slots
 * per mm, changed under the mmap_lock held for writing and read under it held for reading.
 * A VMA leaves the tree (munmap under the write lock) before it leaves the rmap (after its PTEs
 * are zapped, under the rmap lock): a slot is free only when it is in neither.
 * Addresses are page numbers: [VMA_START, VMA_END) in VPNs.
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
export const VMA_ANON_VMAS = 8; // the anon_vma_chain: a mask of the mms (2 words, bit = mm) whose anon_vma this VMA is linked to
export const VMA_WORDS = 10;

export const NO_FILE = -1;

// vm_flags
export const VM_READ = 1 << 0;
export const VM_WRITE = 1 << 1;
export const VM_EXEC = 1 << 2;
export const VM_SHARED = 1 << 3;

export const vmaIndex = (mm: number, slot: number): number => (mm * MAX_VMAS + slot) * VMA_WORDS;
