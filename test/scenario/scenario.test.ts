import { describe, expect, it } from 'vitest';
import { configFor, defineScenario, withParams, type ScenarioSpec } from '../../src/scenario/scenario.ts';
import { UsageError } from '../../src/errors.ts';

const base: ScenarioSpec<null, { pages: number; verbose: boolean; name: string }> = {
  name: 'mine',
  question: 'q?',
  forbidden: 'assertion',
  cpus: 2,
  presets: { buggy: ['path=fast'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  switches: { path: { values: { safe: 'the safe path', fast: 'the fast path' }, default: 'safe' } },
  trialOptions: { pages: 8, verbose: false, name: 'x' },
  setup: () => null,
  run: () => null,
};

const usage = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no error');
};

describe('a scenario\'s own switches', () => {
  it('start at their defaults, take presets and later assignments, and leave the kernel to its switches', () => {
    const scenario = defineScenario(base);
    expect(configFor(scenario, []).own).toEqual({ path: 'safe' });
    const c = configFor(scenario, ['path=fast', 'delayedRmap=off', 'path=safe']);
    expect(c.own).toEqual({ path: 'safe' });
    expect(c.kernel.delayedRmap).toBe('off');
  });

  it('may not take a kernel switch\'s name, nor a default that is not one of their values', () => {
    expect(usage(() => defineScenario({ ...base, switches: { syncIpi: base.switches!.path } }))).toBe("scenario mine: its switch 'syncIpi' has the name of a kernel switch");
    expect(usage(() => defineScenario({ ...base, switches: { path: { ...base.switches!.path, default: 'slow' } } }))).toBe(
      'scenario mine, default of its switch: unknown value \'slow\' for switch path; values: safe, fast',
    );
    expect(usage(() => defineScenario({ ...base, presets: { ...base.presets, buggy: ['path=slow'] } }))).toBe(
      "scenario mine, preset 'buggy': unknown value 'slow' for switch path; values: safe, fast",
    );
  });
});

describe('--param', () => {
  const scenario = defineScenario(base);
  it('sets numbers, booleans and strings of the declared options, on top of the base', () => {
    expect(withParams(scenario, scenario.trialOptions!, ['pages=3', 'verbose=true', 'name=y z'])).toEqual({ pages: 3, verbose: true, name: 'y z' });
    expect(withParams(scenario, { pages: 1, verbose: false, name: 'v' }, [])).toEqual({ pages: 1, verbose: false, name: 'v' });
  });

  it('rejects an undeclared key, a value of another type and a malformed assignment', () => {
    expect(usage(() => withParams(scenario, scenario.trialOptions!, ['page=3']))).toBe(
      "unknown --param 'page' for scenario mine; options: pages (default 8), verbose (default false), name (default \"x\")",
    );
    expect(usage(() => withParams(scenario, scenario.trialOptions!, ['verbose=yes']))).toBe('--param verbose must be true or false, got "yes"');
    expect(usage(() => withParams(scenario, scenario.trialOptions!, ['pages=']))).toBe('--param pages must be an integer, got ""');
    expect(usage(() => withParams(scenario, scenario.trialOptions!, ['pages']))).toBe('malformed --param "pages"; expected --param key=value');
  });
});
