/*
 * Layout of the scheduler's region of the machine's memory (machine/memory.ts `sched`): the
 * baton's header, one line per CPU, PCT's change points, and two logs of (step, CPU, hash)
 * triples: the deviations the running strategy made (what a schedule file keeps), and those a
 * replay follows. clearMachineMemory leaves the region alone: the control plane sets up the
 * header words each run needs (schedule/control.ts) and the logs are read only up to their length.
 */
import { MAX_CPUS } from '../machine/memory-limits.ts';

// The header: written under H_LOCK by whichever CPU is at a scheduling point.
export const H_LOCK = 1; // raw lock over every decision (machine/raw-spinlock.ts)
export const H_PARALLEL = 2; // K: how many CPUs may run between scheduling points
export const H_STRATEGY = 0; // Strategy; 0 in a free run, which has no baton
export const H_RELEASED = 4; // nonzero: the baton is void, every CPU runs free (an abort, a divergence)
export const H_ARRIVED = 5; // CPUs that entered the run's schedule (the start rendezvous)
export const H_RUNNING = 6; // CPUs holding a slot now
export const H_STEP = 7; // scheduling points passed, in all
export const H_RNG = 8; // the strategy's xorshift32 state
export const H_HASH = 9; // a rolling hash of (step, CPU, point kind): what a replay compares
export const H_HORIZON = 11; // PCT's k: change points are drawn from [1, k]
export const H_LOG_LEN = 12; // deviations recorded
export const H_LOG_OVERFLOW = 13; // nonzero when the log ran out of room
export const H_REPLAY_LEN = 14; // deviations to follow
export const H_REPLAY_POS = 15; // the next one
export const H_DIVERGED = 16; // step + 1 at which a strict replay found its recorded CPU unable to run
export const H_DIVERGED_CPU = 17; // the CPU the replay wanted there
export const H_PREEMPTIONS = 18; // recorded choices that switched away from a CPU that could have gone on
export const H_LAST = 19; // the CPU that last ran (the default choice's round-robin origin)
export const H_CHANGE_LEN = 23; // PCT's change points (sorted steps at CHANGE_BASE)
export const H_CHANGE_POS = 24; // the next change point not yet passed
export const H_SWITCHES = 25; // slots handed from one CPU to another
export const H_WARMERS = 26; // warmer threads the run may keep spinning (machine/machine.ts), set by the control plane
export const H_WARM = 27; // futex word: warmers spinning now; H_WARMERS from the first choice to the first exit
// KIND_STEP_BASE + kind: the step of a controlled run at which the first report of that oracle
// kind was made (check/oracle.ts), 0 for none
export const KIND_STEP_BASE = 32;
export const HEADER_WORDS = 64;

/** How a controlled run picks who runs next (H_STRATEGY). */
export const enum Strategy {
  Random = 1,
  Pct = 2,
  /** follow a log exactly: a recorded CPU that cannot run is a divergence */
  Replay = 3,
  /** follow a log where it can: a recorded CPU that cannot run is skipped (shrink's candidates) */
  ReplayLenient = 4,
}

// One line per CPU.
export const CPU_BASE = HEADER_WORDS;
export const CPU_WORDS = 16;
export const C_STATE = 0; // CpuState; also the futex word a CPU waiting for its turn sleeps on
export const C_PARKED = 1; // 1 while this CPU sleeps on C_STATE, waiting for its turn
export const C_PRIORITY = 2; // PCT's priority
export const C_SEEN_WAKE = 3; // a blocked CPU's IPI_WAKE when it blocked: a kick since moves it
export const C_BLOCKED_AT = 4; // the step at which it blocked
export const C_DEFERRED = 6; // interrupt points in a row at which this CPU's pending IPIs were left pending
export const C_LATE_IRQ = 7; // PCT: 1 if this CPU takes pending IPIs late (drawn per trial)
export const C_HELD = 8; // scheduling points this CPU has gone on from since it was last given a slot
/**
 * The default's time slice: a CPU that has gone on from this many points in a row hands over,
 * round robin, so that a default schedule (a replay past its last choice, a shrink candidate) is
 * fair, and a CPU polling without waiting cannot hold the baton for ever.
 */
export const QUANTUM = 1000;
/** A run still going after this many steps is asked to stop (G_STOP), as a time budget would. */
export const MAX_STEPS = 4_000_000;
/** A blocked CPU's slice, in steps: it looks at its condition again after this many. */
export const TIMEOUT_STEPS = 256;
/** In a logged choice, the CPU field of a decision to leave a pending IPI pending. */
export const DEFER_IRQ = -1;
/** At most this many interrupt points in a row leave an IPI pending: a flush's wait must end. */
export const MAX_DEFERRED = 2;

export const enum CpuState {
  Absent = 0,
  Running = 1,
  Ready = 2,
  Blocked = 3,
  Exited = 4,
}

export const CHANGE_BASE = CPU_BASE + MAX_CPUS * CPU_WORDS;
export const MAX_CHANGE_POINTS = 64;

/** A deviation: the step, the CPU chosen there, the rolling hash before the choice. */
export const DEV_WORDS = 3;
export const LOG_CAP = 1 << 18;
export const LOG_BASE = CHANGE_BASE + MAX_CHANGE_POINTS;
export const REPLAY_BASE = LOG_BASE + LOG_CAP * DEV_WORDS;
export const SCHED_WORDS = REPLAY_BASE + LOG_CAP * DEV_WORDS;

export function cpuWord(cpu: number, word: number): number {
  return CPU_BASE + cpu * CPU_WORDS + word;
}

/**
 * Where a CPU is when it reaches the scheduler, for the rolling hash and the shrunk table: the
 * kinds of step another CPU can observe, and the waits.
 */
export const enum Point {
  Start = 1,
  Interrupt = 2,
  RaceWindow = 3,
  PteWrite = 4,
  Walk = 5,
  Lock = 6,
  Unlock = 7,
  TlbGen = 8,
  FrameFree = 9,
  IpiSend = 10,
  IpiAck = 11,
  Block = 12,
  Exit = 13,
  IrqDelivery = 14,
  Invlpgb = 15,
  Asid = 16,
}

export const POINT_NAMES = ['', 'start', 'interrupt point', 'race window', 'PTE write', 'page walk', 'lock', 'unlock', 'tlb_gen bump', 'frame free', 'IPI send', 'IPI ack', 'wait', 'exit', 'IPI delivery', 'INVLPGB', 'ASID update'];
