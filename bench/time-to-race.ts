/*
 * Time to race: for every catalog scenario, how long its buggy preset takes to show the forbidden
 * outcome, over several seeds, and how many trials a second the scenario runs, under each schedule
 * side by side: free (its own noise, or low), random and pct (controlled, --parallel 1; a pct run
 * first spends one trial under random measuring its horizon, which the time includes). Each
 * scenario runs on max(host cores, its CPUs) CPUs, stopping at the first violation or after the cap
 * (a seed that finds nothing counts as never: Infinity). Median and worst over the seeds; results
 * in bench/results/time-to-race.json.
 *
 *   npx tsx bench/time-to-race.ts [--seeds 1,2,3,4,5] [--cap 20s] [--schedules free,random,pct] [--scenarios a,b]
 */
import { parseArgs } from 'node:util';
import { defaultCpus } from '../src/scenario/scenario.ts';
import type { Machine } from '../src/machine/machine.ts';
import { loadCatalog } from '../src/scenario/catalog/index.ts';
import { parseDuration } from '../src/campaign/stress.ts';
import { formatHost, hostInfo, writeResults } from './report.ts';
import { machineFor, raceTiming } from './race-timing.ts';
import { describeMode, parseScheduleMode } from '../src/schedule/control.ts';

const { values: args } = parseArgs({
  options: { seeds: { type: 'string', default: '1,2,3,4,5' }, cap: { type: 'string', default: '20s' }, schedules: { type: 'string', default: 'free,random,pct' }, scenarios: { type: 'string' } },
});
const schedules = args.schedules.split(',');
const only = args.scenarios?.split(',');
const seeds = args.seeds.split(',').map(Number);
const capMs = parseDuration('--cap', args.cap);

const host = hostInfo();
const { entries } = await loadCatalog();
const machines = new Map<number, Machine>();
const rows = [];
try {
  console.log(`time-to-race: buggy presets, seeds ${seeds.join(',')}, at most ${args.cap} each`);
  console.log(formatHost(host));
  console.log('scenario                       schedule  cpus  noise  found  median ms  worst ms  median trials  trials/s');
  for (const { name, url, scenario } of entries) {
    if (only && !only.includes(name)) continue;
    const cpus = defaultCpus(scenario);
    for (const schedule of schedules) {
      const mode = parseScheduleMode(schedule, undefined, cpus);
      const t = await raceTiming(await machineFor(machines, cpus), { name, url, scenario }, seeds, capMs, mode);
      const noise = mode.strategy === 'free' ? t.noise : '-';
      const row = { scenario: name, schedule: describeMode(mode), cpus, noise, found: t.found, of: seeds.length, medianMs: t.medianMs, worstMs: Math.max(...t.ms), medianTrials: t.medianTrials, trialsPerSec: t.trialsPerSec };
      rows.push(row);
      console.log(
        `${name.padEnd(30)} ${row.schedule.padEnd(9)} ${String(cpus).padStart(4)}  ${noise.padEnd(5)} ${`${t.found}/${seeds.length}`.padStart(5)} ${row.medianMs.toFixed(0).padStart(10)} ${row.worstMs.toFixed(0).padStart(9)} ${String(row.medianTrials).padStart(14)} ${row.trialsPerSec.toFixed(1).padStart(9)}`,
      );
    }
  }
  console.log(`results: ${writeResults('time-to-race', { host, seeds, capMs, schedules, rows })}`);
} finally {
  for (const m of machines.values()) await m.close();
}
