/*
 * The architecture a run's machine implements, and the CPU features that vary within one.
 *
 * The architecture is a property of a run, not of the booted machine: memory is cleared between
 * runs, so one pool of CPU threads runs x86 and arm64 in turn (compare --arch x86,arm64). Every
 * CPU thread and the control plane bind the run's page-table codec and walker before any kernel
 * code runs.
 *
 * Hardware is what ID registers say on arm64, not kernel configuration:
 * - asidBits: ID_AA64MMFR0_EL1.ASIDBits (8 or 16 on real parts; smaller here so that a race on
 *   rollover comes within reach);
 * - tlbRange: FEAT_TLBIRANGE, range TLBIs (system_supports_tlb_range());
 * - hafdbs: FEAT_HAFDBS, the walker sets AF and clears the read-only bit of a DBM entry itself.
 * x86 ignores all three.
 */
import { UsageError } from '../errors.ts';

export const enum Arch {
  X86 = 0,
  Arm64 = 1,
}

export const ARCH_NAMES = ['x86', 'arm64'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export function archName(a: Arch): ArchName {
  return ARCH_NAMES[a];
}

export function parseArch(s: string, option = '--arch'): Arch {
  const i = (ARCH_NAMES as readonly string[]).indexOf(s);
  if (i < 0) throw new UsageError(`${option}: unknown architecture '${s}' (expected one of ${ARCH_NAMES.join(', ')})`);
  return i as Arch;
}

export interface Hardware {
  asidBits: number;
  tlbRange: boolean;
  hafdbs: boolean;
}

/** A Neoverse-class part: 16-bit ASIDs, range TLBIs and hardware A/D management. */
export const DEFAULT_HARDWARE: Readonly<Hardware> = Object.freeze({ asidBits: 16, tlbRange: true, hafdbs: true });
