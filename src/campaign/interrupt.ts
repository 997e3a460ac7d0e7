/*
 * Ctrl-C (SIGINT) and SIGTERM during a long command: the results so far are not lost. The first
 * signal aborts the command's AbortSignal; runTrials (trials.ts) then tells the machine's CPUs to
 * stop (stopAll: every program winds down at its next shouldStop poll) and starts no further
 * trial, and the command prints the partial summary, writes its traces and exits 128 + the signal
 * number: 130 for SIGINT, 143 for SIGTERM. A second signal exits at once, results or not.
 */

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type CaughtSignal = keyof typeof EXIT_CODES;

export interface Interrupt {
  /** aborted, with the signal's name as reason, at the first signal */
  readonly signal: AbortSignal;
  /** the signal received, or null */
  received(): CaughtSignal | null;
  /** the exit code for the signal received */
  exitCode(): number | null;
  /** puts the default handlers back */
  dispose(): void;
}

/** Catches SIGINT and SIGTERM until dispose(). */
export function catchInterrupts(): Interrupt {
  const controller = new AbortController();
  let received: CaughtSignal | null = null;
  const handlers = (Object.keys(EXIT_CODES) as CaughtSignal[]).map((name) => {
    const handler = () => {
      if (received !== null) process.exit(EXIT_CODES[name]);
      received = name;
      controller.abort(name);
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  return {
    signal: controller.signal,
    received: () => received,
    exitCode: () => (received === null ? null : EXIT_CODES[received]),
    dispose: () => handlers.forEach((off) => off()),
  };
}

/** The signal's name if `signal` was aborted by catchInterrupts, else null. */
export function interruptedBy(signal: AbortSignal | undefined): string | null {
  return signal?.aborted ? String(signal.reason) : null;
}
