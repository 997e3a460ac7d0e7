import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import {
  SWITCHES,
  SWITCH_NAMES,
  applySwitches,
  defaultKernelConfig,
  parseSwitchAssignment,
  switchValues,
  type KernelConfig,
} from '../../src/config/kernel-config.ts';

function usageErrorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('kernel switches', () => {
  it('has the switches of the catalog, in order', () => {
    expect(SWITCH_NAMES).toEqual([
      'delayedRmap',
      'ptepGetAndClear',
      'nestedForceFlush',
      'nestedRange',
      'batchedPending',
      'madviseBatchedPending',
      'syncIpi',
      'mprotectFlush',
      'deferredFlushGen',
      'pteAccessibleChecksPending',
      'mprotectBatching',
      'numaPidFilter',
      'completedGen',
      'lazyTlb',
      'x86TlbFlush',
      'asidTransition',
      'tlbbatchFlush',
      'perVmaLock',
      'forkFlush',
      'forkVmaLock',
      'lazyfreeCheck',
      'filemapFaultLock',
      'mremapFlush',
      'arm64AsidFastPath',
      'arm64BatchedPending',
      'anonMthp',
      'contpteUnfold',
      'contpteAccessFlags',
    ]);
  });

  it.each(SWITCH_NAMES)('%s: the default is one of its values, each described, with a source', (name) => {
    const spec = SWITCHES[name];
    const descriptions: Record<string, string> = spec.values;
    expect(switchValues(name)).toContain(spec.default);
    for (const value of switchValues(name)) expect(descriptions[value]).toMatch(/\S/);
    expect(spec.from).toMatch(/seed|mainline/);
  });

  it('defaults to mainline behaviour', () => {
    const config = defaultKernelConfig();
    expect(Object.isFrozen(config)).toBe(true);
    expect(config).toMatchObject({ delayedRmap: 'on', ptepGetAndClear: 'xchg', batchedPending: 'counters', syncIpi: 'always' });
    for (const name of SWITCH_NAMES) expect(config[name]).toBe(SWITCHES[name].default);
  });
});

describe('applySwitches', () => {
  it.each(SWITCH_NAMES.flatMap((name) => switchValues(name).map((value) => [name, value] as const)))('accepts %s=%s', (name, value) => {
    const config = applySwitches(defaultKernelConfig(), [`${name}=${value}`]);
    expect(config[name]).toBe(value);
    expect(parseSwitchAssignment(`${name}=${value}`)).toEqual({ name, value });
  });

  it('applies assignments in order into a new frozen config and leaves its input alone', () => {
    const base: KernelConfig = { ...defaultKernelConfig() };
    const before = { ...base };
    const config = applySwitches(base, ['syncIpi=never', 'delayedRmap=off', 'syncIpi=skip-after-ipi-flush']);
    expect(config).not.toBe(base);
    expect(Object.isFrozen(config)).toBe(true);
    expect(config).toEqual({ ...before, delayedRmap: 'off', syncIpi: 'skip-after-ipi-flush' });
    expect(base).toEqual(before);
  });

  it('names the valid switches for an unknown switch', () => {
    const err = usageErrorOf(() => applySwitches(defaultKernelConfig(), ['syncIPI=never']));
    expect(err.message).toBe(`unknown switch 'syncIPI'; switches: ${SWITCH_NAMES.join(', ')}`);
  });

  it('does not take an inherited property for a switch', () => {
    expect(usageErrorOf(() => parseSwitchAssignment('toString=x')).message).toMatch(/^unknown switch 'toString'/);
  });

  it('names the switch and its values for an unknown value', () => {
    const err = usageErrorOf(() => applySwitches(defaultKernelConfig(), ['syncIpi=x']));
    expect(err.message).toBe('unknown value \'x\' for switch syncIpi; values: always, skip-after-ipi-flush, skip-after-any-flush, never');
  });

  it.each(['syncIpi', 'syncIpi=', '=never', ''])('gives the expected form for the malformed %j', (assignment) => {
    const err = usageErrorOf(() => applySwitches(defaultKernelConfig(), [assignment]));
    expect(err.message).toBe(`malformed switch assignment ${JSON.stringify(assignment)}; expected --set switch=value`);
  });
});
