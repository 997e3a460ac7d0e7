/*
 * --arch and --hardware on the command line: what each command takes, what it refuses (exit 2,
 * one line), and the architecture in every --json output.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';
import { startCli } from './child.ts';
import { SWITCH_NAMES, SWITCHES } from '../../src/config/kernel-config.ts';
import { catalogScenario, loadCatalog } from '../../src/scenario/catalog/index.ts';
import { emulatorCodeHash, fileSha256, SCHEDULE_FORMAT, SCHEDULE_VERSION } from '../../src/schedule/file.ts';
import { kernelFor } from '../../src/campaign/trials.ts';
import { Arch } from '../../src/arch/arch.ts';
import { runsOn } from '../../src/scenario/scenario.ts';
import { pathToFileURL } from 'node:url';
import { archName } from '../../src/arch/arch.ts';
import { compareKernels, compareRow, formatCompare } from '../../src/campaign/compare.ts';
import { noTrials } from '../../src/campaign/trials.ts';
import { defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { loadCostModel } from '../../src/cost/model.ts';
import { hostInfo } from '../../src/campaign/host.ts';
import { formatStress, rerunCommand } from '../../src/campaign/stress.ts';
import type { CompareReport } from '../../src/campaign/compare-report.ts';

const MEASUREMENT = fileURLToPath(new URL('../fixtures/arch-measurement.ts', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'shootdown-arch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--arch and --hardware', () => {
  it.each([
    [['stress', 'dontneed-nested-flush', '--arch', 'mips'], /--arch: unknown architecture 'mips' \(expected one of x86, arm64\)/],
    [['stress', 'madvise-batched-pending', '--arch', 'arm64'], /scenario madvise-batched-pending does not run on arm64; its architectures: x86/],
    [['stress', 'dontneed-nested-flush', '--hardware', 'asidBits=17'], /--hardware: asidBits must be an integer from 1 to 16, got "17"/],
    [['stress', 'dontneed-nested-flush', '--hardware', 'tlbRange=maybe'], /--hardware: tlbRange must be on or off/],
    [['stress', 'dontneed-nested-flush', '--hardware', 'cnp=on'], /--hardware: unknown key 'cnp'/],
    [['compare', 'fanout-sweep', '--arch', 'x86,'], /--arch takes a comma-separated list with no empty item/],
    [['compare', 'madvise-batched-pending', '--arch', 'x86,arm64'], /scenario madvise-batched-pending does not run on arm64/],
    [['compare', 'fanout-sweep', '--arch', 'arm64', '--kernel', 'x86TlbFlush=invlpgb', '--cpus', '1'], /switch x86TlbFlush models x86 code; this run is arm64/],
    [['compare', 'reclaim-storm', '--arch', 'arm64', '--kernel', 'cpumask', '--cpus', '1'], /scenario reclaim-storm: preset 'cpumask' runs on x86 only, not on arm64/],
    [['compare', 'reclaim-storm', '--arch', 'arm64', '--kernel', 'batchedPending=cpumask', '--cpus', '1'], /batchedPending=cpumask is x86 only/],
    [['stress', 'reclaim-storm', '--arch', 'arm64', '--kernel', 'completed-gen', '--cpus', '1'], /preset 'completed-gen' runs on x86 only, not on arm64/],
    [['demo', '--arch', 'arm64', '--set', 'lazyTlb=clear-at-switch'], /switch lazyTlb models x86 code; this run is arm64/],
    [['run-all', '--arch', 'sparc'], /--arch: unknown architecture 'sparc'/],
    [['stress', 'fanout-sweep', '--arch', 'arm64', '--hardware', 'asidBits=2', '--cpus', '4', '--trials', '1'], /hardware asidBits=2: 2-bit ASIDs leave 3 for user mms, not more than the 4 CPUs/],
    [['list', '--arch', 'ppc'], /--arch: unknown architecture 'ppc'/],
    [['replay', 'x.json', '--arch', 'z80'], /--arch: unknown architecture 'z80'/],
  ])('%j is bad input, exit 2', async (args, message) => {
    const r = await shootdown(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('is in the help of every command that takes it', async () => {
    for (const command of ['demo', 'stress', 'compare', 'replay', 'run-all', 'list']) {
      const r = await shootdown(command, '--help');
      expect(r.stdout, command).toMatch(/--arch/);
    }
    for (const command of ['demo', 'stress', 'compare']) expect((await shootdown(command, '--help')).stdout, command).toMatch(/--hardware K=V,\.\.\.[\s\S]*asidBits[\s\S]*tlbRange[\s\S]*hafdbs/);
  });
});

describe('list --arch', () => {
  it('lists the switches that apply to arm64 only, and every switch with its architecture without it', async () => {
    const arm = JSON.parse((await shootdown('list', '--arch', 'arm64', '--json')).stdout);
    expect(arm.arch).toBe('arm64');
    expect(arm.switches.map((s: { name: string }) => s.name)).toEqual(SWITCH_NAMES.filter((n) => SWITCHES[n].arch !== 'x86'));
    expect(arm.switches.find((s: { name: string }) => s.name === 'batchedPending').values).not.toContain('cpumask');
    const all = JSON.parse((await shootdown('list', '--json')).stdout);
    expect(all.arch).toBeNull();
    expect(all.switches.find((s: { name: string }) => s.name === 'x86TlbFlush').arch).toBe('x86');
    expect(all.switches.find((s: { name: string }) => s.name === 'syncIpi').arch).toBeNull();
    const text = (await shootdown('list', '--arch', 'arm64')).stdout;
    expect(text).toMatch(/^kernel switches that apply to arm64/);
    expect(text).not.toMatch(/^x86TlbFlush$/m);
  });

  it('shows each scenario\'s architectures, and with --arch only those that run on it', async () => {
    const all = JSON.parse((await shootdown('list', '--scenarios', '--json')).stdout);
    const catalog = await loadCatalog();
    for (const s of all.scenarios) expect(s.arches, s.name).toEqual(catalog.entries.find((e) => e.name === s.name)!.scenario.arches ?? ['x86']);
    expect(all.measurements.find((s: { name: string }) => s.name === 'reclaim-storm')).toMatchObject({ arches: ['x86', 'arm64'], presetArches: { cpumask: ['x86'] } });
    const arm = JSON.parse((await shootdown('list', '--scenarios', '--arch', 'arm64', '--json')).stdout);
    expect(arm.arch).toBe('arm64');
    for (const s of [...arm.scenarios, ...arm.measurements]) expect(s.arches, s.name).toContain('arm64');
    expect(arm.measurements.map((s: { name: string }) => s.name)).toContain('fanout-sweep');
    expect((await shootdown('list', '--scenarios')).stdout).toMatch(/^ {2}arches {6}x86, arm64$/m);
  });
});

describe('the architecture in the output', () => {
  it('demo --json says which it ran', async () => {
    const r = await shootdown('demo', '--cpus', '2', '--flushes', '20', '--seed', '1', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).arch).toBe('x86');
  });

  it('compare --arch x86,arm64 plans a set of rows per architecture, a preset of x86 switches on x86 alone', async () => {
    const scenario = (await import(pathToFileURL(MEASUREMENT).href)).default;
    const req = { resolved: { arg: MEASUREMENT, url: pathToFileURL(MEASUREMENT).href, scenario }, set: [], kernels: ['mainline', 'flag', 'cpumask'] };
    const rows = compareKernels(req, [Arch.X86, Arch.Arm64]).map((k) => `${archName(k.arch)} ${k.item}`);
    expect(rows).toEqual(['x86 mainline', 'x86 flag', 'x86 cpumask', 'arm64 mainline', 'arm64 flag']);
    expect(() => compareKernels({ ...req, kernels: ['cpumask'] }, [Arch.Arm64])).toThrow(/preset 'cpumask' runs on x86 only, not on arm64/);
    expect(() => compareKernels({ ...req, kernels: ['lazyTlb=clear-at-switch'] }, [Arch.X86, Arch.Arm64])).toThrow(/lazyTlb models x86 code; this run is arm64/);
  });

  it('compare shows each architecture\'s rows under its name, and x86 alone as before', () => {
    const row = (arch: 'x86' | 'arm64') => compareRow('mainline', 'busy', 1, { ...noTrials(defaultKernelConfig(), {}, arch === 'x86' ? Arch.X86 : Arch.Arm64), trials: 1 }, loadCostModel());
    const report = (arches: ('x86' | 'arm64')[]): CompareReport => ({
      scenario: 'two-arches', operation: 'trial', columns: [], arches, hardware: arches.includes('arm64') ? { asidBits: 8 } : {}, kernels: ['mainline'], variants: ['busy'], cpus: [1], seed: 7,
      schedule: 'free', host: hostInfo(), warnings: [], costModel: loadCostModel(), rows: arches.map(row), interrupted: null,
    });
    const both = formatCompare(report(['x86', 'arm64']));
    expect(both).toMatch(/^compare two-arches: x86, arm64 \(asidBits=8\), seed 7/);
    expect(both).toMatch(/^x86, variant busy:$/m);
    expect(both).toMatch(/^arm64, variant busy:$/m);
    const x86 = formatCompare(report(['x86']));
    expect(x86).toMatch(/^compare two-arches: seed 7/);
    expect(x86).toMatch(/^variant busy:$/m);
  });

  it('stress --json says the architecture and hardware; only a run off x86 has an arch line', async () => {
    const r = await shootdown('stress', 'fanout-sweep', '--cpus', '1', '--trials', '1', '--param', 'flushes=5', '--seed', '3', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.arch).toBe('x86');
    expect(out.hardware).toEqual({ asidBits: 16, tlbRange: true, hafdbs: true });
    expect(formatStress(out, [])).not.toMatch(/^ {2}arch /m);
    const arm = { ...out, arch: 'arm64', hardware: { asidBits: 4, tlbRange: true, hafdbs: false } };
    expect(formatStress(arm, [])).toMatch(/^ {2}arch {10}arm64, 4-bit ASIDs, range TLBIs on, HAFDBS off$/m);
    expect(rerunCommand({ resolved: { arg: 'fanout-sweep', scenario: {} as never }, preset: 'mainline', set: [], cpus: 1, noise: 'low', arch: Arch.Arm64, hardware: { asidBits: 4 } }, 3)).toMatch(/^npx shootdown stress fanout-sweep --arch arm64 --hardware asidBits=4 --kernel mainline /);
  });

  it('run-all --arch arm64 runs the scenarios that run on arm64, and only those', async () => {
    const cwd = mkdtempSync(join(dir, 'run-all-'));
    const cli = startCli(['run-all', '--arch', 'arm64', '--trials', '1', '--seed', '1', '--json', '--quiet'], { cwd });
    const exit = await cli.exit;
    const out = JSON.parse(exit.stdout);
    expect(out.arch).toBe('arm64');
    const catalog = await loadCatalog();
    for (const row of out.rows) expect(runsOn(catalog.entries.find((e) => e.name === row.scenario)!.scenario, Arch.Arm64), row.scenario).toBe(true);
    const arm64 = catalog.entries.filter((e) => runsOn(e.scenario, Arch.Arm64)).map((e) => e.name);
    expect(arm64).toContain('arm64-batched-pending-dsb');
    expect([...new Set(out.rows.map((r: { scenario: string }) => r.scenario))].sort()).toEqual(arm64.sort());
  });
});

describe('replay and the recorded architecture', () => {
  /** A schedule file of madvise-batched-pending's buggy preset as it stands, recorded on `arch`. */
  async function scheduleFile(name: string, arch?: string): Promise<string> {
    const entry = (await catalogScenario('madvise-batched-pending'))!;
    const file = fileURLToPath(entry.url);
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify({
      format: SCHEDULE_FORMAT, version: SCHEDULE_VERSION,
      scenario: { name: 'madvise-batched-pending', arg: 'madvise-batched-pending', file, sha256: fileSha256(file) },
      preset: 'buggy', set: [], params: [], kernel: kernelFor(entry.scenario, 'buggy'), scenarioSwitches: {}, cpus: 3, parallel: 1, strategy: 'pct:3', seed: 1, horizon: 100,
      code: emulatorCodeHash(), steps: 10, hash: 5, preemptions: 0, choices: [], verdict: null, reportsByKind: {},
      ...(arch !== undefined && { arch }),
    }));
    return path;
  }

  it('refuses an --arch other than the recorded one; a file without one was recorded on x86', async () => {
    const r = await shootdown('replay', await scheduleFile('old.json'), '--arch', 'arm64');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/recorded on x86; replay runs it there, not on arm64 \(leave out --arch\)/);
  });

  it('refuses a file recorded on an architecture the scenario no longer runs on', async () => {
    const r = await shootdown('replay', await scheduleFile('arm.json', 'arm64'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/recorded on arm64, but scenario madvise-batched-pending runs on x86 now/);
  });
});
