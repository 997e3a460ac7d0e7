/*
 * A scenario file that does not load is bad input: exit 2 and one line on stderr that names the
 * file, with the line and column where the error has them, and no stack unless --debug. Each file
 * is written to a temporary folder outside the repository, importing from 'shootdown'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shootdown } from '../fixtures/cli.ts';

/** A scenario whose spec is valid but for `change`. */
const scenario = (change: string) => `import { defineScenario } from 'shootdown';

export default defineScenario({
  name: 'broken',
  question: 'Does it load?',
  forbidden: 'lost-data',
  cpus: 1,
  presets: { buggy: [], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  setup: () => ({}),
  run: () => {},
  ${change}
});
`;

const FILES: Record<string, string> = {
  'syntax.ts': `import { defineScenario } from 'shootdown';\n\nexport default defineScenario({\n  name: 'x' 'y',\n});\n`,
  'throws.ts': `import { defineScenario } from 'shootdown';\n\nconst table: number[] = [];\nif (table.length === 0) throw new RangeError('no table\\nsecond line');\nexport default defineScenario(null as never);\n`,
  'helper.ts': `export const options = { rounds: 1 };\nthrow new TypeError('helper broke');\n`,
  'uses-helper.ts': `import { options } from './helper.ts';\nexport default options;\n`,
  'missing-export.ts': `import { defineScenario, defineRace } from 'shootdown';\nexport default defineScenario(defineRace);\n`,
  'no-default.ts': `export const rounds = 1;\n`,
  'not-a-scenario.ts': `export default { name: 'x', run() {} };\n`,
  'bad-forbidden.ts': scenario(`forbidden: 'lost-writes',`),
  'bad-switch.ts': scenario(`presets: { buggy: ['delayedRmapp=off'], fixed: [] },`),
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shootdown-loading-'));
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a scenario file that does not load', () => {
  it.each([
    ['syntax.ts', (f: string) => `${f}:4:12: syntax error: Expected "}" but found "'y'"`],
    ['throws.ts', (f: string) => `${f}:4:31: failed to load: RangeError: no table`],
    ['uses-helper.ts', (f: string) => `${f}: failed to load: TypeError: helper broke (at ${join(dir, 'helper.ts')}:2:7)`],
    ['missing-export.ts', (f: string) => `${f}:1:1: failed to load: SyntaxError: The requested module 'shootdown' does not provide an export named 'defineRace'`],
    ['no-default.ts', (f: string) => `${f} does not default-export a scenario made by defineScenario or defineMeasurement (import them from 'shootdown'): it has no default export`],
    ['not-a-scenario.ts', (f: string) => `${f} does not default-export a scenario made by defineScenario or defineMeasurement (import them from 'shootdown'): its default export is an object, not a scenario`],
    ['bad-forbidden.ts', (f: string) => `${f}: scenario broken: forbidden 'lost-writes' is not an oracle kind; kinds: use-after-free,`],
    ['bad-switch.ts', (f: string) => `${f}: scenario broken, preset 'buggy': unknown switch 'delayedRmapp'; switches: delayedRmap,`],
  ])('%s: stress exits 2 with one line naming the file', async (name, message) => {
    const file = join(dir, name);
    const r = await shootdown('stress', file, '--trials', '1');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`shootdown: ${message(file)}`)]);
  });

  it('says the same to compare, and as JSON under --json', async () => {
    const file = join(dir, 'syntax.ts');
    const text = await shootdown('compare', file, '--cpus', '1');
    expect(text.code).toBe(2);
    expect(text.stderr).toBe(`shootdown: ${file}:4:12: syntax error: Expected "}" but found "'y'"\n`);
    const json = await shootdown('stress', file, '--json');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ error: { kind: 'usage', message: `${file}:4:12: syntax error: Expected "}" but found "'y'"` } });
  });

  it('names a file below the working directory by its relative path', async () => {
    const r = await shootdown('stress', 'test/fixtures/handshake.ts');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^shootdown: test\/fixtures\/handshake\.ts does not default-export a scenario .*: it has no default export\n$/);
  });

  it('prints the stack of the error and of its cause with --debug', async () => {
    const r = await shootdown('stress', join(dir, 'throws.ts'), '--debug');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^shootdown: UsageError: .*throws\.ts:4:31: failed to load: RangeError: no table\n +at /);
    expect(r.stderr).toMatch(/\ncaused by: RangeError: no table\nsecond line\n +at .*throws\.ts:4:31/);
  });
});
