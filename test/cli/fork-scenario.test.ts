/*
 * A user's scenario file that forks (test/fixtures/own-scenario/fork-child.ts), importing only
 * from 'shootdown': the child reads the parent's data as it was at fork and both keep their own
 * writes under the mainline kernel; without fork's TLB flush, a thread of the parent writes into
 * the child's pages and the file's own checks fail.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { shootdown } from '../fixtures/cli.ts';

const FILE = fileURLToPath(new URL('../fixtures/own-scenario/fork-child.ts', import.meta.url));

describe('a scenario file that forks', () => {
  it('is clean under fixed: the child sees the data at fork, each side keeps its writes', async () => {
    const r = await shootdown('stress', FILE, '--kernel', 'fixed', '--trials', '5', '--seed', '1', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ scenario: 'fork-child', forbidden: 'assertion', trials: 5, reports: 0, failed: false });
  });

  it("fails its own checks under buggy (forkFlush=none): the parent's later write reaches the child", async () => {
    const r = await shootdown('stress', FILE, '--kernel', 'buggy', '--trials', '1', '--seed', '1', '--json');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'fork-child', violations: 1 });
    expect(out.reportsByKind.assertion).toBeGreaterThan(0);
    expect(out.reportsByKind['access-after-return']).toBeGreaterThan(0);
  });
});
