/*
 * Access throughput: TLB-hit loads and stores per second on one CPU, the emulator's hot path
 * (cpu.load / cpu.store with a warm TLB), timed inside the CPU's worker thread, with the bytes
 * each access allocates (expected 0). Mitata-style: warm-up repetitions, then timed ones; p50 and
 * p99 over the repetitions. Results also go to bench/results/access.json.
 *
 *   npx tsx bench/access.ts
 */
import { Machine } from '../src/machine/machine.ts';
import type { AccessOptions, AccessResult } from './workloads/access.ts';
import { formatHost, hostInfo, percentile, watchOtherLoad, writeResults } from './report.ts';

const OPTIONS: AccessOptions = { pages: 16, opsPerRep: 1 << 22, warmupReps: 5, reps: 20 };

const host = hostInfo();
const machine = await Machine.boot({ cpus: 1 });
try {
  const otherLoad = watchOtherLoad();
  const run = await machine.run<unknown, AccessResult, AccessOptions>(
    { url: new URL('./workloads/access.ts', import.meta.url).href },
    OPTIONS,
    { speculationShift: -1 },
  );
  const r = run.results[0];
  const others = otherLoad();
  const rows = [
    { op: 'load', ns: r.loadNs, bytesPerOp: r.loadBytesPerOp },
    { op: 'store', ns: r.storeNs, bytesPerOp: r.storeBytesPerOp },
  ].map(({ op, ns, bytesPerOp }) => {
    const p50 = percentile(ns, 50);
    return { op, mOpsPerSec: 1e3 / p50, p50Ns: p50, p99Ns: percentile(ns, 99), bytesPerOp };
  });
  console.log(`access: ${OPTIONS.pages} pages, ${OPTIONS.reps} x ${OPTIONS.opsPerRep} ops after ${OPTIONS.warmupReps} warm-up reps, 1 CPU`);
  console.log(formatHost(host));
  console.log('op     p50 Mops/s  p50 ns/op  p99 ns/op  bytes/op');
  for (const x of rows) {
    console.log(`${x.op.padEnd(6)} ${x.mOpsPerSec.toFixed(1).padStart(11)} ${x.p50Ns.toFixed(2).padStart(10)} ${x.p99Ns.toFixed(2).padStart(10)} ${x.bytesPerOp.toFixed(3).padStart(9)}`);
  }
  console.log(`TLB misses in the timed loops: ${r.misses}, faults: ${r.faults}; cores other processes kept busy: ${others?.toFixed(2) ?? '-'}`);
  console.log(`results: ${writeResults('access', { host, options: OPTIONS, rows, misses: r.misses, faults: r.faults, otherLoad: others })}`);
} finally {
  await machine.close();
}
