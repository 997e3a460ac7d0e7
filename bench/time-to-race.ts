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
import { Machine } from '../src/machine/machine.ts';
import { loadCatalog } from '../src/scenario/catalog/index.ts';
import { runTrials } from '../src/campaign/trials.ts';
import { NOISE_LEVELS } from '../src/campaign/noise.ts';
import { parseDuration } from '../src/campaign/stress.ts';
import { formatHost, hostInfo, percentile, writeResults } from './report.ts';

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
    let machine = machines.get(cpus);
    if (!machine) machines.set(cpus, (machine = await Machine.boot({ cpus })));
    const noise = scenario.noise ?? 'low';
    const ms: number[] = [];
    const trials: number[] = [];
    let found = 0;
    let totalTrials = 0;
    let totalMs = 0;
    for (const seed of seeds) {
      const r = await runTrials(machine, { url, scenario, preset: 'buggy', seed, durationMs: capMs, noiseShift: NOISE_LEVELS[noise], stopOnFirst: true });
      totalTrials += r.trials;
      totalMs += r.elapsedMs;
      // a seed that found nothing within the cap counts as never: the median is over all seeds
      found += r.firstViolation ? 1 : 0;
      ms.push(r.firstViolation ? r.firstViolation.elapsedMs : Infinity);
      trials.push(r.firstViolation ? r.firstViolation.trial : Infinity);
    }
    const row = { scenario: name, cpus, noise, found, of: seeds.length, medianMs: percentile(ms, 50), worstMs: Math.max(...ms), medianTrials: percentile(trials, 50), trialsPerSec: (totalTrials * 1000) / totalMs };
    rows.push(row);
    console.log(
      `${name.padEnd(25)} ${String(cpus).padStart(4)}  ${noise.padEnd(5)} ${`${found}/${seeds.length}`.padStart(5)} ${row.medianMs.toFixed(0).padStart(10)} ${row.worstMs.toFixed(0).padStart(9)} ${String(row.medianTrials).padStart(14)} ${row.trialsPerSec.toFixed(1).padStart(9)}`,
    );
  }
  console.log(`results: ${writeResults('time-to-race', { host, seeds, capMs, rows })}`);
} finally {
  for (const m of machines.values()) await m.close();
}
