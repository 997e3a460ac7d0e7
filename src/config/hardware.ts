/*
 * A run's CPU features (arch/arch.ts Hardware) as a scenario and the command line give them: a
 * part over DEFAULT_HARDWARE, checked before any machine boots. They are what ID registers say on
 * arm64, not kernel configuration: ID_AA64MMFR0_EL1.ASIDBits (asidBits), FEAT_TLBIRANGE (tlbRange),
 * FEAT_HAFDBS (hafdbs). x86 ignores them.
 *
 *   --hardware asidBits=3,tlbRange=off      an integer 1 to 16; on or off; on or off
 */
import { UsageError } from '../errors.ts';
import { DEFAULT_HARDWARE, type Hardware } from '../arch/arch.ts';

export const HARDWARE_KEYS = ['asidBits', 'tlbRange', 'hafdbs'] as const satisfies readonly (keyof Hardware)[];

/** The usage line of each key. */
export const HARDWARE_HELP: Readonly<Record<keyof Hardware, string>> = {
  asidBits: '1 to 16: ASID bits (ID_AA64MMFR0_EL1.ASIDBits; default 16)',
  tlbRange: 'on or off: range TLBIs (FEAT_TLBIRANGE; default on)',
  hafdbs: 'on or off: hardware AF and dirty (FEAT_HAFDBS; default on)',
};

/** Checks a part of Hardware (a scenario's, or one read back from a file); `what` names where it comes from. */
export function checkHardware(hw: Partial<Hardware>, what: string): void {
  for (const [key, value] of Object.entries(hw)) {
    if (!(HARDWARE_KEYS as readonly string[]).includes(key)) throw new UsageError(`${what}: unknown hardware key '${key}'; keys: ${HARDWARE_KEYS.join(', ')}`);
    if (key === 'asidBits' ? !Number.isInteger(value) || (value as number) < 1 || (value as number) > 16 : typeof value !== 'boolean') {
      throw new UsageError(`${what}: hardware ${key} must be ${key === 'asidBits' ? 'an integer from 1 to 16' : 'true or false'}, got ${JSON.stringify(value)}`);
    }
  }
}

/** `key=value[,key=value]` (--hardware) -> a part of Hardware; a UsageError names what is wrong. */
export function parseHardware(raw: string, option = '--hardware'): Partial<Hardware> {
  const out: Partial<Hardware> = {};
  for (const item of raw.split(',')) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq).trim() : '';
    const value = eq > 0 ? item.slice(eq + 1).trim() : '';
    if (key === '' || value === '') throw new UsageError(`${option}: malformed ${JSON.stringify(item)}; expected key=value[,key=value], keys: ${HARDWARE_KEYS.join(', ')}`);
    if (key === 'asidBits') {
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!(n >= 1 && n <= 16)) throw new UsageError(`${option}: asidBits must be an integer from 1 to 16, got ${JSON.stringify(value)}`);
      out.asidBits = n;
    } else if (key === 'tlbRange' || key === 'hafdbs') {
      if (value !== 'on' && value !== 'off') throw new UsageError(`${option}: ${key} must be on or off, got ${JSON.stringify(value)}`);
      out[key] = value === 'on';
    } else {
      throw new UsageError(`${option}: unknown key '${key}'; keys: ${HARDWARE_KEYS.join(', ')}`);
    }
  }
  return out;
}

/** `hw` over DEFAULT_HARDWARE, frozen: what a run's CPUs get. */
export function fullHardware(hw: Partial<Hardware> | undefined, what = 'hardware'): Readonly<Hardware> {
  if (hw) checkHardware(hw, what);
  return Object.freeze({ ...DEFAULT_HARDWARE, ...hw });
}

/** `asidBits=3,tlbRange=off`: the keys of `hw` that differ from DEFAULT_HARDWARE, as --hardware takes them ('' if none). */
export function formatHardware(hw: Partial<Hardware>): string {
  return HARDWARE_KEYS.filter((k) => hw[k] !== undefined && hw[k] !== DEFAULT_HARDWARE[k])
    .map((k) => `${k}=${typeof hw[k] === 'boolean' ? (hw[k] ? 'on' : 'off') : hw[k]}`)
    .join(',');
}
