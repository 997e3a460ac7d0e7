import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';

// the reader's check fails on every buggy trial (its own switch), never under the default order
const OWN = 'test/fixtures/own-check-scenario.ts';
const DEADLOCK = 'test/fixtures/deadlock-scenario.ts';
const dir = mkdtempSync(join(tmpdir(), 'shootdown-own-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The one line a usage error prints, and that there is one. */
function usageLine(r: { code: number; stdout: string; stderr: string }): string {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('a scenario with its own check, switch and options, through stress', () => {
  it('reports the failed cpu.expect with its message, its mark in the trace and the CPU\'s console line; exit 1', async () => {
    const trace = join(dir, 'own.json');
    const r = await shootdown('stress', OWN, '--cpus', '3', '--trials', '2', '--seed', '5', '--json', '--trace', trace);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'publish-order', kernel: 'buggy', forbidden: 'assertion', trials: 2, violations: 2, scenarioSwitches: { order: 'flag-then-data' } });
    expect(out.firstViolation).toMatchObject({ kind: 'assertion', cpus: [1], message: 'assertion on CPU 1: the reader saw 0 after the flag, not 42' });
    expect(out.firstViolation.fields).toEqual({ message: 'the reader saw 0 after the flag, not 42' });
    expect(r.stderr).toContain('[cpu 1] read 0\n');
    const events: { name: string; tid: number }[] = JSON.parse(readFileSync(trace, 'utf8')).traceEvents;
    expect(events.some((e) => e.name === 'mark:read' && e.tid === 1)).toBe(true);
  });

  it('passes under the fixed preset, and fails there when --set flips the scenario\'s switch', async () => {
    const fixed = await shootdown('stress', OWN, '--kernel', 'fixed', '--cpus', '2', '--trials', '2', '--seed', '5');
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/^ {2}switches {6}order=data-then-flag \(the scenario's own\)$/m);
    expect(fixed.stdout).toMatch(/verdict +clean: no report/);
    expect(fixed.stderr).toContain('[cpu 1] read 42\n');
    const flipped = await shootdown('stress', OWN, '--kernel', 'fixed', '--set', 'order=flag-then-data', '--cpus', '2', '--trials', '1', '--seed', '5', '--json');
    expect(flipped.code).toBe(1);
    expect(JSON.parse(flipped.stdout)).toMatchObject({ violations: 1, scenarioSwitches: { order: 'flag-then-data' } });
  });

  it('rejects an unknown value of the scenario\'s switch and an unknown switch in one line, exit 2', async () => {
    expect(usageLine(await shootdown('stress', OWN, '--set', 'order=sideways', '--trials', '1'))).toBe(
      "shootdown: unknown value 'sideways' for switch order; values: data-then-flag, flag-then-data",
    );
    expect(usageLine(await shootdown('stress', OWN, '--set', 'ordr=flag-then-data', '--trials', '1'))).toMatch(
      /^shootdown: unknown switch 'ordr'; scenario publish-order's switches: order; kernel switches: delayedRmap, /,
    );
  });

  it('lists the scenario\'s switches beside the kernel\'s', async () => {
    const r = await shootdown('list', OWN, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.switches.map((s: { name: string }) => s.name)).toContain('delayedRmap');
    expect(out.scenario).toEqual({
      name: 'publish-order',
      switches: [{
        name: 'order',
        values: ['data-then-flag', 'flag-then-data'],
        default: 'data-then-flag',
        description: {
          'data-then-flag': 'the writer stores the value, then raises the flag',
          'flag-then-data': 'the writer raises the flag first: the reader may read the value before it is there',
        },
        from: '',
        // a scenario's own switch models no architecture's code
        arch: null,
        valueArch: {},
      }],
    });
  });

  it('--param sets a declared option of its type, and the trials run with it', async () => {
    const r = await shootdown('stress', OWN, '--param', 'value=7', '--cpus', '2', '--trials', '1', '--seed', '5', '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.firstViolation.message).toBe('assertion on CPU 1: the reader saw 0 after the flag, not 7');
    expect(out.params).toEqual(['value=7']);
    expect(out.rerun).toContain('--param value=7');
  });

  it('rejects a misspelt or mistyped --param in one line, exit 2, before any run', async () => {
    expect(usageLine(await shootdown('stress', OWN, '--param', 'valeu=7', '--trials', '1'))).toBe(
      "shootdown: unknown --param 'valeu' for scenario publish-order; options: value (default 42), label (default \"read\")",
    );
    expect(usageLine(await shootdown('stress', OWN, '--param', 'value=seven', '--trials', '1'))).toBe('shootdown: --param value must be an integer, got "seven"');
    expect(usageLine(await shootdown('stress', OWN, '--param', 'value=1.5', '--trials', '1'))).toBe('shootdown: --param value must be an integer, got "1.5"');
  });
});

describe('a scenario whose programs deadlock, through stress', () => {
  it('ends at the run watchdog naming both stuck CPUs and what they wait for; exit 1', async () => {
    const r = await shootdown('stress', DEADLOCK, '--cpus', '3', '--duration', '1s', '--seed', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/run watchdog: .*; stuck: CPU 0, CPU 1\n/);
    expect(r.stderr).toMatch(/^ {2}CPU 0: idle, IRQs on, waiting for a condition/m);
    expect(r.stderr).toMatch(/^ {2}CPU 1: idle, IRQs on, waiting for a condition/m);
    expect(r.stderr).not.toMatch(/^ {2}CPU 2:/m);
  });
});
