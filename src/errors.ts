/*
 * Every error a user can act on is made here: option errors name the option and the accepted
 * range; run errors carry the report that explains them.
 */

/** Bad input on the command line or in an API call: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A CPU waited for IPI acknowledgements longer than the watchdog allows (csd_lock_wait). */
export class CsdLockTimeoutError extends Error {
  override name = 'CsdLockTimeoutError';
  constructor(message: string, readonly report: unknown) {
    super(message);
  }
}

/** Thrown on a CPU when another CPU failed and the run is being torn down. */
export class RunAbortedError extends Error {
  override name = 'RunAbortedError';
}

/** A CPU's program failed; carries the CPU and its error as it crossed the thread boundary. */
export class CpuFailedError extends Error {
  override name = 'CpuFailedError';
  constructor(message: string, readonly cpu: number, readonly report?: unknown) {
    super(message);
  }
}

export function integerOption(name: string, raw: string | undefined, min: number, max: number): number {
  const n = raw === undefined ? NaN : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  }
  return n;
}
