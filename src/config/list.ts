/*
 * `shootdown list [scenario]`: the kernel switches (kernel-config.ts), and a scenario's own switches
 * (scenario/scenario.ts ScenarioSpec.switches) when one is named; with --scenarios the race catalog
 * and the measurements (their questions, presets with switches and expected results, forbidden
 * kinds, CPUs and architectures), for a terminal or as JSON. With an architecture (--arch), only
 * what applies to it: the generic switches and its own (a value of another architecture's left
 * out), the scenarios that run on it; without, everything, each arch-specific switch marked.
 */
import { SWITCHES, SWITCH_NAMES, switchAppliesTo, switchArch, type SwitchSpec } from './kernel-config.ts';
import { CATALOG_DIR, MEASURE_DIR, loadCatalog, type CatalogEntry } from '../scenario/catalog/index.ts';
import { runsOn, scenarioArches, type Expected, type ScenarioKind } from '../scenario/scenario.ts';
import { archName, type Arch, type ArchName } from '../arch/arch.ts';

export interface SwitchListing {
  name: string;
  values: string[];
  default: string;
  /** value -> what the kernel does with it */
  description: Record<string, string>;
  from: string;
  /** the architecture whose code it models, or null for generic mm code */
  arch: ArchName | null;
  /** values that only one architecture has (of a generic switch) */
  valueArch: Record<string, ArchName>;
}

export interface Listing {
  /** the architecture listed for, or null for all */
  arch: ArchName | null;
  switches: SwitchListing[];
  /** the named scenario's own switches */
  scenario?: { name: string; switches: SwitchListing[] };
}

/** A switch as listed; with `arch`, its values of another architecture left out. */
function switchListing(name: string, spec: Omit<SwitchSpec, 'from'> & { from?: string }, arch?: Arch): SwitchListing {
  const values = Object.keys(spec.values).filter((v) => arch === undefined || switchArch(spec, v) === null || switchArch(spec, v) === archName(arch));
  const valueArch = Object.fromEntries(Object.entries(spec.valueArch ?? {}).filter(([v]) => values.includes(v))) as Record<string, ArchName>;
  const description = Object.fromEntries(values.map((v) => [v, spec.values[v]]));
  return { name, values, default: spec.default, description, from: spec.from ?? '', arch: spec.arch ?? null, valueArch };
}

/** The kernel's switches (those that apply to `arch`, when given), and those of `scenario` when it is given. */
export function listing(scenario?: { name: string; switches?: Record<string, Omit<SwitchSpec, 'from'> & { from?: string }> }, arch?: Arch): Listing {
  const names = SWITCH_NAMES.filter((name) => arch === undefined || switchAppliesTo(SWITCHES[name], arch));
  const out: Listing = { arch: arch === undefined ? null : archName(arch), switches: names.map((name) => switchListing(name, SWITCHES[name], arch)) };
  if (scenario) out.scenario = { name: scenario.name, switches: Object.entries(scenario.switches ?? {}).map(([name, spec]) => switchListing(name, spec)) };
  return out;
}

function formatSwitches(switches: SwitchListing[]): string[] {
  const lines: string[] = [];
  for (const s of switches) {
    const width = Math.max(...s.values.map((v) => v.length));
    lines.push('', s.name);
    for (const v of s.values) lines.push(`  ${v === s.default ? '*' : ' '} ${v.padEnd(width)}  ${s.description[v]}`);
    if (s.from) lines.push(`    from: ${s.from}`);
    if (s.arch !== null) lines.push(`    arch: ${s.arch} only`);
    for (const [v, a] of Object.entries(s.valueArch ?? {})) lines.push(`    arch: ${v} is ${a} only`);
  }
  return lines;
}

export function formatListing({ arch, switches, scenario }: Listing = listing()): string {
  const lines = [`kernel switches${arch ? ` that apply to ${arch}` : ''} (* marks the default: mainline behaviour today)`, ...formatSwitches(switches)];
  if (scenario) {
    lines.push('', `switches of scenario ${scenario.name} (* marks the default)${scenario.switches.length === 0 ? ': none' : ''}`, ...formatSwitches(scenario.switches));
  }
  return lines.join('\n');
}

/** One scenario or measurement as `list --scenarios` shows it. */
export interface ScenarioListing {
  name: string;
  kind: ScenarioKind;
  question: string;
  /** the thread, patch or commit the race comes from, when the scenario names it */
  source: string | null;
  /** the oracle kind of the forbidden outcome; 'any' for a measurement */
  forbidden: string;
  /** the architectures it runs on, and the presets that run on some of them only */
  arches: readonly ArchName[];
  presetArches: Record<string, readonly ArchName[]>;
  /** CPUs it needs, and what it runs on by default when more than the host's cores */
  cpus: number;
  preferredCpus: number | null;
  /** each preset: its switches on top of mainline, and the expected result */
  presets: { name: string; switches: string[]; expected: Expected | null }[];
  /** the noise run-all gives it, when not the default */
  noise: string | null;
  /** how run-all gives its buggy preset more time: 'last', or 'pct' (last, and under PCT); null when an equal share will do */
  rare: 'last' | 'pct' | null;
  /** what one trial's setup receives, and the variants that change it */
  trialOptions: unknown;
  variants: string[];
  /** a measurement's operation, as compare's columns count it */
  operation: string | null;
}

