import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';

// a scenario outside the catalog: deterministic, use-after-free on every buggy trial, never when fixed;
// the kernel alone decides which (deferredFlushGen, in arch/x86/flush.ts)
const USER = 'test/fixtures/user-scenario.ts';
const dir = mkdtempSync(join(tmpdir(), 'shootdown-stress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ChromeEvent {
  name: string;
  ph: string;
  tid: number;
  ts?: number;
}

describe('shootdown stress with a scenario file of the user', () => {
  it('finds the use after free on every buggy trial, exits 1 and writes both traces (seed 11)', async () => {
    const trace = join(dir, 'buggy.json');
    const ftrace = join(dir, 'buggy.ftrace.txt');
    const r = await shootdown('stress', USER, '--cpus', '3', '--trials', '3', '--seed', '11', '--json', '--trace', trace, '--ftrace', ftrace);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'reclaim-while-switched-out', kernel: 'buggy', cpus: 3, seed: 11, trials: 3, violations: 3 });
    expect(out.switches).toMatchObject({ deferredFlushGen: 'reuse', ptepGetAndClear: 'xchg' });
    expect(out.firstViolation).toMatchObject({ kind: 'use-after-free', trial: 1, cpus: [1], address: '0x2000000000', seed: 11 });
    expect(out.firstViolation.elapsedMs).toBeGreaterThan(0);
    // reclaim's batched flush, once a trial
    expect(out.counters.nr_tlb_remote_flush).toBe(3);
    expect(out.host.cores).toBeGreaterThan(0);

    const events: ChromeEvent[] = JSON.parse(readFileSync(trace, 'utf8')).traceEvents;
    const mark = events.findIndex((e) => e.name === 'violation: use-after-free');
    expect(mark).toBeGreaterThan(0);
    expect(events[mark].tid).toBe(1);
    const before = events.slice(0, mark).filter((e) => e.ph === 'i');
    // reclaim on CPU 2 had sent its flush, and every CPU had run, before CPU 1's access
    expect(before.some((e) => e.tid === 2 && e.name === 'ipi_send')).toBe(true);
    expect(new Set(before.map((e) => e.tid))).toEqual(new Set([0, 1, 2]));

    const text = readFileSync(ftrace, 'utf8');
    // CPU 1 switched back to the mm and flushed nothing: its PCID's generation looked current
    expect(text).toMatch(/^ +cpu1-1 .* tlb_flush: pages:0 reason:TLB_FLUSH_ON_TASK_SWITCH \(0\)$/m);
    expect(text).toContain('# ^^^ violation: use-after-free on CPU 1');
    expect(text).toContain('seed=11');
  });

  it('finds nothing under the fixed kernel, exits 0 and writes no trace', async () => {
    const trace = join(dir, 'fixed.json');
    const r = await shootdown('stress', USER, '--kernel', 'fixed', '--cpus', '3', '--trials', '5', '--seed', '12', '--json', '--trace', trace);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kernel: 'fixed', switches: { deferredFlushGen: 'bump' }, trials: 5, violations: 0, firstViolation: null });
    expect(existsSync(trace)).toBe(false);
  });

  it('prints the seed, the first violation and a command that reruns it, saying a free run may not show it again', async () => {
    const r = await shootdown('stress', USER, '--cpus', '3', '--trials', '2', '--seed', '40', '--stop-on-first', '--ftrace', join(dir, 'none-needed.txt'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('stress reclaim-while-switched-out: Can a CPU read a page that reclaim freed');
    expect(r.stdout).toMatch(/seed +40, noise low/);
    expect(r.stdout).toMatch(/trials +1 in /);
    expect(r.stdout).toContain('trial 1 (seed 40): use-after-free on CPU 1, read at 0x2000000000: through a TLB entry for pfn');
    expect(r.stdout).toMatch(new RegExp(`rerun +npx shootdown stress ${USER} --kernel buggy --cpus 3 --noise low --seed 40 --trials 1`));
    expect(r.stdout).toContain('(free run: interleaving not recorded; the seed fixes the noise, not the interleaving, so the rerun may not show it again)');
    expect(r.stdout).not.toContain('replay');
  });

  it('says the trace was not written when no violation was found', async () => {
    const r = await shootdown('stress', USER, '--kernel', 'fixed', '--cpus', '3', '--trials', '1', '--seed', '3', '--trace', join(dir, 'never.json'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('never.json not written: no violation');
  });

  it.each([
    [['no-such-race'], "unknown scenario 'no-such-race'; scenarios: "],
    [['test/fixtures/no-such-file.ts'], 'no scenario file test/fixtures/no-such-file.ts'],
    [['test/fixtures/handshake.ts'], 'test/fixtures/handshake.ts does not default-export a scenario made by defineScenario'],
    [[USER, '--kernel', 'weird'], "scenario reclaim-while-switched-out has no preset 'weird'; presets: buggy, fixed"],
    [[USER, '--set', 'delayedRmap=maybe'], "unknown value 'maybe' for switch delayedRmap; values: on, off"],
    [[USER, '--set', 'noSuchSwitch=on'], "unknown switch 'noSuchSwitch'; switches: delayedRmap,"],
    [[USER, '--duration', '30'], '--duration must be a positive time with a unit: 500ms, 30s or 2m; got "30"'],
    [[USER, '--duration', '1h'], '--duration must be a positive time with a unit: 500ms, 30s or 2m; got "1h"'],
    [[USER, '--cpus', '2'], '--cpus must be at least 3: scenario reclaim-while-switched-out needs 3 CPUs, got 2'],
    [[USER, '--noise', 'loud'], '--noise must be one of off, low, high, got "loud"'],
    [[USER, '--trials', '2', '--duration', '1s'], 'give --duration or --trials, not both'],
    [[USER, '--frobnicate'], "Unknown option '--frobnicate'"],
    [[], 'stress takes one scenario (a catalog name or a path to a .ts file), got none'],
  ])('rejects %j with exit 2 and a one-line message', async (args, message) => {
    const r = await shootdown('stress', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('reports an unknown preset as JSON under --json', async () => {
    const r = await shootdown('stress', USER, '--kernel', 'weird', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { kind: 'usage', message: "scenario reclaim-while-switched-out has no preset 'weird'; presets: buggy, fixed" } });
  });

  it('has help text', async () => {
    const r = await shootdown('stress', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('shootdown stress <scenario|path/to/file.ts> [--kernel PRESET]');
  });
});

describe('shootdown stress with a measurement', () => {
  it('runs it under its first preset when no --kernel is given, and finds nothing', async () => {
    const r = await shootdown('stress', 'fanout-sweep', '--cpus', '2', '--trials', '2', '--seed', '3', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ scenario: 'fanout-sweep', kernel: 'mainline', forbidden: 'any', trials: 2, violations: 0 });
  });
});

describe('shootdown run-all', () => {
  it('has help text', async () => {
    const r = await shootdown('run-all', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('shootdown run-all [--budget 2m] [--schedule free|random|pct[:D]] [--parallel K] [--json]');
    expect(r.stdout).toContain('reports/run-all.json');
  });

  it('rejects a bad --budget with exit 2', async () => {
    const r = await shootdown('run-all', '--budget', 'soon');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('shootdown: --budget must be a positive time with a unit: 500ms, 30s or 2m; got "soon"');
  });
});
