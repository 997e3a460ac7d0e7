/*
 * Layout of the per-CPU event rings. Each CPU appends records to its own ring with plain stores
 * and publishes its head with Atomics.store; every record carries a stamp from one global atomic
 * sequence (G_TRACE_SEQ), so the rings of all CPUs merge into one interleaving.
 *
 * A record: its stamp, its info word (event type in the low byte, the CPU's IRQ state at the
 * event above it, REC_FLAG_*), and up to REC_ARGS arguments. A run of records that repeats the
 * run just before it is not kept twice (trace/events.ts collapses it): the first record of the
 * kept run counts the repeats (REC_REPEATS) of its block of REC_PERIOD records and keeps the
 * stamp of the last repeat (REC_LAST_SEQ).
 */
export const RING_RECORDS = 2048; // a power of two
export const REC_SEQ = 0;
export const REC_INFO = 1; // type | REC_FLAG_* bits
export const REC_REPEATS = 2; // times the block starting here repeated after it, 0 for none
export const REC_PERIOD = 3; // records in that block
export const REC_LAST_SEQ = 4; // stamp of the last repeat's first record
export const REC_A0 = 5; // up to REC_ARGS arguments
export const REC_ARGS = 6;
export const REC_WORDS = 12;
export const REC_TYPE_MASK = 0xff;
export const REC_FLAG_IRQS_OFF = 1 << 8; // ftrace's 'd'
export const REC_FLAG_HARDIRQ = 1 << 9; // ftrace's 'h': in an IPI handler
export const RING_HEAD = 0; // records kept so far, on its own line
export const RING_BASE = 16;
export const RING_WORDS_PER_CPU = RING_BASE + RING_RECORDS * REC_WORDS;
