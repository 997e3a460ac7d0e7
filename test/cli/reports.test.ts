/*
 * Every report visible, readable, and judged by the preset's expectation (issue 10, items 2 and
 * 7), and scenarios that name what does not exist refused before any machine boots.
 * test/fixtures/two-kinds-scenario.ts reports a use-after-free and then its forbidden
 * access-after-return in every trial, under both presets.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';
import { loadCatalog } from '../../src/scenario/catalog/index.ts';
import { formatRunAll, type RunAllReport, type RunAllRow } from '../../src/campaign/main-job.ts';
import { hostInfo } from '../../src/campaign/host.ts';

const TWO_KINDS = 'test/fixtures/two-kinds-scenario.ts';
const BAD = 'test/fixtures/bad-scenarios';
const dir = mkdtempSync(join(tmpdir(), 'shootdown-reports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a trial with reports of two kinds', () => {
  it('goes on past the first kind to the forbidden one, and both are counted (buggy: sometimes)', async () => {
    const r = await shootdown('stress', TWO_KINDS, '--cpus', '2', '--trials', '2', '--seed', '7', '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ expected: 'sometimes', trials: 2, violations: 2, trialsWithReports: 2, reports: 4, failed: true });
    expect(out.reportsByKind).toEqual({ 'use-after-free': 2, 'access-after-return': 2 });
    // the forbidden one is the one traced; the other kind is listed beside it
    expect(out.firstViolation).toMatchObject({ kind: 'access-after-return', trial: 1, seed: 7, cpus: [1], address: '0x4000001000' });
    expect(out.firstViolation.fields).toMatchObject({ access: 'read', promiseBrokenBy: 'munmap', pteNow: '0x0 (none)' });
    // the entry CPU 1 loaded through, filled from B's PTE: writable, and dirty since CPU 0's store
    expect(out.firstViolation.fields.tlbEntry).toMatch(/^pfn 0x[0-9a-f]+ \[V W U D\]$/);
    expect(out.traced.kind).toBe('access-after-return');
    expect(out.firstReports['use-after-free']).toMatchObject({ trial: 1, seed: 7, cpus: [1], address: '0x4000000000' });
    expect(out.firstReports['use-after-free'].message).toMatch(/^use-after-free on CPU 1, read at 0x4000000000: through a TLB entry for pfn 0x[0-9a-f]+ filled at frame generation \d+; the frame is at generation \d+ now/);
  });

  it('fails a preset expected never on a report of any kind, traces the first one and shows every field', async () => {
    const [trace, ftrace] = [join(dir, 'never.json'), join(dir, 'never.ftrace.txt')];
    const r = await shootdown('stress', TWO_KINDS, '--kernel', 'fixed', '--cpus', '2', '--trials', '1', '--seed', '8', '--trace', trace, '--ftrace', ftrace);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/reports +2 in 1 trials: use-after-free 1, access-after-return 1/);
    expect(r.stdout).toMatch(/first report +after .*, trial 1 \(seed 8\): use-after-free on CPU 1, read at 0x4000000000: /);
    expect(r.stdout).toMatch(/frameGenerationNow +\d+/);
    expect(r.stdout).toMatch(/also +after .*: access-after-return on CPU 1, read at 0x4000001000: after munmap returned/);
    expect(r.stdout).toContain('verdict       FAILED: expected never, found 2 oracle reports in 1 trials');
    expect(r.stdout).toContain(`npx shootdown stress ${TWO_KINDS} --kernel fixed --cpus 2 --noise low --seed 8 --trials 1`);
    // the first report, whatever its kind, is the one the traces lead up to
    const text = readFileSync(ftrace, 'utf8');
    expect(text).toMatch(/^# \^\^\^ violation: use-after-free on CPU 1: read at 0x4000000000: through a TLB entry/m);
    expect(text).toMatch(/^# {7}frameGenerationAtFill: \d+$/m);
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as { name: string; args?: Record<string, unknown> }[];
    expect(events.find((e) => e.name === 'violation: use-after-free')?.args).toMatchObject({ access: 'read', address: '0x4000000000' });
  });

  it('shows the same under --json: failed, with the first report of any kind traced', async () => {
    const r = await shootdown('stress', TWO_KINDS, '--kernel', 'fixed', '--cpus', '2', '--trials', '1', '--seed', '9', '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ expected: 'never', failed: true, reports: 2, traced: { kind: 'use-after-free', trial: 1, seed: 9 } });
    expect(out.rerun).toContain('--kernel fixed');
  });
});

describe('compare with a run that reports', () => {
  it('exits 1 and shows every kind with the first report, text and JSON', async () => {
    const r = await shootdown('compare', TWO_KINDS, '--kernel', 'fixed', '--cpus', '2', '--seed', '3', '--json');
    expect(r.code).toBe(1);
    const [row] = JSON.parse(r.stdout).rows;
    expect(row).toMatchObject({ kernel: 'fixed', violations: 2, reportsByKind: { 'use-after-free': 1, 'access-after-return': 1 }, firstReport: { kind: 'use-after-free', trial: 1, seed: 3 } });
    const text = await shootdown('compare', TWO_KINDS, '--kernel', 'fixed', '--cpus', '2', '--seed', '3');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('  fixed on 2 CPUs: use-after-free 1, access-after-return 1; first, trial 1 (seed 3): use-after-free on CPU 1, read at 0x4000000000: ');
  });
});

describe('a scenario that names what does not exist', () => {
  it.each([
    ['bad-forbidden', "scenario bad-forbidden: forbidden 'use-after-fre' is not an oracle kind; kinds: use-after-free, access-after-return,"],
    ['bad-switch', "scenario bad-switch, preset 'buggy': unknown switch 'noSuchSwitch'; switches: delayedRmap,"],
    ['bad-value', "scenario bad-value, preset 'fixed': unknown value 'maybe' for switch delayedRmap; values: on, off"],
  ])('%s: exit 2, one line naming the file, and nothing written', async (name, message) => {
    const trace = join(dir, `${name}.json`);
    const r = await shootdown('stress', `${BAD}/${name}.ts`, '--trials', '1', '--trace', trace);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`shootdown: ${BAD}/${name}.ts: ${message}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(existsSync(trace)).toBe(false);
  });

  it('is a broken file of the catalog, with the same message, and the others still load', async () => {
    const { entries, broken } = await loadCatalog(new URL(`../../${BAD}/`, import.meta.url));
    expect(entries).toEqual([]);
    expect(broken.map((b) => b.name)).toEqual(['bad-forbidden', 'bad-switch', 'bad-value']);
    expect(broken[2].error).toBe(`${BAD}/bad-value.ts: scenario bad-value, preset 'fixed': unknown value 'maybe' for switch delayedRmap; values: on, off`);
  });
});

describe('the run-all table', () => {
  const row = (preset: string, o: Partial<RunAllRow>): RunAllRow => ({
    scenario: 'two-kinds', preset, expected: preset === 'fixed' ? 'never' : 'sometimes', forbidden: 'access-after-return', cpus: 2, seed: 1, trials: 3,
    violations: 0, reports: 0, reportsByKind: {}, firstViolationMs: null, traced: null, rerun: null, traces: [], schedule: null, ok: true, ...o,
  });
  const report = (rows: RunAllRow[], broken: RunAllReport['broken'] = []): RunAllReport =>
    ({ arch: 'x86', budgetMs: 1000, elapsedMs: 900, noise: 'low', schedule: 'free', reportsDir: 'reports', host: hostInfo(), rows, broken, ok: false, interrupted: null });

  it('shows the reports of other kinds in a column and a fixed row that failed on one', () => {
    const traced = { kind: 'use-after-free', trial: 2, seed: 3, cpus: [1], address: '0x0', elapsedMs: 1, message: 'use-after-free on CPU 1, read at 0x0: ...', fields: {} };
    const text = formatRunAll(report([
      row('buggy', { violations: 1, reports: 3, reportsByKind: { 'use-after-free': 2, 'access-after-return': 1 }, firstViolationMs: 5 }),
      row('fixed', { reports: 1, reportsByKind: { 'use-after-free': 1 }, traced, ok: false }),
    ]));
    const lines = text.split('\n');
    expect(lines[2]).toMatch(/^scenario +preset +trials +violations +first after +other reports +seed +result$/);
    expect(lines[3]).toMatch(/^two-kinds +buggy +3 +1 +5ms +use-after-free 2 +1 +ok$/);
    expect(lines[4]).toMatch(/^two-kinds +fixed +3 +0 +- +use-after-free 1 +1 +FAILED: expected never$/);
    expect(text).toContain('failed: two-kinds [fixed] expected never, found 1 oracle reports (use-after-free 1) in 3 trials (seed 1); first: use-after-free on CPU 1, read at 0x0: ...');
  });

  it('names a catalog file that did not load', () => {
    expect(formatRunAll(report([], [{ name: 'bad-value', error: `${BAD}/bad-value.ts: scenario bad-value, preset 'fixed': ...` }]))).toContain(
      `failed: catalog file bad-value.ts did not load: ${BAD}/bad-value.ts: scenario bad-value, preset 'fixed': ...`,
    );
  });

  it('names each buggy run\'s schedule file, and says why a run has none', () => {
    const text = formatRunAll(report([
      row('buggy', { violations: 1, schedule: 'reports/two-kinds-buggy.schedule.json' }),
      row('buggy', { scenario: 'rare', violations: 1, noSchedule: 'pct found no access-after-return in 40 trials (10s)' }),
    ]));
    expect(text).toContain('replay two-kinds [buggy]: npx shootdown replay reports/two-kinds-buggy.schedule.json');
    expect(text).toContain('no schedule for rare [buggy]: pct found no access-after-return in 40 trials (10s)');
  });
});
