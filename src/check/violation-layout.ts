/*
 * Layout of the violation log: a count, then the first MAX_VIOLATIONS records. The CPU whose access
 * broke a rule claims a record with Atomics.add on the count and fills it.
 */
export const V_COUNT = 0;
export const V_BASE = 16;
export const MAX_VIOLATIONS = 16;

export const VR_KIND = 0;
export const VR_CPU = 1;
export const VR_SEQ = 2; // the global trace sequence at the violation
export const VR_VPN = 3;
export const VR_A0 = 4; // kind-specific details, 4 words
export const VR_WORDS = 8;

export const VIOLATION_WORDS = V_BASE + MAX_VIOLATIONS * VR_WORDS;
