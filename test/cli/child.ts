/*
 * The command line as a child process that a test can watch and signal: its progress lines
 * (campaign/progress.ts, JSON under --json off a terminal) are parsed as they come, so a test can
 * wait for a run to be under way before it interrupts it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const BIN = new URL('../../bin/shootdown.mjs', import.meta.url).pathname;
const ROOT = new URL('../..', import.meta.url).pathname;

export interface ProgressLine {
  campaign: string;
  run: number;
  runs: number;
  label: string;
  trials?: number;
  violations?: number;
  reports?: number;
  elapsedMs: number;
  leftMs: number | null;
  campaignElapsedMs: number;
  campaignLeftMs: number | null;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** resolves with the first progress line that satisfies `ok` (rejects if the child exits first) */
  progress(ok: (p: ProgressLine) => boolean): Promise<ProgressLine>;
  exit: Promise<Exit>;
}

/** Starts `shootdown ...args`, in `cwd` (default: the repository), with extra environment. */
export function startCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { ok: (p: ProgressLine) => boolean; resolve: (p: ProgressLine) => void }[] = [];
  let partial = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{"progress"')) continue;
      const p = (JSON.parse(line) as { progress: ProgressLine }).progress;
      for (const w of waiters.filter((w) => w.ok(p))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p);
      }
    }
  });
  const exit = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child,
    exit,
    progress: (ok) =>
      new Promise((resolve, reject) => {
        waiters.push({ ok, resolve });
        void exit.then((e) => reject(new Error(`the command exited (${e.code}) before the progress line awaited; stderr: ${e.stderr.slice(-500)}`)));
      }),
  };
}
