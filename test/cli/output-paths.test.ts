/*
 * Output paths are checked before the run (issue 12, item 6): a place that cannot be written is
 * bad input, exit 2 and one line naming the option, with no run (no progress line) and nothing
 * written, neither the file nor a temp file beside it.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { startCli } from './child.ts';

const USER = 'test/fixtures/user-scenario.ts';
const dir = mkdtempSync(join(tmpdir(), 'shootdown-paths-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'a-file');
const subdir = join(dir, 'a-dir');
beforeEach(() => {
  writeFileSync(file, 'x');
  mkdirSync(subdir, { recursive: true });
});

/** Every file under dir, recursively. */
function contents(): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

async function refused(args: string[], cwd?: string) {
  const before = contents();
  const exit = await startCli(args, { cwd, env: { SHOOTDOWN_PROGRESS_INTERVAL: '50ms' } }).exit;
  expect(exit.code).toBe(2);
  expect(exit.stdout).toBe('');
  // one line, and not one progress line before it
  expect(exit.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(contents()).toEqual(before);
  return exit.stderr.trimEnd();
}

describe('an output path that cannot be written', () => {
  it('a directory given as --trace', async () => {
    expect(await refused(['stress', USER, '--cpus', '3', '--trials', '1', '--trace', subdir])).toBe(`shootdown: --trace ${subdir}: is a directory; give a file name`);
  });

  it('an existing file used as the parent of --ftrace', async () => {
    expect(await refused(['stress', USER, '--cpus', '3', '--trials', '1', '--ftrace', join(file, 'x.txt')])).toBe(`shootdown: --ftrace ${join(file, 'x.txt')}: ${file} is a file, not a directory`);
  });

  it('a missing parent, on a place nothing can be made (/proc), as --html', async () => {
    expect(await refused(['compare', 'mprotect-toggle', '--cpus', '1', '--html', '/proc/no-such-dir/page.html'])).toBe('shootdown: --html /proc/no-such-dir/page.html: no directory /proc/no-such-dir');
  });

  it('a missing parent in a writable place, as --trace: not made either', async () => {
    expect(await refused(['stress', USER, '--cpus', '3', '--trials', '1', '--trace', join(dir, 'missing', 'x.json')])).toBe(`shootdown: --trace ${join(dir, 'missing', 'x.json')}: no directory ${join(dir, 'missing')}`);
  });

  it('an unwritable directory (/sys) as --trace', async () => {
    expect(await refused(['stress', USER, '--cpus', '3', '--trials', '1', '--trace', '/sys/x.json'])).toMatch(/^shootdown: --trace \/sys\/x\.json: cannot write in \/sys \(/);
  });

  it("run-all's reports/ when a file of that name is in the way", async () => {
    const cwd = mkdtempSync(join(dir, 'run-all-'));
    writeFileSync(join(cwd, 'reports'), 'not a directory');
    expect(await refused(['run-all', '--budget', '1s'], cwd)).toBe('shootdown: reports directory reports: is a file, not a directory');
  });
});
