/*
 * Noise levels for stress campaigns: how often a race window marked in a kernel path
 * (cpu.raceWindow) is stretched. Seeded by the run's seed, like everything a CPU draws.
 */
import { UsageError } from '../errors.ts';

export const NOISE_LEVELS = { off: -1, low: 6, high: 2 } as const;
export type NoiseLevel = keyof typeof NOISE_LEVELS;

export function noiseShift(level: string): number {
  if (!(level in NOISE_LEVELS)) throw new UsageError(`--noise must be one of ${Object.keys(NOISE_LEVELS).join(', ')}, got ${JSON.stringify(level)}`);
  return NOISE_LEVELS[level as NoiseLevel];
}
