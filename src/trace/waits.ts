/*
 * The initiators' waits: how long each smp_call_function_many with remote targets took on the CPU
 * that sent it, from the first IPI to the last acknowledgement (its local flush included), in
 * microseconds. This is the time a shootdown costs the CPU that asks for it, as the emulator
 * measures it on the host; compare reports it beside the counts and the cost model.
 *
 * Layout: nrCpus blocks of WAIT_STRIDE float64 words: the number of waits, their sum, then a ring
 * of the last WAIT_SAMPLES waits. Each CPU writes its own block with plain stores; the control
 * plane reads them after the run.
 */
import type { MachineViews } from '../machine/memory.ts';

export const WAIT_SAMPLES = 4096;
const W_COUNT = 0;
const W_TOTAL = 1;
const W_RING = 2;
export const WAIT_STRIDE = W_RING + WAIT_SAMPLES;

/** Records one wait of `us` microseconds on `cpu`. */
export function recordWait(v: MachineViews, cpu: number, us: number): void {
  const b = cpu * WAIT_STRIDE;
  const n = v.waits[b + W_COUNT];
  v.waits[b + W_RING + (n % WAIT_SAMPLES)] = us;
  v.waits[b + W_COUNT] = n + 1;
  v.waits[b + W_TOTAL] += us;
}

export interface Waits {
  count: number;
  totalUs: number;
  /** every CPU's last WAIT_SAMPLES waits at most */
  samplesUs: number[];
}

export function readWaits(v: MachineViews, nrCpus: number): Waits {
  const out: Waits = { count: 0, totalUs: 0, samplesUs: [] };
  for (let cpu = 0; cpu < nrCpus; cpu++) {
    const b = cpu * WAIT_STRIDE;
    const n = v.waits[b + W_COUNT];
    out.count += n;
    out.totalUs += v.waits[b + W_TOTAL];
    for (let i = 0; i < Math.min(n, WAIT_SAMPLES); i++) out.samplesUs.push(v.waits[b + W_RING + i]);
  }
  return out;
}

/** Adds `b` into `a`. */
export function addWaits(a: Waits, b: Waits): Waits {
  a.count += b.count;
  a.totalUs += b.totalUs;
  for (const s of b.samplesUs) a.samplesUs.push(s);
  return a;
}

export function zeroWaits(): Waits {
  return { count: 0, totalUs: 0, samplesUs: [] };
}