export interface ScenariosListing {
  /** the architecture listed for (only the scenarios that run on it), or null for all */
  arch: ArchName | null;
  /** the race catalog, src/scenario/catalog */
  scenarios: ScenarioListing[];
  /** the measurements, src/scenario/measure */
  measurements: ScenarioListing[];
  /** files of either that did not load, with their one-line error */
  broken: { name: string; error: string }[];
}

function scenarioListing({ name, scenario: s }: CatalogEntry): ScenarioListing {
  return {
    name,
    kind: s.kind ?? 'race',
    question: s.question,
    source: s.source ?? null,
    forbidden: s.forbidden,
    arches: scenarioArches(s),
    presetArches: { ...s.presetArches },
    cpus: s.cpus,
    preferredCpus: s.preferredCpus ?? null,
    presets: Object.entries(s.presets).map(([preset, switches]) => ({ name: preset, switches, expected: s.expected[preset] ?? null })),
    noise: s.noise ?? null,
    rare: s.rare ?? null,
    trialOptions: s.trialOptions ?? null,
    variants: Object.keys(s.variants ?? {}),
    operation: s.operation ?? null,
  };
}

/** `list --scenarios`: the catalog and the measurements (those that run on `arch`, when given), each file loaded as stress would load it. */
export async function scenariosListing(arch?: Arch): Promise<ScenariosListing> {
  const [catalog, measure] = await Promise.all([loadCatalog(CATALOG_DIR), loadCatalog(MEASURE_DIR)]);
  const on = (e: CatalogEntry) => arch === undefined || runsOn(e.scenario, arch);
  return {
    arch: arch === undefined ? null : archName(arch),
    scenarios: catalog.entries.filter(on).map(scenarioListing),
    measurements: measure.entries.filter(on).map(scenarioListing),
    broken: [...catalog.broken, ...measure.broken],
  };
}

/** `key=value ...` of a trial's options, as far as they are plain values. */
function formatOptions(options: unknown): string {
  if (typeof options !== 'object' || options === null) return '';
  return Object.entries(options).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
}

function formatScenario(s: ScenarioListing): string[] {
  const width = Math.max(...s.presets.map((p) => p.name.length));
  const cpus = `${s.cpus}${s.preferredCpus !== null ? ` (runs on ${s.preferredCpus} unless told)` : ''}`;
  const options = formatOptions(s.trialOptions);
  return [
    '',
    s.name,
    `  ${s.question}`,
    ...(s.source !== null ? [`  source      ${s.source}`] : []),
    ...(s.kind === 'measurement' ? [`  operation   ${s.operation}; every oracle on, any report fails`] : [`  forbidden   ${s.forbidden}`]),
    `  cpus        ${cpus}${s.noise !== null ? `; noise ${s.noise} in run-all` : ''}${s.rare === 'last' ? '; rare: its buggy run goes last in run-all' : s.rare === 'pct' ? '; rare: run-all searches its buggy preset under pct, last' : ''}`,
    ...s.presets.map((p, i) => `  ${i === 0 ? 'presets' : ''.padEnd(7)}     ${p.name.padEnd(width)}  ${(p.expected ?? '-').padEnd(9)}  ${p.switches.join(' ') || '(mainline)'}${s.presetArches?.[p.name] ? ` (${s.presetArches[p.name].join(', ')} only)` : ''}`),
    ...(options ? [`  options     ${options}`] : []),
    ...(s.variants.length > 0 ? [`  variants    ${s.variants.join(', ')}`] : []),
    `  arches      ${s.arches.join(', ')}`,
  ];
}

export function formatScenariosListing(l: ScenariosListing): string {
  return [
    `race scenarios (src/scenario/catalog)${l.arch ? ` that run on ${l.arch}` : ''}: shootdown stress <name>${l.arch && l.arch !== 'x86' ? ` --arch ${l.arch}` : ''}; each preset's expected result and switches`,
    ...l.scenarios.flatMap(formatScenario),
    '',
    `measurements (src/scenario/measure)${l.arch ? ` that run on ${l.arch}` : ''}: shootdown compare <name>${l.arch && l.arch !== 'x86' ? ` --arch ${l.arch}` : ''}`,
    ...l.measurements.flatMap(formatScenario),
    ...(l.broken.length > 0 ? ['', 'files that did not load:', ...l.broken.map((b) => `  ${b.name}: ${b.error}`)] : []),
  ].join('\n');
}
