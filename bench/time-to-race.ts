/*
 * Time to race: for every catalog scenario, how long its buggy preset takes to show the forbidden
 * outcome, over several seeds, and how many trials a second the scenario runs. Each scenario runs
 * on max(host cores, its CPUs) CPUs with its own noise (or low), stopping at the first violation
 * or after the cap (a seed that finds nothing counts as never: Infinity). Median and worst over
 * the seeds; results in bench/results/time-to-race.json.
 *
 *   npx tsx bench/time-to-race.ts [--seeds 1,2,3,4,5] [--cap 20s]
 */
import { parseArgs } from 'node:util';
import { defaultCpus } from '../src/scenario/scenario.ts';
import type { Machine } from '../src/machine/machine.ts';
import { loadCatalog } from '../src/scenario/catalog/index.ts';
import { parseDuration } from '../src/campaign/stress.ts';
import { formatHost, hostInfo, writeResults } from './report.ts';
import { machineFor, raceTiming } from './race-timing.ts';

const { values: args } = parseArgs({ options: { seeds: { type: 'string', default: '1,2,3,4,5' }, cap: { type: 'string', default: '20s' } } });
const seeds = args.seeds.split(',').map(Number);
const capMs = parseDuration('--cap', args.cap);

const host = hostInfo();
const { entries } = await loadCatalog();
const machines = new Map<number, Machine>();
const rows = [];
try {
  console.log(`time-to-race: buggy presets, seeds ${seeds.join(',')}, at most ${args.cap} each`);
  console.log(formatHost(host));
  console.log('scenario                  cpus  noise  found  median ms  worst ms  median trials  trials/s');
  for (const { name, url, scenario } of entries) {
    const cpus = defaultCpus(scenario);
    const t = await raceTiming(await machineFor(machines, cpus), { name, url, scenario }, seeds, capMs);
    const row = { scenario: name, cpus, noise: t.noise, found: t.found, of: seeds.length, medianMs: t.medianMs, worstMs: Math.max(...t.ms), medianTrials: t.medianTrials, trialsPerSec: t.trialsPerSec };
    rows.push(row);
    console.log(
      `${name.padEnd(25)} ${String(cpus).padStart(4)}  ${t.noise.padEnd(5)} ${`${t.found}/${seeds.length}`.padStart(5)} ${row.medianMs.toFixed(0).padStart(10)} ${row.worstMs.toFixed(0).padStart(9)} ${String(row.medianTrials).padStart(14)} ${row.trialsPerSec.toFixed(1).padStart(9)}`,
    );
  }
  console.log(`results: ${writeResults('time-to-race', { host, seeds, capMs, rows })}`);
} finally {
  for (const m of machines.values()) await m.close();
}
