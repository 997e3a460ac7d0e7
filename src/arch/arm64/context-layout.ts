/*
 * Layout of arm64's ASID allocator (arch/arm64/mm/context.c) in the machine's `asids` region,
 * after x86's global ASID allocator (arch/x86/tlbstate-layout.ts), so that neither architecture's
 * boot touches the other's words.
 *
 * The per-CPU variables active_asids and reserved_asids are arrays indexed by CPU here, each CPU's
 * word read and written by other CPUs under the same rules as the kernel's per-CPU atomics:
 * active_asids by the owner's xchg/cmpxchg and by flush_context's xchg on any CPU, reserved_asids
 * only under cpu_asid_lock.
 *
 * mm->context.id is the mm word MM_CONTEXT_ID (kernel/mm-layout.ts).
 */
import { GLOBAL_ASID_WORDS } from '../x86/tlbstate-layout.ts';
import { CPUMASK_WORDS } from '../../cpu/cpumask.ts';

/** The widest ASID this model allocates (ID_AA64MMFR0_EL1.ASIDBits = 16). */
export const MAX_ASID_BITS = 16;
/** As many CPUs as a cpumask holds. */
const MAX_CPUS = CPUMASK_WORDS * 32;

/** Where the allocator starts in the `asids` region: on a cache line after x86's words. */
export const CTX_BASE = Math.ceil(GLOBAL_ASID_WORDS / 16) * 16;

export const CTX_LOCK = CTX_BASE + 0; // cpu_asid_lock
export const CTX_GENERATION = CTX_BASE + 1; // asid_generation
export const CTX_ASID_BITS = CTX_BASE + 2; // asid_bits
export const CTX_CUR_IDX = CTX_BASE + 3; // new_context's cur_idx
export const CTX_TLB_FLUSH_PENDING = CTX_BASE + 4; // tlb_flush_pending, a cpumask
export const CTX_ACTIVE_ASIDS = CTX_BASE + 16; // per_cpu(active_asids), one word per CPU
export const CTX_RESERVED_ASIDS = CTX_ACTIVE_ASIDS + MAX_CPUS; // per_cpu(reserved_asids)
export const CTX_ASID_MAP = CTX_RESERVED_ASIDS + MAX_CPUS; // asid_map, a bitmap of NUM_USER_ASIDS bits
export const CTX_END = CTX_ASID_MAP + (1 << MAX_ASID_BITS) / 32;

/** Words of the `asids` region: x86's global ASID allocator, then arm64's. */
export const ASIDS_REGION_WORDS = CTX_END;
