/*
 * Layout of the per-CPU event rings. Each CPU appends records to its own ring with plain stores
 * and publishes its head with Atomics.store; every record carries a stamp from one global atomic
 * sequence (G_TRACE_SEQ), so the rings of all CPUs merge into one interleaving.
 */
export const RING_RECORDS = 1024; // a power of two
export const REC_SEQ = 0;
export const REC_TYPE = 1;
export const REC_A0 = 2; // up to REC_ARGS arguments
export const REC_ARGS = 6;
export const REC_WORDS = 8;
export const RING_HEAD = 0; // records ever written, on its own line
export const RING_BASE = 16;
export const RING_WORDS_PER_CPU = RING_BASE + RING_RECORDS * REC_WORDS;
