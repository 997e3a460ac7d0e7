/*
 * The user's strings of one run: what a program's cpu.expect says when it fails and what its
 * cpu.mark calls label, kept in shared memory (check/violation-layout.ts V_TEXT_*) so that the
 * control plane can print them after the run. A violation record or a trace event holds the
 * string's offset (an int); the text is read back by offset. The table is cleared with the rest
 * of the machine's memory before each run; a CPU interns each string once per run (Cpu keeps the
 * offsets it handed out), so a program that asserts in a loop claims no more room.
 */
import type { MachineViews } from '../machine/memory.ts';
import { TEXT_WORDS, V_TEXT_BASE, V_TEXT_HEAD } from './violation-layout.ts';

/** What internText returns when the table is full; readText shows it as such. */
export const NO_TEXT = -1;
/** The longest string kept; a longer one is cut there. */
export const MAX_TEXT = 200;

/** Copies `s` into the run's table; returns its offset, or NO_TEXT when the table is full. */
export function internText(v: MachineViews, s: string): number {
  const len = Math.min(s.length, MAX_TEXT);
  // claims len + 1 words of the table at once: no other CPU writes them
  const at = Atomics.add(v.violations, V_TEXT_HEAD, len + 1);
  if (at + len + 1 > TEXT_WORDS) return NO_TEXT;
  const w = v.violations;
  const base = V_TEXT_BASE + at;
  for (let i = 0; i < len; i++) w[base + 1 + i] = s.charCodeAt(i);
  // publishes the characters before the length: a reader that sees the length sees them
  Atomics.store(w, base, len + 1);
  return at;
}

/** The string at `offset`, as internText stored it. */
export function readText(v: MachineViews, offset: number): string {
  if (offset === NO_TEXT) return '(the run\'s string table was full)';
  if (offset < 0 || offset >= TEXT_WORDS) return `(no string at ${offset})`;
  const stored = Atomics.load(v.violations, V_TEXT_BASE + offset);
  if (stored <= 0) return `(no string at ${offset})`;
  const codes = v.violations.subarray(V_TEXT_BASE + offset + 1, V_TEXT_BASE + offset + stored);
  return String.fromCharCode(...codes);
}
