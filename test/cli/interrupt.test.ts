/*
 * Nothing lost on the way out (issue 12, item 6): stress, compare and run-all interrupted by
 * SIGINT or SIGTERM once their progress shows work done print the partial result with every
 * report found so far, write their traces (compare: its page), and exit 128 + the signal; run-all
 * replaces reports/ with the partial job, whole: its run-all.json and exactly the traces it names.
 *
 * test/fixtures/user-scenario.ts shows its use-after-free in every buggy trial;
 * test/fixtures/two-kinds-scenario.ts reports a use-after-free and an access-after-return in every
 * trial under fixed.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli } from './child.ts';

const USER = 'test/fixtures/user-scenario.ts';
const TWO_KINDS = 'test/fixtures/two-kinds-scenario.ts';
const dir = mkdtempSync(join(tmpdir(), 'shootdown-interrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FAST = { SHOOTDOWN_PROGRESS_INTERVAL: '100ms' };
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const;

describe.each(SIGNALS)('%s', (signal, code) => {
  it('stress prints the partial summary with the violations found so far and writes the trace', async () => {
    const trace = join(dir, `stress-${signal}.json`);
    const cli = startCli(['stress', USER, '--cpus', '3', '--duration', '10m', '--seed', '5', '--json', '--trace', trace], { env: FAST });
    const seen = await cli.progress((p) => (p.violations ?? 0) >= 2);
    cli.child.kill(signal);
    const exit = await cli.exit;
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(code);
    const out = JSON.parse(exit.stdout);
    expect(out.interrupted).toBe(signal);
    expect(out.trials).toBeGreaterThanOrEqual(seen.trials!);
    expect(out.violations).toBeGreaterThanOrEqual(seen.violations!);
    expect(out.violations).toBeLessThanOrEqual(out.trials);
    expect(out).toMatchObject({ failed: true, firstViolation: { kind: 'use-after-free', trial: 1, seed: 5 }, traces: [trace] });
    expect(JSON.parse(readFileSync(trace, 'utf8')).traceEvents.some((e: { name: string }) => e.name === 'violation: use-after-free')).toBe(true);
  });

  it('compare prints the rows done, the last with its trials so far and their reports, and writes the page', async () => {
    const html = join(dir, `compare-${signal}.html`);
    const cli = startCli(['compare', TWO_KINDS, '--kernel', 'fixed', '--cpus', '2,3', '--trials', '10000', '--seed', '3', '--json', '--html', html], { env: FAST });
    const seen = await cli.progress((p) => (p.trials ?? 0) >= 2);
    cli.child.kill(signal);
    const exit = await cli.exit;
    expect(exit.code).toBe(code);
    const out = JSON.parse(exit.stdout);
    expect(out.interrupted).toBe(signal);
    expect(out.warnings.at(-1)).toMatch(new RegExp(`^interrupted by ${signal}: 1 of 2 runs have rows`));
    expect(out.rows).toHaveLength(1);
    const [row] = out.rows;
    expect(row).toMatchObject({ kernel: 'fixed', cpus: 2 });
    expect(row.trials).toBeGreaterThanOrEqual(seen.trials!);
    expect(row.trials).toBeLessThan(10000);
    // every trial seen done reported both kinds
    expect(row.reportsByKind['use-after-free']).toBeGreaterThanOrEqual(seen.trials!);
    expect(row.reportsByKind['access-after-return']).toBeGreaterThanOrEqual(seen.trials!);
    expect(row.violations).toBe(row.reportsByKind['use-after-free'] + row.reportsByKind['access-after-return']);
    expect(readFileSync(html, 'utf8')).toContain(`interrupted by ${signal}`);
  });

  it('run-all replaces reports/ with the partial job, whole: its run-all.json and the traces it names, nothing else', async () => {
    const cwd = mkdtempSync(join(dir, `run-all-${signal}-`));
    mkdirSync(join(cwd, 'reports'));
    writeFileSync(join(cwd, 'reports', 'run-all.json'), '{"old": true}\n');
    writeFileSync(join(cwd, 'reports', 'old-scenario-buggy.json'), '{}\n');
    const cli = startCli(['run-all', '--budget', '10m', '--json'], { cwd, env: FAST });
    // the first run is done
    await cli.progress((p) => p.run >= 2);
    cli.child.kill(signal);
    const exit = await cli.exit;
    expect(exit.code).toBe(code);
    const out = JSON.parse(exit.stdout);
    expect(out.interrupted).toBe(signal);
    expect(out.rows.length).toBeGreaterThanOrEqual(1);
    const written = JSON.parse(readFileSync(join(cwd, 'reports', 'run-all.json'), 'utf8'));
    expect(written).toEqual(out);
    // the traces and schedule files the rows name, and nothing else
    const traces: string[] = out.rows.flatMap((r: { traces: string[]; schedule: string | null }) => [...r.traces, ...(r.schedule ? [r.schedule] : [])]);
    for (const t of traces) expect(existsSync(join(cwd, t)), t).toBe(true);
    expect(readdirSync(join(cwd, 'reports')).sort()).toEqual(['run-all.json', ...traces.map((t) => basename(t))].sort());
    // no folder left beside it
    expect(readdirSync(cwd)).toEqual(['reports']);
  });
});
