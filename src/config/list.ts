/*
 * `shootdown list [scenario]`: the kernel switches (kernel-config.ts), and a scenario's own switches
 * (scenario/scenario.ts ScenarioSpec.switches) when one is named, for a terminal or as JSON.
 */
import { SWITCHES, SWITCH_NAMES, type SwitchSpec } from './kernel-config.ts';

export interface SwitchListing {
  name: string;
  values: string[];
  default: string;
  /** value -> what the kernel does with it */
  description: Record<string, string>;
  from: string;
}

export interface Listing {
  switches: SwitchListing[];
  /** the named scenario's own switches */
  scenario?: { name: string; switches: SwitchListing[] };
}

function switchListing(name: string, spec: Omit<SwitchSpec, 'from'> & { from?: string }): SwitchListing {
  return { name, values: Object.keys(spec.values), default: spec.default, description: { ...spec.values }, from: spec.from ?? '' };
}

/** The kernel's switches, and those of `scenario` when it is given. */
export function listing(scenario?: { name: string; switches?: Record<string, Omit<SwitchSpec, 'from'> & { from?: string }> }): Listing {
  const out: Listing = { switches: SWITCH_NAMES.map((name) => switchListing(name, SWITCHES[name])) };
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
  }
  return lines;
}

export function formatListing({ switches, scenario }: Listing = listing()): string {
  const lines = ['kernel switches (* marks the default: mainline behaviour today)', ...formatSwitches(switches)];
  if (scenario) {
    lines.push('', `switches of scenario ${scenario.name} (* marks the default)${scenario.switches.length === 0 ? ': none' : ''}`, ...formatSwitches(scenario.switches));
  }
  return lines.join('\n');
}
