/*
 * Shards of a campaign and their merge (campaign/shard.ts, campaign/merge.ts): N shards of T trials
 * run the T trials of one run with the same seeds, from --shard or from a batch engine's
 * environment, and `merge` prints what the one run prints, or refuses, in one line naming the
 * file, what is not one whole campaign. test/fixtures/two-kinds-scenario.ts reports a
 * use-after-free and its forbidden access-after-return in every trial; under --schedule random
 * (one CPU at a time) compare's counts are the same run after run.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli, type Exit } from './child.ts';
import { shardOf, shardTrials, trialIndex } from '../../src/campaign/shard.ts';
import { summarize as latencies } from '../../src/trace/stats.ts';
import { eventCounts } from '../../src/trace/counters.ts';

const TWO_KINDS = 'test/fixtures/two-kinds-scenario.ts';
const dir = mkdtempSync(join(tmpdir(), 'shootdown-shard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `shootdown ...args` with extra environment. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<Exit> => startCli(args, { env }).exit;

/** A new folder under the test's temp folder. */
function folder(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe('shard I of N', () => {
  it('runs trial indices i mod N = I: the shards of T trials run each trial once', () => {
    for (let count = 1; count <= 5; count++) {
      for (let total = 0; total <= 12; total++) {
        const ran = Array.from({ length: count }, (_, index) => Array.from({ length: shardTrials({ index, count }, total) }, (_, k) => trialIndex({ index, count }, k))).flat();
        expect(ran.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
      }
    }
  });

  it("reads the index and count from Slurm's or Kubernetes' environment when --shard is not given", () => {
    expect(shardOf({}, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 2, count: 4 });
    expect(shardOf({}, { SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_MAX: '17' })).toEqual({ index: 2, count: 8 });
    expect(shardOf({ shards: '3' }, { JOB_COMPLETION_INDEX: '1' })).toEqual({ index: 1, count: 3 });
    expect(shardOf({}, { JOB_COMPLETION_INDEX: '0', SHOOTDOWN_SHARDS: '5' })).toEqual({ index: 0, count: 5 });
    expect(shardOf({ shard: '1/2' }, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 1, count: 2 });
    expect(shardOf({}, {})).toBeNull();
    expect(() => shardOf({}, { JOB_COMPLETION_INDEX: '0' })).toThrow(/--shards N or SHOOTDOWN_SHARDS/);
    expect(() => shardOf({}, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(/from 0 to 3/);
  });
});

describe('shootdown stress in shards, merged', () => {
  it('adds up to the one run: trials, reports by kind, the first violation by trial, the exit status', async () => {
    const results = folder('stress');
    const common = ['stress', TWO_KINDS, '--cpus', '2', '--trials', '5', '--seed', '7', '--quiet', '--json'];
    const whole = await cli(common);
    // shard 0 from --shard, shard 1 from a Slurm array's environment (task 4 of 3..4)
    const first = await cli([...common, '--shard', '0/2', '--results', results]);
    const second = await cli([...common, '--results', results], { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '3', SLURM_ARRAY_TASK_MAX: '4' });
    expect([whole.code, first.code, second.code]).toEqual([1, 1, 1]);
    expect(JSON.parse(first.stdout)).toMatchObject({ trials: 3, shardFile: join(results, 'shard-0-of-2.json') });
    // trials 2 and 4 of the campaign, with the seeds they have in it
    expect(JSON.parse(second.stdout)).toMatchObject({ trials: 2, firstViolation: { trial: 2, seed: 8 } });

    const merged = await cli(['merge', results, '--json']);
    expect(merged.code).toBe(1);
    const m = JSON.parse(merged.stdout);
    const w = JSON.parse(whole.stdout);
    for (const key of ['trials', 'violations', 'trialsWithReports', 'reports', 'reportsByKind', 'failed', 'seed', 'rerun'] as const) expect(m[key]).toEqual(w[key]);
    expect(m.trials).toBe(5);
    expect(m.firstViolation).toMatchObject({ kind: w.firstViolation.kind, trial: 1, seed: 7, address: w.firstViolation.address });
    expect(m.merged).toEqual({ shards: 2, dirs: [results] });

    const text = await cli(['merge', results]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^merge: 2 shards of one stress campaign from ${results}\n`));
    expect(text.stdout).toMatch(/trials +5 in /);
    expect(text.stdout).toContain('verdict       the forbidden outcome (access-after-return) was seen in 5 trials');
  });

  it('merge --watch prints the shards as they arrive, then the merged result', async () => {
    const from = join(dir, 'stress');
    const results = folder('watch');
    copyFileSync(join(from, 'shard-1-of-2.json'), join(results, 'shard-1-of-2.json'));
    const watch = startCli(['merge', '--watch', results], { env: { SHOOTDOWN_PROGRESS_INTERVAL: '100ms' } });
    // the first line is written before the second shard arrives
    await new Promise<void>((resolve) => {
      let seen = '';
      watch.child.stderr!.on('data', (d) => {
        seen += d;
        if (seen.includes('1 of 2 shards done')) resolve();
      });
    });
    copyFileSync(join(from, 'shard-0-of-2.json'), join(results, 'shard-0-of-2.json'));
    const exit = await watch.exit;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('merge --watch: 1 of 2 shards done, 2 trials, 2 violations; waiting for shard 0');
    expect(exit.stderr).toContain('merge --watch: 2 of 2 shards done, 5 trials, 5 violations');
    expect(exit.stdout).toMatch(/^merge: 2 shards of one stress campaign/);
  });
});

describe('shootdown compare in shards, merged', () => {
  it("merges the counts of a controlled run exactly, and the waits' median and p99 over every shard's samples", async () => {
    const results = folder('compare');
    const common = ['compare', 'mprotect-toggle', '--kernel', 'mainline', '--cpus', '2', '--trials', '3', '--seed', '5', '--schedule', 'random', '--quiet', '--json'];
    const whole = await cli(common);
    // an Indexed Job's pods: JOB_COMPLETION_INDEX, the count from --shards and from SHOOTDOWN_SHARDS
    const a = await cli([...common, '--shards', '2', '--results', results], { JOB_COMPLETION_INDEX: '0' });
    const b = await cli([...common, '--results', results], { JOB_COMPLETION_INDEX: '1', SHOOTDOWN_SHARDS: '2' });
    expect([whole.code, a.code, b.code]).toEqual([0, 0, 0]);
    const merged = await cli(['merge', results, '--json', '--html', join(dir, 'compare.html')]);
    expect(merged.code).toBe(0);
    const [m, w] = [JSON.parse(merged.stdout), JSON.parse(whole.stdout)];
    expect(m.rows).toHaveLength(1);
    expect(m.rows[0].trials).toBe(3);
    expect(eventCounts(m.rows[0].counters)).toEqual(eventCounts(w.rows[0].counters));
    for (const key of ['operations', 'ipis', 'shootdowns', 'invlpg', 'refillWalks', 'violations'] as const) expect(m.rows[0][key]).toBe(w.rows[0][key]);
    const samples = [0, 1].flatMap((i) => JSON.parse(readFileSync(join(results, `shard-${i}-of-2.json`), 'utf8')).runs[0].trials.waits.samplesUs as number[]);
    expect(samples.length).toBe(w.rows[0].waitUs.samples);
    expect(samples.length).toBeGreaterThan(0);
    const { median, p99 } = latencies(samples);
    expect(m.rows[0].waitUs).toEqual({ median, p99, samples: samples.length });
    expect(readFileSync(join(dir, 'compare.html'), 'utf8')).toContain('mprotect-toggle');
  });
});

describe('bad input: exit 2, one line naming the file', () => {
  const stressShard = async (results: string, shard: string, seed = '7') => {
    const r = await cli(['stress', TWO_KINDS, '--cpus', '2', '--trials', '2', '--seed', seed, '--quiet', '--shard', shard, '--results', results]);
    expect(r.code).toBe(1);
  };

  it.each([
    ['--shard 5/4', ['stress', TWO_KINDS, '--shard', '5/4', '--seed', '1'], /^shootdown: --shard: the shard index must be from 0 to 3 \(of 4 shards\), got 5$/],
    ['--shard 0/0', ['stress', TWO_KINDS, '--shard', '0/0', '--seed', '1'], /^shootdown: --shard: the shard count must be from 1 to 100000, got 0$/],
    ['--shard without --seed', ['stress', TWO_KINDS, '--shard', '0/2'], /^shootdown: shard 0\/2: give the campaign's --seed S/],
    ['--shards without an index', ['stress', TWO_KINDS, '--shards', '2', '--seed', '1'], /^shootdown: --shards N needs JOB_COMPLETION_INDEX/],
  ])('%s', async (_name, args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an empty folder, a truncated file, shards of two campaigns, a shard twice, a shard missing', async () => {
    const empty = folder('empty');
    const refused = async (args: string[], file: string) => {
      const r = await cli(['merge', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(file);
      return r.stderr.trim();
    };
    expect(await refused([empty], empty)).toBe(`shootdown: merge: ${empty}: no shard result (shard-I-of-N.json) in this folder`);

    const one = folder('one');
    await stressShard(one, '0/2', '7');
    const shard0 = join(one, 'shard-0-of-2.json');
    const truncated = folder('truncated');
    const whole = readFileSync(shard0, 'utf8');
    writeFileSync(join(truncated, 'shard-0-of-2.json'), whole.slice(0, whole.length >> 1));
    expect(await refused([truncated], join(truncated, 'shard-0-of-2.json'))).toMatch(/: not a shard result: /);

    const mixed = folder('mixed');
    copyFileSync(shard0, join(mixed, 'shard-0-of-2.json'));
    await stressShard(mixed, '1/2', '8');
    expect(await refused([mixed], join(mixed, 'shard-1-of-2.json'))).toBe(
      `shootdown: merge: ${join(mixed, 'shard-1-of-2.json')} is of another campaign than ${join(mixed, 'shard-0-of-2.json')}: seed 8 there, 7 here`,
    );

    const again = folder('again');
    copyFileSync(shard0, join(again, 'shard-0-of-2.json'));
    expect(await refused([one, again], join(again, 'shard-0-of-2.json'))).toBe(`shootdown: merge: shard 0 of 2 twice: ${shard0} and ${join(again, 'shard-0-of-2.json')}`);
    expect(await refused([one], join(one, 'shard-1-of-2.json'))).toBe(`shootdown: merge: shard 1 of 2 missing: no ${join(one, 'shard-1-of-2.json')}`);
  });
});
