/*
 * The command line: `shootdown <command> [options]`. Every command takes --json and --help.
 * Exit codes: 0 done and clean, 1 a violation was found (or a run failed), 2 bad input.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { availableParallelism } from 'node:os';
import { UsageError, integerOption } from './errors.ts';
import { MAX_CPUS } from './machine/memory.ts';
import { formatDemo, runDemo } from './campaign/demo.ts';
import { formatListing, listing } from './config/list.ts';

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>): Promise<number>;
}

const common = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const commands: Record<string, Command> = {
  demo: {
    summary: 'flush PTEs on CPU 0 while the other CPUs load and store; check every flush',
    usage: `shootdown demo [--cpus N] [--flushes F] [--seed S] [--json]

CPUs 1..N-1 keep loading and storing to pages of one mm; CPU 0 write-protects, clears or remaps
PTEs and calls flush_tlb_mm_range, F times. After every flush returns, every CPU's TLB is checked
against the page tables (the postcondition of a synced flush).

  --cpus N      simulated CPUs, 1 to ${MAX_CPUS} (default: the host's core count)
  --flushes F   flushes on CPU 0, 1 to 10000000 (default 1000)
  --seed S      the random seed, 0 to 4294967295 (default: random, printed)
  --json        one JSON object on stdout

Exit status: 0 no violation, 1 a postcondition failed, 2 bad input.`,
    options: { cpus: { type: 'string' }, flushes: { type: 'string' }, seed: { type: 'string' } },
    async run(values) {
      const cpus = values.cpus === undefined ? Math.min(MAX_CPUS, availableParallelism()) : integerOption('--cpus', values.cpus as string, 1, MAX_CPUS);
      const flushes = values.flushes === undefined ? 1000 : integerOption('--flushes', values.flushes as string, 1, 10_000_000);
      const seed = values.seed === undefined ? undefined : integerOption('--seed', values.seed as string, 0, 2 ** 32 - 1);
      const summary = await runDemo({ cpus, flushes, seed, progress: !values.json });
      process.stdout.write((values.json ? JSON.stringify(summary) : formatDemo(summary)) + '\n');
      return summary.violations > 0 ? 1 : 0;
    },
  },
  list: {
    summary: 'list the kernel switches: their values, defaults and where each comes from',
    usage: `shootdown list [--json]

Every kernel switch (a patch, fix or bug from the reference threads or mainline): its values with
what each does in the kernel, the default (today's mainline behaviour, marked *), and the seed
thread or mainline commit it comes from.

  --json   one JSON object on stdout: {"switches": [{"name", "values", "default",
           "description" (value -> text), "from"}]}

Exit status: 0.`,
    options: {},
    async run(values) {
      process.stdout.write((values.json ? JSON.stringify(listing()) : formatListing()) + '\n');
      return 0;
    },
  },
};

function topUsage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: shootdown <command> [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "'shootdown <command> --help' for a command's options. Every command takes --json.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(topUsage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const json = rest.includes('--json');
  try {
    const command = commands[name];
    if (!command) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(commands).join(', ')}`);
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({ args: rest, options: { ...common, ...command.options }, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new UsageError(`${name}: ${(err as Error).message}`);
    }
    if (values.help) {
      process.stdout.write(command.usage + '\n');
      return 0;
    }
    return await command.run(values);
  } catch (err) {
    const usage = err instanceof UsageError;
    const message = (err as Error).message ?? String(err);
    if (json) process.stdout.write(JSON.stringify({ error: { kind: usage ? 'usage' : (err as Error).name, message } }) + '\n');
    else process.stderr.write(`shootdown: ${usage ? message : (err as Error).stack ?? message}\n`);
    return usage ? 2 : 1;
  }
}
