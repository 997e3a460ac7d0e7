import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { Arch } from '../../src/arch/arch.ts';
import { SWITCHES, SWITCH_NAMES, applySwitches, defaultKernelConfig, switchAppliesTo, switchArch } from '../../src/config/kernel-config.ts';
import { fullHardware, formatHardware, parseHardware } from '../../src/config/hardware.ts';
import { checkScenarioArch, configFor, defineScenario, presetRunsOn, runsOn } from '../../src/scenario/scenario.ts';
import { listing } from '../../src/config/list.ts';

const X86_ONLY = ['mprotectFlush', 'deferredFlushGen', 'completedGen', 'lazyTlb', 'x86TlbFlush', 'asidTransition', 'tlbbatchFlush'];
const ARM64_ONLY = ['arm64AsidFastPath', 'arm64BatchedPending', 'contpteUnfold', 'contpteAccessFlags'];

/** A scenario that only names switches: defineScenario's checks, no machine. */
function scenario(fields: Record<string, unknown>) {
  return defineScenario({
    name: 'arch-check', question: '?', forbidden: 'access-after-return', cpus: 1,
    presets: { buggy: [], fixed: [] }, expected: { buggy: 'sometimes', fixed: 'never' },
    setup: () => null, run: () => null,
    ...fields,
  });
}

describe('switches of one architecture', () => {
  it('marks the x86 code switches x86 and the cpumask value of batchedPending', () => {
    for (const name of SWITCH_NAMES) expect(SWITCHES[name].arch ?? null, name).toBe(X86_ONLY.includes(name) ? 'x86' : ARM64_ONLY.includes(name) ? 'arm64' : null);
    expect(switchArch(SWITCHES.batchedPending, 'cpumask')).toBe('x86');
    expect(switchArch(SWITCHES.batchedPending, 'flag')).toBeNull();
    expect(switchAppliesTo(SWITCHES.batchedPending, Arch.Arm64)).toBe(true);
    expect(switchAppliesTo(SWITCHES.x86TlbFlush, Arch.Arm64)).toBe(false);
  });

  it('rejects an x86 switch or value in an arm64 run, and takes it on x86', () => {
    expect(() => applySwitches(defaultKernelConfig(), ['x86TlbFlush=invlpgb'], Arch.Arm64)).toThrow(UsageError);
    expect(() => applySwitches(defaultKernelConfig(), ['x86TlbFlush=invlpgb'], Arch.Arm64)).toThrow(/switch x86TlbFlush models x86 code; this run is arm64/);
    expect(() => applySwitches(defaultKernelConfig(), ['batchedPending=cpumask'], Arch.Arm64)).toThrow(/batchedPending=cpumask is x86 only/);
    expect(applySwitches(defaultKernelConfig(), ['batchedPending=flag'], Arch.Arm64).batchedPending).toBe('flag');
    expect(applySwitches(defaultKernelConfig(), ['x86TlbFlush=invlpgb'], Arch.X86).x86TlbFlush).toBe('invlpgb');
    expect(() => applySwitches(defaultKernelConfig(), ['arm64AsidFastPath=xchg'], Arch.X86)).toThrow(/switch arm64AsidFastPath models arm64 code; this run is x86 \(--arch arm64 to use it\)/);
    expect(applySwitches(defaultKernelConfig(), ['arm64AsidFastPath=xchg'], Arch.Arm64).arm64AsidFastPath).toBe('xchg');
  });

  it('configFor checks the run architecture, x86 by default', () => {
    const s = { name: 's' };
    expect(configFor(s, ['lazyTlb=clear-at-switch']).kernel.lazyTlb).toBe('clear-at-switch');
    expect(() => configFor(s, ['lazyTlb=clear-at-switch'], defaultKernelConfig(), Arch.Arm64)).toThrow(/lazyTlb models x86 code/);
    expect(configFor(s, ['syncIpi=never'], defaultKernelConfig(), Arch.Arm64).kernel.syncIpi).toBe('never');
  });

  it('list --arch arm64 leaves out the x86 switches and values', () => {
    const all = listing();
    const arm = listing(undefined, Arch.Arm64);
    expect(all.switches.map((s) => s.name)).toEqual(SWITCH_NAMES);
    expect(arm.arch).toBe('arm64');
    expect(arm.switches.map((s) => s.name)).toEqual(SWITCH_NAMES.filter((n) => !X86_ONLY.includes(n)));
    expect(listing(undefined, Arch.X86).switches.map((s) => s.name)).toEqual(SWITCH_NAMES.filter((n) => !ARM64_ONLY.includes(n)));
    expect(arm.switches.find((s) => s.name === 'batchedPending')!.values).toEqual(['counters', 'flag']);
    expect(all.switches.find((s) => s.name === 'lazyTlb')!.arch).toBe('x86');
  });
});

