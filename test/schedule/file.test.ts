import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeChoices, encodeChoices, readScheduleFile, SCHEDULE_FORMAT, SCHEDULE_VERSION, writeScheduleFile, type ScheduleFile } from '../../src/schedule/file.ts';
import { DEFAULT_HARDWARE } from '../../src/arch/arch.ts';
import { parseScheduleMode, prepareSchedule } from '../../src/schedule/control.ts';
import { createMachineMemory, viewsOf } from '../../src/machine/memory.ts';
import { C_PRIORITY, CHANGE_BASE, H_CHANGE_LEN, H_STRATEGY, Strategy, cpuWord } from '../../src/schedule/layout.ts';
import { UsageError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'shootdown-schedule-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const valid = {
  format: SCHEDULE_FORMAT, version: SCHEDULE_VERSION,
  scenario: { name: 's', arg: 's', file: '/nowhere/s.ts', sha256: '00' },
  preset: 'buggy', set: [], params: [], kernel: {}, scenarioSwitches: {}, cpus: 4, parallel: 1, strategy: 'pct:3', seed: 1, horizon: 100,
  code: 'c', steps: 10, hash: 5, preemptions: 1, choices: [3, 1, 7], verdict: null, reportsByKind: {},
};

function fileWith(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('schedule files', () => {
  it('keep choices as step deltas and decode them back', () => {
    const devs = [{ step: 5, cpu: 2, hash: -7 }, { step: 9, cpu: 0, hash: 12 }];
    expect(encodeChoices(devs)).toEqual([5, 2, -7, 4, 0, 12]);
    expect(decodeChoices(encodeChoices(devs))).toEqual(devs);
  });

  it('read back a valid file', () => {
    expect(readScheduleFile(fileWith('ok.json', valid)).strategy).toBe('pct:3');
  });

  it.each([
    ['not JSON', '{ nope', /not a schedule file: not JSON/],
    ['another JSON document', { traceEvents: [] }, /not a schedule file: no "format"/],
    ['a newer format', { ...valid, version: SCHEDULE_VERSION + 1 }, new RegExp(`format version ${SCHEDULE_VERSION + 1}; this shootdown reads version ${SCHEDULE_VERSION}`)],
    ['choices not in threes', { ...valid, choices: [1, 2] }, /"choices" must be a list of integers, three per recorded choice/],
    ['a missing seed', { ...valid, seed: undefined }, /"seed" must be a number/],
    ['a parallel run', { ...valid, parallel: 2 }, /--parallel 2 cannot be replayed/],
  ])('refuse %s with one line', (name, content, message) => {
    const path = fileWith(`${name}.json`, content);
    expect(() => readScheduleFile(path)).toThrow(UsageError);
    expect(() => readScheduleFile(path)).toThrow(message);
  });

  it('read a file without an architecture as x86 with the default hardware', () => {
    const f = readScheduleFile(fileWith('no-arch.json', valid));
    expect(f.arch).toBe('x86');
    expect(f.hardware).toEqual(DEFAULT_HARDWARE);
  });

  it('keep the architecture and the hardware through a write and a read', () => {
    const path = join(dir, 'arm64.json');
    writeScheduleFile(path, { ...valid, arch: 'arm64', hardware: { asidBits: 3, tlbRange: false, hafdbs: true } } as unknown as ScheduleFile);
    const f = readScheduleFile(path);
    expect(f.arch).toBe('arm64');
    expect(f.hardware).toEqual({ asidBits: 3, tlbRange: false, hafdbs: true });
  });

  it('fill in the hardware a file leaves out', () => {
    expect(readScheduleFile(fileWith('part-hw.json', { ...valid, arch: 'arm64', hardware: { asidBits: 4 } })).hardware).toEqual({ ...DEFAULT_HARDWARE, asidBits: 4 });
  });

  it.each([
    ['an unknown architecture', { ...valid, arch: 'mips' }, /"arch" must be one of x86, arm64/],
    ['hardware that is not an object', { ...valid, hardware: 3 }, /"hardware" must be an object/],
    ['hardware out of range', { ...valid, hardware: { asidBits: 40 } }, /asidBits must be an integer from 1 to 16/],
  ])('refuse %s', (name, content, message) => {
    const path = fileWith(`${name}.json`, content);
    expect(() => readScheduleFile(path)).toThrow(UsageError);
    expect(() => readScheduleFile(path)).toThrow(message);
  });

  it('refuse a file that is not there', () => {
    expect(() => readScheduleFile(join(dir, 'missing.json'))).toThrow(/cannot read schedule file .*ENOENT/);
  });
});

describe('--schedule and --parallel', () => {
  it('parse free, random, pct and pct:DEPTH', () => {
    expect(parseScheduleMode(undefined, undefined, 4)).toMatchObject({ strategy: 'free' });
    expect(parseScheduleMode('random', '2', 4)).toEqual({ strategy: 'random', depth: 0, parallel: 2 });
    expect(parseScheduleMode('pct', undefined, 4)).toEqual({ strategy: 'pct', depth: 3, parallel: 1 });
    expect(parseScheduleMode('pct:5', undefined, 4)).toEqual({ strategy: 'pct', depth: 5, parallel: 1 });
  });

  it.each([
    ['bogus', undefined, /unknown --schedule 'bogus'; schedules: free, random, pct, pct:DEPTH/],
    ['random:2', undefined, /unknown --schedule 'random:2'/],
    ['pct:0', undefined, /depth from 1 to 64, got '0'/],
    ['pct:x', undefined, /depth from 1 to 64, got 'x'/],
    ['random', '0', /--parallel must be an integer from 1 to the run's 4 CPUs, got '0'/],
    ['random', '5', /--parallel must be an integer from 1 to the run's 4 CPUs, got '5'/],
    [undefined, '2', /--parallel needs a controlled --schedule/],
  ])('refuse --schedule %s --parallel %s', (schedule, parallel, message) => {
    expect(() => parseScheduleMode(schedule, parallel, 4)).toThrow(message);
  });
});

describe('PCT set-up', () => {
  it('gives the CPUs distinct priorities d .. d + n - 1 and d - 1 sorted change points within the horizon', () => {
    const v = viewsOf(createMachineMemory(6, 64));
    prepareSchedule(v, { strategy: Strategy.Pct, parallel: 1, seed: 42, depth: 4, horizon: 50 });
    const prio = Array.from({ length: 6 }, (_, c) => v.sched[cpuWord(c, C_PRIORITY)]);
    expect([...prio].sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9]);
    const change = Array.from({ length: v.sched[H_CHANGE_LEN] }, (_, i) => v.sched[CHANGE_BASE + i]);
    expect(change).toHaveLength(3);
    expect(change).toEqual([...change].sort((a, b) => a - b));
    for (const step of change) expect(step >= 1 && step <= 50).toBe(true);
    expect(v.sched[H_STRATEGY]).toBe(Strategy.Pct);
    prepareSchedule(v, null);
    expect(v.sched[H_STRATEGY]).toBe(0);
  });
});
