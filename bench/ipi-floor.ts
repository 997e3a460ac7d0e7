/*
 * What a one-target shootdown costs, layer by layer, on this host and at the same moment:
 *
 *   port     a bare round trip between two threads: postMessage, a doorbell word, the far end's
 *            receiveMessageOnPort and an acknowledgement word. The floor of DESIGN 1's fabric.
 *   nop      the fabric's smp_call_function_many of a no-op to one busy CPU: the port round trip
 *            plus the doorbell protocol, the CSD line, the interrupt point and the trace events.
 *   flush    flushTlbMmRange of one page with the same target: nop plus tlb_gen, the
 *            flush_tlb_info and flush_tlb_func on both CPUs.
 *
 * Each trial runs the three in turn; the host's load changes from minute to minute, so read the
 * trials side by side, and the best one for what the code costs on a quiet host. Prints the
 * medians and p99s and writes bench/results/ipi-floor.json.
 *
 *   npx tsx bench/ipi-floor.ts [--trials 5]
 */
import { parseArgs } from 'node:util';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Machine } from '../src/machine/machine.ts';
import type { FloorOptions, FloorResult } from './workloads/ipi-floor.ts';
import { formatHost, hostInfo, percentile, writeResults } from './report.ts';

const { values: args } = parseArgs({ options: { trials: { type: 'string', default: '5' } } });
const TRIALS = Number(args.trials);
if (!Number.isInteger(TRIALS) || TRIALS < 1) throw new RangeError(`--trials must be a positive integer, got ${args.trials}`);
const RUN: FloorOptions = { warmup: 20_000, pairs: 20_000, gapUs: 20 };
const PORT_ROUND_TRIPS = 40_000;
const WORKLOAD = { url: new URL('./workloads/ipi-floor.ts', import.meta.url).href };

/** Round trips of the bare fabric between this thread and an echo worker, in microseconds. */
async function portRoundTrips(n: number): Promise<number[]> {
  const words = new SharedArrayBuffer(128);
  const w = new Int32Array(words);
  const { port1, port2 } = new MessageChannel();
  const echo = new Worker(new URL('./workloads/port-echo.mjs', import.meta.url), { workerData: { words, port: port2 }, transferList: [port2] });
  await new Promise((resolve) => echo.once('online', resolve));
  const us: number[] = [];
  for (let i = 1; i <= 2 * n; i++) {
    const t0 = performance.now();
    port1.postMessage(1);
    Atomics.store(w, 0, i);
    while (Atomics.load(w, 16) !== i);
    // the first half warms both threads up
    if (i > n) us.push((performance.now() - t0) * 1000);
  }
  Atomics.store(w, 0, -1);
  await echo.terminate();
  return us;
}

interface Row {
  trial: number;
  what: 'port' | 'nop' | 'flush';
  medianUs: number;
  p99Us: number;
  samples: number;
}

const host = hostInfo();
console.log(formatHost(host));
console.log('trial  what   median us   p99 us  samples');
const rows: Row[] = [];
const report = (trial: number, what: Row['what'], us: number[]): void => {
  const row = { trial, what, medianUs: percentile(us, 50), p99Us: percentile(us, 99), samples: us.length };
  rows.push(row);
  console.log(`${String(trial).padStart(5)}  ${what.padEnd(5)} ${row.medianUs.toFixed(2).padStart(10)} ${row.p99Us.toFixed(2).padStart(8)} ${String(row.samples).padStart(8)}`);
};
const machine = await Machine.boot({ cpus: 2 });
try {
  for (let trial = 1; trial <= TRIALS; trial++) {
    report(trial, 'port', await portRoundTrips(PORT_ROUND_TRIPS));
    const run = await machine.run<unknown, FloorResult, FloorOptions>(WORKLOAD, RUN, { speculationShift: -1 });
    report(trial, 'nop', run.results[0].nopUs);
    report(trial, 'flush', run.results[0].flushUs);
  }
} finally {
  await machine.close();
}
const best = (what: Row['what']): number => Math.min(...rows.filter((r) => r.what === what).map((r) => r.medianUs));
console.log(`best medians: port ${best('port').toFixed(2)} us, nop ${best('nop').toFixed(2)} us, flush ${best('flush').toFixed(2)} us`);
console.log(`results: ${writeResults('ipi-floor', { host, options: { ...RUN, portRoundTrips: PORT_ROUND_TRIPS, trials: TRIALS }, rows })}`);
