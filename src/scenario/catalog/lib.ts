/*
 * What the catalog scenarios share: where their mappings go, how a trial's programs agree to stop,
 * and the user loop that keeps a range hot in a CPU's TLB. Nothing here orders CPUs against each
 * other: a scenario's programs run freely and the race happens, or not, by itself.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../../machine/phys-layout.ts';
import { stopAll } from '../../cpu/smp.ts';
import { keepGoing } from '../scenario.ts';

/** 2 MiB aligned, so that a mapping there has PTE tables of its own. */
export const SCENARIO_BASE = 2 ** 38;
export const PMD_SPAN = 512 * PAGE_SIZE;

/** What one trial runs: how many rounds the driving CPU makes before it asks everyone to stop. */
export interface RoundsOptions {
  rounds: number;
}

/**
 * The driving CPU's loop condition: rounds left and no violation seen. When it says no, the
 * driver asks every other CPU to wind down.
 */
export function driverGoesOn(cpu: Cpu, round: number, rounds: number): boolean {
  if (keepGoing(cpu, round, rounds)) return true;
  stopAll(cpu.v);
  return false;
}

/** The other CPUs' loop condition: until the driver stops or an oracle reported. */
export function followerGoesOn(cpu: Cpu): boolean {
  return keepGoing(cpu, 0, 1);
}

/** A random word address in one of `pages` pages from `base`. */
export function randomWord(cpu: Cpu, base: number, pages: number): number {
  const r = cpu.random();
  return base + (r % pages) * PAGE_SIZE + ((r >>> 12) & (WORDS_PER_FRAME - 1)) * 4;
}

/** `n` user stores of `value` at random words of [base, base + pages pages); returns how many faulted. */
export function storeBurst(cpu: Cpu, base: number, pages: number, n: number, value: number): number {
  let failed = 0;
  for (let i = 0; i < n; i++) if (!cpu.store(randomWord(cpu, base, pages), value)) failed++;
  return failed;
}

/** `n` user loads at random words of [base, base + pages pages); returns how many faulted. */
export function loadBurst(cpu: Cpu, base: number, pages: number, n: number): number {
  let failed = 0;
  for (let i = 0; i < n; i++) if (Number.isNaN(cpu.load(randomWord(cpu, base, pages)))) failed++;
  return failed;
}
