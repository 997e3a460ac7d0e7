/*
 * Controlled schedules against the race catalog: for every race, what a user does with them.
 *
 *   1. stress NAME --schedule pct --stop-on-first --save-schedule F, from seed 1, at most --cap
 *   2. replay F, --replays times: the same kind, CPU and address each time?
 *   3. shrink F (at most --shrink) into G, and replay G
 *   4. the fixed preset under pct for ten times the trials step 1 took (at least 10, at most
 *      --fixed-cap of time): any report?
 *
 * One table, and bench/results/schedules.json.
 *
 *   npx tsx bench/schedules.ts [--scenarios a,b] [--cap 10m] [--replays 5] [--shrink 30s] [--fixed-cap 10m]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCatalog } from '../src/scenario/catalog/index.ts';
import { defaultCpus } from '../src/scenario/scenario.ts';
import { parseDuration, runStress, type StressRequest } from '../src/campaign/stress.ts';
import { parseScheduleMode } from '../src/schedule/control.ts';
import { ranWith, replaySchedule, scheduleFileFor, shrinkSchedule } from '../src/schedule/commands.ts';
import { writeScheduleFile } from '../src/schedule/file.ts';
import { formatHost, hostInfo, writeResults } from './report.ts';

const { values: args } = parseArgs({
  options: {
    scenarios: { type: 'string' }, cap: { type: 'string', default: '10m' }, replays: { type: 'string', default: '5' }, shrink: { type: 'string', default: '30s' },
    'fixed-cap': { type: 'string', default: '10m' },
  },
});
const fixedCapMs = parseDuration('--fixed-cap', args['fixed-cap']);
const capMs = parseDuration('--cap', args.cap);
const shrinkMs = parseDuration('--shrink', args.shrink);
const replays = Number(args.replays);
const only = args.scenarios?.split(',');

const host = hostInfo();
const dir = mkdtempSync(join(tmpdir(), 'shootdown-schedules-'));
const rows = [];
console.log(formatHost(host));
console.log('scenario                       cpus  found at trial  time      replays  choices -> shrunk (preemptions)  shrunk replays  fixed trials  fixed reports');
try {
  for (const entry of (await loadCatalog()).entries) {
    if (only && !only.includes(entry.name)) continue;
    const cpus = defaultCpus(entry.scenario);
    const base = (preset: string, trials: number | undefined, durationMs: number): StressRequest => ({
      resolved: { arg: entry.name, url: entry.url, scenario: entry.scenario }, preset, set: [], cpus, seed: 1, noise: 'off', noiseShift: -1,
      trials, durationMs, stopOnFirst: preset === 'buggy', schedule: parseScheduleMode('pct', undefined, cpus),
    });
    const buggyReq = base('buggy', 1_000_000, capMs);
    const buggy = await runStress(buggyReq);
    const file = join(dir, `${entry.name}.json`);
    const row: Record<string, unknown> = { scenario: entry.name, cpus, trials: buggy.summary.trials, elapsedMs: buggy.summary.elapsedMs, found: buggy.traced !== null };
    if (buggy.traced && buggy.schedule) {
      writeScheduleFile(file, scheduleFileFor(buggyReq, ranWith(buggy.summary), buggy.schedule, buggy.traced));
      row.foundAt = buggy.traced.trial;
      let same = 0;
      for (let i = 0; i < replays; i++) {
        const r = await replaySchedule(file).catch(() => null);
        const f = r?.summary.firstViolation;
        if (r?.status === 'reproduced' && f?.kind === buggy.traced.kind && f.cpus[0] === buggy.traced.cpu && f.address === `0x${buggy.traced.va.toString(16)}`) same++;
      }
      row.replays = `${same}/${replays}`;
      const shrunk = await shrinkSchedule(file, { budgetMs: shrinkMs });
      const small = join(dir, `${entry.name}.shrunk.json`);
      writeScheduleFile(small, shrunk.file);
      row.shrink = { before: shrunk.before, after: shrunk.after, candidates: shrunk.candidates };
      row.shrunkReplays = (await replaySchedule(small).catch(() => null))?.status === 'reproduced';
    }
    const fixedTrials = Math.max(10, 10 * buggy.summary.trials);
    const fixed = await runStress(base('fixed', fixedTrials, fixedCapMs));
    Object.assign(row, { fixedTrials: fixed.summary.trials, fixedReports: fixed.summary.reports, fixedMs: fixed.summary.elapsedMs });
    rows.push(row);
    const s = row.shrink as { before: { choices: number; preemptions: number }; after: { choices: number; preemptions: number } } | undefined;
    console.log(
      `${entry.name.padEnd(30)} ${String(cpus).padStart(4)}  ${String(row.found ? row.foundAt : `none in ${row.trials}`).padStart(14)}  ${`${(buggy.summary.elapsedMs / 1000).toFixed(1)}s`.padEnd(8)}  ${String(row.replays ?? '-').padStart(7)}  ${(s ? `${s.before.choices} (${s.before.preemptions}) -> ${s.after.choices} (${s.after.preemptions})` : '-').padStart(31)}  ${String(row.shrunkReplays ?? '-').padStart(14)}  ${String(row.fixedTrials).padStart(12)}  ${String(row.fixedReports).padStart(13)}`,
    );
  }
  console.log(`results: ${writeResults('schedules', { host, capMs, shrinkMs, fixedCapMs, replays, rows })}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
