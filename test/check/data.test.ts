import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { BASE, type DataOptions } from '../fixtures/data-workloads.ts';

const machine = useMachine({ cpus: 3 });
const run = (name: string, options: DataOptions = {}) => machine().run<unknown, null, DataOptions>(fixtureUrl('data-workloads', name), options, { seed: 3 });

describe('the data check (check/data.ts)', () => {
  it('reports a word whose last store a discard took, when the program did not forget it', async () => {
    const r = await run('anonDiscard');
    // word 0 holds 6, stored after the discard; word 1 reads 0, where 9 was stored
    expect(r.violations).toEqual([{ kind: 'lost-data', cpu: 0, seq: expect.any(Number), va: BASE, details: [0, 9, 0, 0, 0] }]);
    expect(r.violationCount).toBe(1);
  });

  it('judges only what was stored after the forgotten discard', async () => {
    const r = await run('anonDiscard', { forget: true });
    expect(r.violationCount).toBe(0);
  });

  it('accepts any CPU\'s last store to a word all CPUs store to at once', async () => {
    const r = await run('anonSameWord');
    expect(r.violationCount).toBe(0);
  });

  it('finds a file store the final sync did not write to the disk, though the page cache holds it', async () => {
    const r = await run('fileSync', { wipeDirty: true });
    expect(r.violations).toEqual([{ kind: 'lost-data', cpu: 0, seq: expect.any(Number), va: BASE, details: [0, 7, 0, 2, 0] }]);
  });

  it('accepts a file store that the final sync wrote out', async () => {
    const r = await run('fileSync');
    expect(r.violationCount).toBe(0);
  });
});
