/*
 * Layout of the violation log: a count, a count per kind, then the first MAX_VIOLATIONS records,
 * then one record per kind holding that kind's first report. The CPU whose access broke a rule
 * claims a record with Atomics.add on the count and fills it; the first report of each kind also
 * fills its kind's record (claimed by Atomics.add on the kind's count), so that a burst of reports
 * of one kind can never push the first report of another out of the log.
 */
export const V_COUNT = 0;
/** word V_KIND_COUNT + kind: how many reports of that kind (kinds are 1..MAX_KINDS) */
export const V_KIND_COUNT = 0;
export const MAX_KINDS = 15;
export const V_BASE = 16;
export const MAX_VIOLATIONS = 16;

export const VR_KIND = 0;
export const VR_CPU = 1;
export const VR_SEQ = 2; // the global trace sequence at the violation
export const VR_VPN = 3;
export const VR_A0 = 4; // kind-specific details, DETAIL_WORDS words (unused ones 0)
export const DETAIL_WORDS = 5;
export const VR_WORDS = VR_A0 + DETAIL_WORDS;

/** the first report of kind k, for k in 1..MAX_KINDS: record V_FIRST_BASE + (k - 1) * VR_WORDS */
export const V_FIRST_BASE = V_BASE + MAX_VIOLATIONS * VR_WORDS;

/**
 * The run's user strings (check/user-text.ts): assertion messages and trace-mark labels, each
 * [length, UTF-16 code units...], claimed by Atomics.add on V_TEXT_HEAD (the next free word,
 * relative to V_TEXT_BASE). A record's detail word or a mark's argument holds the string's offset.
 */
export const V_TEXT_HEAD = V_FIRST_BASE + MAX_KINDS * VR_WORDS;
export const V_TEXT_BASE = V_TEXT_HEAD + 16;
export const TEXT_WORDS = 4096;

export const VIOLATION_WORDS = V_TEXT_BASE + TEXT_WORDS;
