import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { catalogScenario } from '../../src/scenario/catalog/index.ts';
import { forbiddenKind } from '../../src/scenario/scenario.ts';
import { runConfigFor } from '../../src/campaign/trials.ts';
import { DEFER_IRQ, QUANTUM, Strategy } from '../../src/schedule/layout.ts';
import { INTERRUPT_INTERVAL } from '../../src/cpu/cpu.ts';
import { readEvents } from '../../src/trace/events.ts';
import { toFtrace } from '../../src/trace/export.ts';
import type { Machine, RunOptions } from '../../src/machine/machine.ts';
import type { ScheduleSpec } from '../../src/schedule/control.ts';
import { eventCounts } from '../../src/trace/counters.ts';

const machine = useMachine({ cpus: 4 });
const inside = fixtureUrl('schedule-workloads', 'insideCount');
const noSpeculation = { seed: 7, speculationShift: -1 };

/** A catalog scenario's buggy trial under `schedule`, and its whole interleaving as ftrace text. */
async function catalogTrial(m: Machine, name: string, schedule: ScheduleSpec, seed = 5) {
  const entry = (await catalogScenario(name))!;
  const cfg = runConfigFor(entry.scenario, 'buggy');
  const opts: RunOptions = { seed, kernel: cfg.kernel, stopOnKind: forbiddenKind(entry.scenario), scenarioSwitches: cfg.own, schedule };
  const run = await m.run<unknown, unknown, unknown>({ url: entry.url }, entry.scenario.trialOptions, opts);
  const events = readEvents(m.v, [0, 1, 2, 3], 100_000);
  return { run, ftrace: toFtrace(events) };
}

describe('the baton', () => {
  it('with K = 1, no two CPUs are ever between scheduling points at once', async () => {
    const run = await machine().run<unknown, number, { rounds: number }>(inside, { rounds: 300 }, { ...noSpeculation, schedule: { strategy: Strategy.Random, parallel: 1, seed: 1 } });
    expect(Math.max(...run.results)).toBe(1);
    // the CPUs did take turns: the scheduler handed slots over many times
    expect(run.schedule!.switches).toBeGreaterThan(100);
  });

  it('with K = 2, at most two are', async () => {
    const run = await machine().run<unknown, number, { rounds: number }>(inside, { rounds: 300 }, { ...noSpeculation, schedule: { strategy: Strategy.Random, parallel: 2, seed: 1 } });
    expect(Math.max(...run.results)).toBeLessThanOrEqual(2);
  });

  it('gives the same schedule, counters, verdict and interleaving for the same seed (K = 1)', async () => {
    const spec = { strategy: Strategy.Random, parallel: 1, seed: 9 };
    const a = await catalogTrial(machine(), 'ptep-clear-nonatomic', spec);
    const b = await catalogTrial(machine(), 'ptep-clear-nonatomic', spec);
    expect(b.run.schedule!.steps).toBe(a.run.schedule!.steps);
    expect(b.run.schedule!.hash).toBe(a.run.schedule!.hash);
    expect(b.run.schedule!.deviations).toEqual(a.run.schedule!.deviations);
    expect(eventCounts(b.run.counters)).toEqual(eventCounts(a.run.counters));
    expect(b.run.violations).toEqual(a.run.violations);
    expect(b.ftrace).toBe(a.ftrace);
    // and another seed another run
    const c = await catalogTrial(machine(), 'ptep-clear-nonatomic', { ...spec, seed: 10 });
    expect(c.run.schedule!.hash).not.toBe(a.run.schedule!.hash);
  });

  it('replays a recorded PCT run from its log alone, and reports where a changed log diverges', async () => {
    const pct = await catalogTrial(machine(), 'dontneed-nested-flush', { strategy: Strategy.Pct, parallel: 1, seed: 2, depth: 3, horizon: 2000 });
    const log = pct.run.schedule!.deviations;
    expect(log.length).toBeGreaterThan(0);
    // IPIs taken late are among the choices: a flush reached a busy CPU a point after it could have
    expect(log.some((d) => d.cpu === DEFER_IRQ)).toBe(true);
    const replay = await catalogTrial(machine(), 'dontneed-nested-flush', { strategy: Strategy.Replay, parallel: 1, seed: 0, replay: log });
    expect(replay.run.schedule!.diverged).toBeNull();
    expect(replay.run.schedule!.hash).toBe(pct.run.schedule!.hash);
    expect(replay.ftrace).toBe(pct.ftrace);
    // the run's own CPU streams come from the trial's seed, not the scheduler's: keep it
    const i = Math.floor(log.length / 2);
    const changed = log.map((d, j) => (j === i ? { ...d, hash: d.hash ^ 1 } : d));
    const diverged = await catalogTrial(machine(), 'dontneed-nested-flush', { strategy: Strategy.Replay, parallel: 1, seed: 0, replay: changed });
    expect(diverged.run.schedule!.diverged).toEqual({ step: log[i].step, cpu: log[i].cpu });
  });

  it('hands the baton on when a CPU polls without waiting past its slice, so that the default schedule ends', async () => {
    const polls = fixtureUrl('schedule-workloads', 'pollsForOther');
    // the default alone: a lenient replay of no choices
    const run = await machine().run<unknown, number, object>(polls, {}, { ...noSpeculation, schedule: { strategy: Strategy.ReplayLenient, parallel: 1, seed: 1, replay: [] } });
    // CPU 0 ran first and polled through one slice of points (its interrupt points and the few
    // of its mmap and barrier before them) before CPU 1 ran: one slice, not less, not two
    expect(run.results[0]).toBeGreaterThan((QUANTUM / 2) * INTERRUPT_INTERVAL);
    expect(run.results[0]).toBeLessThan(QUANTUM * INTERRUPT_INTERVAL);
    expect(run.schedule!.deviations).toEqual([]);
  });

  it('a CPU that fails in a controlled run ends the run with its error, the blocked CPUs released', async () => {
    const fails = fixtureUrl('schedule-workloads', 'failsWhileOthersWait');
    await expect(machine().run(fails, {}, { schedule: { strategy: Strategy.Pct, parallel: 1, seed: 1, depth: 2, horizon: 100 } })).rejects.toThrow(/CPU 1: Error: the program of CPU 1 failed/);
    // and the machine runs the next trial
    const run = await machine().run<unknown, number, { rounds: number }>(inside, { rounds: 10 }, { ...noSpeculation, schedule: { strategy: Strategy.Random, parallel: 1, seed: 2 } });
    expect(Math.max(...run.results)).toBe(1);
  });
});
