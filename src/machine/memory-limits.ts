/** The most CPUs a machine has: every per-CPU region and mask (two words) is sized for it. */
export const MAX_CPUS = 64;
