import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';
import { eventCounts } from '../../src/trace/counters.ts';

const dir = mkdtempSync(join(tmpdir(), 'shootdown-schedule-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A schedule file of a format newer than this shootdown reads. */
function newer(): string {
  const path = join(dir, 'newer.json');
  writeFileSync(path, JSON.stringify({ format: 'shootdown-schedule', version: 2 }));
  return path;
}

// a race PCT finds in its first trials on 3 CPUs (seed 0)
const RACE = 'dontneed-nested-flush';

describe('controlled schedules on the command line', () => {
  it('two controlled runs with the same seed write identical ftrace files', async () => {
    const a = join(dir, 'a.ftrace.txt');
    const b = join(dir, 'b.ftrace.txt');
    const ra = await shootdown('stress', RACE, '--schedule', 'random', '--seed', '0', '--trials', '1', '--ftrace', a, '--quiet');
    const rb = await shootdown('stress', RACE, '--schedule', 'random', '--seed', '0', '--trials', '1', '--ftrace', b, '--quiet');
    expect(ra.code).toBe(1);
    expect(rb.code).toBe(1);
    expect(ra.stdout).toContain('controlled run, one CPU at a time');
    expect(readFileSync(b, 'utf8')).toBe(readFileSync(a, 'utf8'));
    expect(readFileSync(a, 'utf8')).toContain('sched_switch');
  });

  it('saves a PCT violation as a schedule that replay reproduces, then shrinks it to a schedule that replays too', async () => {
    const file = join(dir, 'race.json');
    const found = await shootdown('stress', RACE, '--schedule', 'pct', '--seed', '0', '--trials', '20', '--stop-on-first', '--save-schedule', file, '--json', '--quiet');
    expect(found.code).toBe(1);
    const stress = JSON.parse(found.stdout);
    expect(stress.scheduleFile).toBe(file);
    expect(stress.schedule).toBe('pct:3');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved).toMatchObject({ format: 'shootdown-schedule', version: 1, preset: 'buggy', parallel: 1, strategy: 'pct:3' });
    expect(saved.verdict).toMatchObject({ kind: 'access-after-return', cpu: stress.firstViolation.cpus[0], address: stress.firstViolation.address });

    const replay = await shootdown('replay', file, '--json', '--quiet');
    expect(replay.code).toBe(1);
    const again = JSON.parse(replay.stdout);
    expect(again.replay).toEqual({ file, status: 'reproduced', codeChanged: false });
    expect(again.firstViolation).toMatchObject({ kind: stress.firstViolation.kind, cpus: stress.firstViolation.cpus, address: stress.firstViolation.address, message: stress.firstViolation.message });
    expect(eventCounts(again.counters)).toEqual(eventCounts(stress.counters));

    const shrunk = join(dir, 'race.shrunk.json');
    const shrink = await shootdown('shrink', file, '-o', shrunk, '--budget', '20s', '--quiet');
    expect(shrink.code).toBe(0);
    expect(shrink.stdout).toMatch(/choices +\d+ recorded \(\d+ preemptions\) -> \d+ \(\d+ preemptions\)/);
    expect(shrink.stdout).toMatch(/step +CPU 0 +CPU 1 +CPU 2/);
    expect(shrink.stdout).toContain('violation kind=access-after-return');
    const small = JSON.parse(readFileSync(shrunk, 'utf8'));
    expect(small.choices.length).toBeLessThanOrEqual(saved.choices.length);
    const replayShrunk = await shootdown('replay', shrunk, '--quiet');
    expect(replayShrunk.code).toBe(1);
    expect(replayShrunk.stdout).toContain(`reproduced: access-after-return on CPU ${saved.verdict.cpu} at ${saved.verdict.address}`);

    // a changed choice: the run goes elsewhere, and replay says where
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify({ ...saved, choices: saved.choices.map((x: number, i: number) => (i === 2 ? x ^ 1 : x)) }));
    const diverged = await shootdown('replay', tampered, '--quiet');
    expect(diverged.code).toBe(2);
    expect(diverged.stderr).toMatch(new RegExp(`schedule diverged at step ${saved.choices[0]}`));
  });

  it('replays a clean recorded run as clean, exit 0', async () => {
    const file = join(dir, 'clean.json');
    const r = await shootdown('stress', RACE, '--kernel', 'fixed', '--schedule', 'random', '--seed', '3', '--trials', '1', '--save-schedule', file, '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('the last trial, clean');
    const replay = await shootdown('replay', file, '--quiet');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('clean, as recorded');
  });

  it('--reproduce turns a free run\'s violation into a schedule file found under pct', async () => {
    const file = join(dir, 'reproduced.json');
    const r = await shootdown('stress', RACE, '--seed', '4', '--trials', '30', '--stop-on-first', '--reproduce', '--save-schedule', file, '--json', '--quiet');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.schedule).toBe('free');
    expect(out.rerunNote).toContain('free run: interleaving not recorded');
    expect(out.reproduce).toMatchObject({ schedule: 'pct:3', file });
    expect(out.scheduleFile).toBe(file);
    expect(JSON.parse(readFileSync(file, 'utf8')).verdict.kind).toBe('access-after-return');
    const replay = await shootdown('replay', file, '--quiet');
    expect(replay.code).toBe(1);
  });

  it.each([
    [['stress', RACE, '--schedule', 'often'], /unknown --schedule 'often'/],
    [['stress', RACE, '--schedule', 'random', '--parallel', '0'], /--parallel must be an integer from 1 to the run's 3 CPUs, got '0'/],
    [['stress', RACE, '--schedule', 'pct:0'], /depth from 1 to 64/],
    [['stress', RACE, '--save-schedule', join(dir, 'x.json')], /--save-schedule: a free run records no schedule/],
    [['stress', RACE, '--schedule', 'random', '--parallel', '2', '--save-schedule', join(dir, 'x.json')], /needs --parallel 1/],
    [['stress', RACE, '--horizon', '10'], /--horizon is PCT's/],
    [['stress', RACE, '--schedule', 'pct', '--reproduce'], /--reproduce searches under pct after a free run/],
    [['replay', join(dir, 'nothing.json')], /cannot read schedule file/],
    [['replay', 'package.json'], /package.json is not a schedule file/],
    [['replay', newer()], /schedule file of format version 2; this shootdown reads version 1: update shootdown/],
    [['shrink', 'package.json'], /package.json is not a schedule file/],
  ])('refuses bad input with one line and exit 2: %j', async (args, message) => {
    const r = await shootdown(...args, ...(args[0] === 'stress' ? ['--trials', '1'] : []));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
