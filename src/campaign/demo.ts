/*
 * `shootdown demo`: the flush postcondition under real concurrency (scenario/demo-workload.ts),
 * summarized for a terminal or as JSON.
 */
import prettyMs from 'pretty-ms';
import { Machine } from '../machine/machine.ts';
import type { Counters } from '../trace/counters.ts';
import { summarize, type LatencySummary } from '../trace/stats.ts';
import { hostInfo, type HostInfo } from './host.ts';
import { tickedWork, type Progress } from './progress.ts';
import type { DemoCpuResult, DemoOptions } from '../scenario/demo-workload.ts';
import type { FlushViolation } from '../check/flush-postcondition.ts';
import { FIRST_HORIZON, FREE, describeMode, type ScheduleMode } from '../schedule/control.ts';
import { randomSeed, scheduleSpec } from './trials.ts';
import type { KernelConfig } from '../config/kernel-config.ts';
import { Arch, archName, type ArchName, type Hardware } from '../arch/arch.ts';

export interface DemoRequest {
  cpus: number;
  flushes: number;
  seed?: number;
  /** the kernel: mainline with the `set` switches applied */
  kernel?: KernelConfig;
  set?: string[];
  /** the progress line, or none (--quiet) */
  progress?: Progress;
  /** free running (default) or a controlled strategy (schedule/control.ts) */
  schedule?: ScheduleMode;
  /** PCT's horizon (FIRST_HORIZON when absent: the demo measures none) */
  horizon?: number;
  /** the architecture (x86 when absent) */
  arch?: Arch;
  /** its CPU features over the defaults (arm64; x86 ignores them) */
  hardware?: Partial<Hardware>;
}

export interface DemoSummary {
  arch: ArchName;
  cpus: number;
  flushes: number;
  ipis: number;
  violations: number;
  firstViolations: FlushViolation[];
  shootdownUs: LatencySummary;
  accesses: number;
  faults: number;
  seed: number;
  /** free, random or pct:DEPTH */
  schedule: string;
  /** the switches set on top of mainline */
  set: string[];
  elapsedMs: number;
  host: HostInfo;
  counters: Counters;
}

const DEMO_URL = new URL('../scenario/demo-workload.ts', import.meta.url).href;

export async function runDemo(req: DemoRequest): Promise<DemoSummary> {
  const machine = await Machine.boot({ cpus: req.cpus });
  try {
    req.progress?.run('demo', { unit: 'flushes', total: req.flushes }, tickedWork(machine.v));
    let run;
    try {
      const mode = req.schedule ?? FREE;
      const seed = req.seed ?? randomSeed();
      const schedule = mode.strategy === 'free' ? undefined : scheduleSpec(mode, seed, req.horizon ?? FIRST_HORIZON, undefined);
      run = await machine.run<unknown, DemoCpuResult, DemoOptions>({ url: DEMO_URL }, { flushes: req.flushes }, { seed, schedule, kernel: req.kernel, arch: req.arch, hardware: req.hardware });
    } finally {
      req.progress?.end();
    }
    // the postcondition checks after each flush, and the oracles on every access
    const violations = [
      ...run.results.flatMap((r) => r.violations),
      ...run.violations.map((o) => ({ cpu: o.cpu, va: o.va, what: `${o.kind} (oracle)` })),
    ];
    return {
      arch: archName(req.arch ?? Arch.X86),
      cpus: req.cpus,
      flushes: req.flushes,
      ipis: run.counters.ipis_sent,
      violations: run.results.reduce((n, r) => n + r.violations.length, 0) + run.violationCount,
      firstViolations: violations.slice(0, 5),
      shootdownUs: summarize(run.results[0].shootdownUs),
      accesses: run.results.reduce((n, r) => n + r.accesses, 0),
      faults: run.results.reduce((n, r) => n + r.faults, 0),
      seed: run.seed,
      schedule: describeMode(req.schedule ?? FREE),
      set: req.set ?? [],
      elapsedMs: run.elapsedMs,
      host: hostInfo(),
      counters: run.counters,
    };
  } finally {
    await machine.close();
  }
}

export function formatUs(us: number): string {
  return Number.isFinite(us) ? prettyMs(us / 1000, { formatSubMilliseconds: true, unitCount: 2 }) : '-';
}

export function formatDemo(s: DemoSummary): string {
  const c = s.counters;
  const lines = [
    `shootdown demo: ${s.arch === 'x86' ? '' : `${s.arch}, `}${s.cpus} CPUs on ${s.host.cores} host cores (Node ${s.host.node}), seed ${s.seed}${s.schedule === 'free' ? '' : `, schedule ${s.schedule}`}${s.set.length === 0 ? '' : `, ${s.set.join(' ')}`}`,
    `  flushes             ${s.flushes} in ${prettyMs(s.elapsedMs)}`,
    `  IPIs sent           ${s.ipis}`,
    `  shootdown latency   median ${formatUs(s.shootdownUs.median)}, p99 ${formatUs(s.shootdownUs.p99)}`,
    `  user accesses       ${s.accesses} (${s.faults} faulted while their PTE was changing)`,
    `  violations          ${s.violations}`,
    ...s.firstViolations.map((v) => `    CPU ${v.cpu} at 0x${v.va.toString(16)}: ${v.what}`),
    '  counters',
    ...Object.entries(c).map(([name, n]) => `    ${name.padEnd(30)} ${n}`),
  ];
  if (s.cpus > s.host.cores) lines.splice(1, 0, `  note: ${s.cpus} CPUs share ${s.host.cores} cores; latencies include host scheduling`);
  return lines.join('\n');
}
