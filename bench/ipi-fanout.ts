/*
 * Shootdown fan-out: how long flushTlbMmRange of one page takes on the initiator (CPU 0) as the
 * number of target CPUs grows (1, 2, 4, 8, 16), with the targets busy (taking the IPI at an
 * interrupt point) or idle (woken from Atomics.wait). One machine per CPU count, reused by both
 * modes; median and p99 of the timed flushes, with the IPIs counted. The table is printed with the
 * host's core count and Node version and written to bench/results/ipi-fanout.json.
 *
 * With more CPU threads than host cores, a flush waits for the host scheduler to run every
 * target, so latencies grow to the scheduler's tick; read the figures with the core count.
 *
 * Between two flushes the initiator runs on for --gap-us (200 by default, long enough for idle
 * targets to fall asleep again). The gap changes what a busy target's flush costs: after 200 us
 * the path's cache lines have cooled on this kind of host, after 20 us they have not (1.5 to 4 us
 * apart on the 2-core development VM); bench/ipi-floor.ts keeps the gap at 20 us.
 *
 * Under --schedule random or pct (with --parallel K, at most the host's cores) the CPUs take turns
 * on a baton (src/schedule/baton.ts): a target not holding it is parked at a scheduling point and
 * takes the flush when it next runs, so no flush waits for the host scheduler's tick; what a flush
 * then costs is the hand-overs to every target.
 *
 *   npx tsx bench/ipi-fanout.ts [--targets 1,2,4,8,16] [--modes busy,idle] [--gap-us 200] [--schedule free|random|pct] [--parallel K]
 */
import { parseArgs } from 'node:util';
import { Machine } from '../src/machine/machine.ts';
import type { FanoutOptions, FanoutResult, TargetMode } from './workloads/ipi-fanout.ts';
import { formatHost, hostInfo, percentile, watchOtherLoad, writeResults } from './report.ts';
import { FIRST_HORIZON, describeMode, parseScheduleMode } from '../src/schedule/control.ts';
import { scheduleSpec } from '../src/campaign/trials.ts';

const { values: args } = parseArgs({
  options: {
    targets: { type: 'string', default: '1,2,4,8,16' }, modes: { type: 'string', default: 'busy,idle' }, 'gap-us': { type: 'string', default: '200' },
    schedule: { type: 'string' }, parallel: { type: 'string' },
  },
});
const TARGETS = args.targets.split(',').map(Number);
const MODES = args.modes.split(',') as TargetMode[];
const GAP_US = Number(args['gap-us']);
if (!(GAP_US >= 0)) throw new RangeError(`--gap-us must be a number of microseconds, got ${args['gap-us']}`);
// the warm-up runs until V8 has optimized the flush path on every thread: after a few hundred
// flushes it has not, and the median measures the interpreter (7 us against 4 us, one busy target)
const RUN: Omit<FanoutOptions, 'mode'> = { warmupFlushes: 20_000, flushes: 2000, budgetMs: 10_000, gapUs: GAP_US };
const WORKLOAD = { url: new URL('./workloads/ipi-fanout.ts', import.meta.url).href };
// checked against the smallest machine, of one target
const SCHEDULE = parseScheduleMode(args.schedule, args.parallel, 1 + Math.min(...TARGETS));

interface Row {
  mode: TargetMode;
  targets: number;
  medianUs: number;
  p99Us: number;
  /** timed flushes, and the run's counts: every flush, warm-up included, and the IPIs they sent */
  timed: number;
  flushes: number;
  ipis: number;
  /** cores other processes kept busy during the run */
  otherLoad: number | null;
}

const host = hostInfo();
const rows: Row[] = [];
console.log(formatHost(host));
console.log(`schedule ${describeMode(SCHEDULE)}`);
console.log('mode  targets  median us   p99 us  timed  flushes    ipis  median us/target  others\' cores');
for (const targets of TARGETS) {
  const machine = await Machine.boot({ cpus: targets + 1 });
  try {
    for (const mode of MODES) {
      const otherLoad = watchOtherLoad();
      const seed = 1;
      const schedule = SCHEDULE.strategy === 'free' ? undefined : scheduleSpec(SCHEDULE, seed, FIRST_HORIZON, undefined);
      const run = await machine.run<unknown, FanoutResult, FanoutOptions>(WORKLOAD, { ...RUN, mode }, { speculationShift: -1, seed, schedule });
      const us = run.results[0].shootdownUs;
      const row: Row = {
        mode,
        targets,
        medianUs: percentile(us, 50),
        p99Us: percentile(us, 99),
        timed: us.length,
        flushes: run.counters.nr_tlb_remote_flush,
        ipis: run.counters.ipis_sent,
        otherLoad: otherLoad(),
      };
      rows.push(row);
      console.log(
        `${mode.padEnd(5)} ${String(targets).padStart(7)} ${row.medianUs.toFixed(1).padStart(10)} ${row.p99Us.toFixed(1).padStart(8)} ${String(row.timed).padStart(6)} ${String(row.flushes).padStart(8)} ${String(row.ipis).padStart(7)} ${(row.medianUs / targets).toFixed(2).padStart(17)} ${row.otherLoad?.toFixed(2).padStart(14) ?? '-'}`,
      );
    }
  } finally {
    await machine.close();
  }
}
console.log(`results: ${writeResults(SCHEDULE.strategy === 'free' ? 'ipi-fanout' : `ipi-fanout-${SCHEDULE.strategy}-k${SCHEDULE.parallel}`, { host, options: RUN, schedule: describeMode(SCHEDULE), speculationShift: -1, rows })}`);