describe('scenario architectures', () => {
  it('default to x86 alone', () => {
    const s = scenario({});
    expect(runsOn(s, Arch.X86)).toBe(true);
    expect(runsOn(s, Arch.Arm64)).toBe(false);
    expect(() => checkScenarioArch(s, Arch.Arm64)).toThrow(/scenario arch-check does not run on arm64; its architectures: x86 \(--arch x86\)$/);
  });

  it('check every preset on every architecture listed', () => {
    expect(() => scenario({ arches: ['x86', 'arm64'], presets: { buggy: ['x86TlbFlush=invlpgb'], fixed: [] } })).toThrow(/preset 'buggy' on arm64: switch x86TlbFlush models x86 code/);
    expect(() => scenario({ arches: ['x86', 'arm64'], presets: { buggy: ['batchedPending=cpumask'], fixed: [] } })).toThrow(UsageError);
    expect(runsOn(scenario({ arches: ['x86', 'arm64'], presets: { buggy: ['batchedPending=flag'], fixed: [] } }), Arch.Arm64)).toBe(true);
    expect(() => scenario({ arches: [] })).toThrow(/arches is empty/);
    expect(() => scenario({ arches: ['riscv'] })).toThrow(/unknown architecture 'riscv'/);
  });

  it('let a measurement run a preset on some architectures only, never a race its buggy or fixed', () => {
    const m = scenario({ kind: 'measurement', forbidden: 'any', arches: ['x86', 'arm64'], presets: { mainline: [], cpumask: ['batchedPending=cpumask'] }, expected: {}, presetArches: { cpumask: ['x86'] } });
    expect(presetRunsOn(m, 'cpumask', Arch.Arm64)).toBe(false);
    expect(presetRunsOn(m, 'cpumask', Arch.X86)).toBe(true);
    expect(presetRunsOn(m, 'mainline', Arch.Arm64)).toBe(true);
    expect(() => scenario({ arches: ['x86', 'arm64'], presetArches: { buggy: ['x86'] } })).toThrow(/buggy preset runs on every architecture it lists/);
    expect(() => scenario({ presetArches: { fixed: ['arm64'] } })).toThrow(UsageError);
  });

  it('check a scenario\'s hardware', () => {
    expect(scenario({ arches: ['arm64'], hardware: { asidBits: 3 } }).hardware).toEqual({ asidBits: 3 });
    expect(() => scenario({ hardware: { asidBits: 17 } })).toThrow(/hardware asidBits must be an integer from 1 to 16/);
    expect(() => scenario({ hardware: { tlbRange: 'yes' } })).toThrow(/tlbRange must be true or false/);
    expect(() => scenario({ hardware: { cnp: true } })).toThrow(/unknown hardware key 'cnp'/);
  });
});

describe('--hardware', () => {
  it('parses key=value pairs over the defaults', () => {
    expect(parseHardware('asidBits=3,tlbRange=off')).toEqual({ asidBits: 3, tlbRange: false });
    expect(fullHardware(parseHardware('hafdbs=off'))).toEqual({ asidBits: 16, tlbRange: true, hafdbs: false });
    expect(formatHardware({ asidBits: 3, tlbRange: true, hafdbs: false })).toBe('asidBits=3,hafdbs=off');
  });

  it.each([
    ['asidBits=0', /asidBits must be an integer from 1 to 16, got "0"/],
    ['asidBits=2.5', /asidBits must be an integer/],
    ['tlbRange=yes', /tlbRange must be on or off/],
    ['cnp=on', /unknown key 'cnp'; keys: asidBits, tlbRange, hafdbs/],
    ['asidBits', /malformed "asidBits"; expected key=value/],
  ])('rejects %s', (raw, message) => {
    expect(() => parseHardware(raw)).toThrow(UsageError);
    expect(() => parseHardware(raw)).toThrow(message);
  });
});
