/*
 * Progress everywhere (issue 12, item 8): off a terminal a line every interval on stderr (text,
 * or JSON under --json), none under --quiet; on a terminal one line redrawn in place with the
 * current run and, for a campaign, run k of N and the campaign's time left.
 */
import { describe, expect, it, vi } from 'vitest';
import { startCli } from './child.ts';
import { Progress } from '../../src/campaign/progress.ts';

const USER = 'test/fixtures/user-scenario.ts';
const FAST = { SHOOTDOWN_PROGRESS_INTERVAL: '100ms' };

describe('off a terminal', () => {
  it('stress writes a progress line every SHOOTDOWN_PROGRESS_INTERVAL to stderr', async () => {
    const exit = await startCli(['stress', USER, '--cpus', '3', '--duration', '2s', '--seed', '1'], { env: FAST }).exit;
    expect(exit.code).toBe(1);
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line).toMatch(/^reclaim-while-switched-out \[buggy\]: \d+ trials, \d+ violations, \d+ reports, [\d.]+\/s, \S+ elapsed, \S+ left$/);
    // no carriage return or terminal escape in a log
    expect(exit.stderr).not.toMatch(/[\r\x1b]/);
  });

  it('--quiet silences it; stdout is the same summary', async () => {
    const exit = await startCli(['stress', USER, '--cpus', '3', '--duration', '1s', '--seed', '1', '--quiet'], { env: FAST }).exit;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe('');
    expect(exit.stdout).toContain('stress reclaim-while-switched-out:');
  });

  it('compare, under --json, writes JSON objects naming the run and the campaign', async () => {
    const cli = startCli(['compare', 'mprotect-toggle', '--kernel', 'mainline,always-flush', '--cpus', '1', '--trials', '200', '--seed', '2', '--json'], { env: FAST });
    const exit = await cli.exit;
    expect(exit.code).toBe(0);
    const lines = exit.stderr.trimEnd().split('\n').map((l) => JSON.parse(l).progress);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const p of lines) {
      expect(p).toMatchObject({ campaign: 'compare mprotect-toggle', runs: 2 });
      expect(p.label).toMatch(/^(mainline|always-flush) on 1 CPUs$/);
      expect([1, 2]).toContain(p.run);
      expect(p.trials).toBeLessThanOrEqual(200);
    }
    expect(JSON.parse(exit.stdout).rows).toHaveLength(2);
  });
});

describe('on a terminal', () => {
  it('redraws one line: the run, then run k of N and the campaign time left by its budget', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    try {
      const written: string[] = [];
      const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
      const progress = new Progress({ json: false, intervalMs: 10_000, stream: tty });
      progress.begin('run-all', 18, 60_000);
      let done = 0;
      progress.run('deferred-flush-same-gen [buggy]', { unit: 'trials', durationMs: 4000 }, () => ({ done, counts: { violations: 1, reports: 2 } }));
      done = 3;
      vi.advanceTimersByTime(1000);
      expect(written.at(-1)).toBe('\rdeferred-flush-same-gen [buggy]: 3 trials, 1 violations, 2 reports, 3.0/s, 1s elapsed, 3s left; run-all run 1 of 18, 1s elapsed, 59s left\x1b[K');
      progress.run('madvise-batched-pending [buggy]', { unit: 'trials', total: 10 }, () => ({ done: 5 }));
      vi.advanceTimersByTime(2000);
      expect(written.at(-1)).toBe('\rmadvise-batched-pending [buggy]: 5/10 trials, 2.5/s, 2s elapsed, 2s left; run-all run 2 of 18, 3s elapsed, 57s left\x1b[K');
      progress.end();
      expect(written.at(-1)).toBe('\r\x1b[K');
    } finally {
      vi.useRealTimers();
    }
  });
});
