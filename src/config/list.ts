/*
 * `shootdown list`: the kernel switches (kernel-config.ts), for a terminal or as JSON.
 */
import { SWITCHES, SWITCH_NAMES, switchValues } from './kernel-config.ts';

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
}

export function listing(): Listing {
  return {
    switches: SWITCH_NAMES.map((name) => {
      const spec = SWITCHES[name];
      return { name, values: switchValues(name), default: spec.default, description: { ...spec.values }, from: spec.from };
    }),
  };
}

export function formatListing({ switches }: Listing = listing()): string {
  const lines = ['kernel switches (* marks the default: mainline behaviour today)'];
  for (const s of switches) {
    const width = Math.max(...s.values.map((v) => v.length));
    lines.push('', s.name);
    for (const v of s.values) lines.push(`  ${v === s.default ? '*' : ' '} ${v.padEnd(width)}  ${s.description[v]}`);
    lines.push(`    from: ${s.from}`);
  }
  return lines.join('\n');
}
