/*
 * Output that is whole or absent. A file is written to a temp file beside it and renamed over it:
 * a reader never sees half of one, a failed write leaves none. A directory of results (run-all's
 * reports/) is written into a new folder beside it and renamed into place when complete, so it
 * always holds one whole run's files. Before a run, every output place is tried (checkOutputFile,
 * stageDirectory): a path that cannot be written is bad input (UsageError, exit 2) found before
 * any work, with nothing left behind.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.ts';

/** Writes `text` to a temp file beside `path`, then renames it over `path`; makes the directory. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Checks that `path` (given as `option`) can be written as a file, by creating and removing the
 * temp file writeFileAtomic would use. Its directory must exist: a missing one is more likely a
 * typo than a wish. Throws UsageError naming the option and what is wrong.
 */
export function checkOutputFile(option: string, path: string): void {
  if (isDirectory(path)) throw new UsageError(`${option} ${path}: is a directory; give a file name`);
  const probe = `${path}.${process.pid}.tmp`;
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (err) {
    throw outputError(option, path, err);
  }
}

/** A directory of results being written: files go into `dir`, which commit() renames to the target. */
export interface StagedDirectory {
  /** the new folder, beside the target */
  readonly dir: string;
  /** replaces the target with the new folder, whole */
  commit(): void;
  /** removes the new folder; the target stays as it was */
  discard(): void;
}

/**
 * Starts a new folder beside `path` (given as `option`) for a run's results, and checks that way
 * that the target's place is writable (UsageError otherwise, nothing made). commit() moves an old
 * target aside, renames the new folder into place and removes the old one: the target is one run's
 * whole output, the old one or the new one (absent for an instant between the two renames).
 */
export function stageDirectory(option: string, path: string): StagedDirectory {
  if (existsSync(path) && !isDirectory(path)) throw new UsageError(`${option} ${path}: is a file, not a directory`);
  const dir = `${path}.${process.pid}.new`;
  try {
    mkdirSync(dir);
  } catch (err) {
    throw outputError(option, path, err);
  }
  return {
    dir,
    commit() {
      const old = `${path}.${process.pid}.old`;
      const had = existsSync(path);
      if (had) renameSync(path, old);
      renameSync(dir, path);
      if (had) rmSync(old, { recursive: true, force: true });
    },
    discard() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The one line for a place that could not be written: which directory, and why. */
function outputError(option: string, path: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  const parent = dirname(resolve(path));
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    // the nearest ancestor that exists: missing below it, or a file in the way
    let at = parent;
    while (!existsSync(at)) at = dirname(at);
    if (!isDirectory(at)) return new UsageError(`${option} ${path}: ${at} is a file, not a directory`);
    // /proc says ENOENT for a file it will not make
    if (at !== parent) return new UsageError(`${option} ${path}: no directory ${parent}`);
  }
  const why = code === 'EROFS' ? 'read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? (err as Error).message);
  return new UsageError(`${option} ${path}: cannot write in ${parent} (${why})`);
}
