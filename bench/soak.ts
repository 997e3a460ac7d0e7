/*
 * Soak: the trust check of DESIGN 3. Every preset that expects `never` (fixed, and the others a
 * scenario marks so) of every catalog race runs for `--factor` times its buggy preset's median
 * time to race (at least `--floor`), and every preset and variant of every measurement for
 * `--measure`; any oracle report, of any kind, is a failure: a bug of the emulator or of the
 * kernel. Prints per run the trials and the reports by kind; exits 1 if any run reported.
 * Results in bench/results/soak.json.
 *
 *   npx tsx bench/soak.ts [--seeds 1,2,3,4,5] [--cap 20s] [--factor 10] [--floor 5s] [--measure 10s] [--only name,...]
 */
import { parseArgs } from 'node:util';
import prettyMs from 'pretty-ms';
import { defaultCpus, variantOptions, type Scenario } from '../src/scenario/scenario.ts';
import type { Machine } from '../src/machine/machine.ts';
import { MEASURE_DIR, loadCatalog, type CatalogEntry } from '../src/scenario/catalog/index.ts';
import { randomSeed, runTrials } from '../src/campaign/trials.ts';
import { NOISE_LEVELS } from '../src/campaign/noise.ts';
import { parseDuration } from '../src/campaign/stress.ts';
import { formatHost, hostInfo, writeResults } from './report.ts';
import { machineFor, raceTiming } from './race-timing.ts';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2,3,4,5' },
    cap: { type: 'string', default: '20s' },
    factor: { type: 'string', default: '10' },
    floor: { type: 'string', default: '5s' },
    measure: { type: 'string', default: '10s' },
    only: { type: 'string' },
  },
});
const seeds = args.seeds.split(',').map(Number);
const capMs = parseDuration('--cap', args.cap);
const factor = Number(args.factor);
const floorMs = parseDuration('--floor', args.floor);
const measureMs = parseDuration('--measure', args.measure);
const only = args.only?.split(',');

interface SoakRow {
  scenario: string;
  preset: string;
  variant: string;
  cpus: number;
  seed: number;
  /** the buggy preset's median time to race the soak is a multiple of (races only) */
  buggyMedianMs: number | null;
  soakMs: number;
  trials: number;
  reports: number;
  reportsByKind: Record<string, number>;
}

const neverPresets = (s: Scenario) => Object.keys(s.presets).filter((p) => s.expected[p] === 'never');

async function soak(machine: Machine, entry: CatalogEntry, preset: string, variant: string, soakMs: number, buggyMedianMs: number | null): Promise<SoakRow> {
  const { name, url, scenario } = entry;
  const seed = randomSeed();
  const r = await runTrials(machine, {
    url,
    scenario,
    preset,
    seed,
    durationMs: soakMs,
    options: variantOptions(scenario, variant),
    noiseShift: NOISE_LEVELS[scenario.noise ?? 'low'],
  });
  return { scenario: name, preset, variant, cpus: machine.nrCpus, seed, buggyMedianMs, soakMs, trials: r.trials, reports: r.reports, reportsByKind: r.reportsByKind };
}

function printRow(r: SoakRow): void {
  const kinds = Object.entries(r.reportsByKind).map(([k, n]) => `${k} ${n}`).join(', ') || '-';
  const median = r.buggyMedianMs === null ? '-' : Number.isFinite(r.buggyMedianMs) ? prettyMs(r.buggyMedianMs) : 'not found';
  console.log(`${`${r.scenario}${r.variant ? `/${r.variant}` : ''}`.padEnd(30)} ${r.preset.padEnd(20)} ${String(r.cpus).padStart(4)} ${median.padStart(10)} ${prettyMs(r.soakMs).padStart(8)} ${String(r.trials).padStart(7)} ${String(r.reports).padStart(7)}  ${kinds}`);
}

const host = hostInfo();
const races = (await loadCatalog()).entries.filter((e) => !only || only.includes(e.name));
const measurements = (await loadCatalog(MEASURE_DIR)).entries.filter((e) => !only || only.includes(e.name));
const machines = new Map<number, Machine>();
const rows: SoakRow[] = [];
try {
  console.log(`soak: every 'never' preset, ${factor}x the buggy median time to race (at least ${args.floor}; seeds ${seeds.join(',')}, cap ${args.cap}); measurements ${args.measure} per preset and variant`);
  console.log(formatHost(host));
  console.log(`${'scenario'.padEnd(30)} ${'preset'.padEnd(20)} cpus  buggy med     soak  trials reports  by kind`);
  for (const entry of races) {
    const machine = await machineFor(machines, defaultCpus(entry.scenario));
    const t = await raceTiming(machine, entry, seeds, capMs);
    // a race the buggy preset never showed within the cap soaks for the cap's multiple
    const soakMs = Math.max(floorMs, factor * (Number.isFinite(t.medianMs) ? t.medianMs : capMs));
    for (const preset of neverPresets(entry.scenario)) {
      const row = await soak(machine, entry, preset, '', soakMs, t.medianMs);
      rows.push(row);
      printRow(row);
    }
  }
  for (const entry of measurements) {
    const machine = await machineFor(machines, defaultCpus(entry.scenario));
    for (const preset of neverPresets(entry.scenario)) {
      for (const variant of entry.scenario.variants ? Object.keys(entry.scenario.variants) : ['']) {
        const row = await soak(machine, entry, preset, variant, measureMs, null);
        rows.push(row);
        printRow(row);
      }
    }
  }
  const reported = rows.filter((r) => r.reports > 0);
  console.log(reported.length === 0 ? `clean: ${rows.length} runs, ${rows.reduce((n, r) => n + r.trials, 0)} trials, no report` : `FAILED: ${reported.length} of ${rows.length} runs reported`);
  console.log(`results: ${writeResults('soak', { host, seeds, capMs, factor, floorMs, measureMs, rows })}`);
  process.exitCode = reported.length === 0 ? 0 : 1;
} finally {
  for (const m of machines.values()) await m.close();
}
