import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { calibrate, calibrateCommand, fitCostModel, formatCalibration, type ProbeRaw } from '../../src/cost/calibrate.ts';
import { DEFAULT_COST_MODEL, loadCostModel } from '../../src/cost/model.ts';

/** A probe report on a made-up machine whose costs are exact lines. */
function syntheticRaw(over: Partial<ProbeRaw> = {}): ProbeRaw {
  const line = (a: number, b: number) => (pages: number) => ({ pages, ns: a + b * pages });
  return {
    probe: 'shootdown',
    version: 1,
    iterations: 100,
    online_cpus: 2,
    initiator_cpu: 0,
    initiator_pinned: true,
    remote_cpu: 1,
    remote_pinned: true,
    local_write_protect_ns: 1000,
    remote_write_protect_ns: 4000,
    remote_confirmed: 1,
    remote_ipis_per_flush: 1,
    // per page: 50 ns of PTE update, plus 100 ns of INVLPG up to the ceiling
    ranged: [1, 2, 4, 8, 16, 32].map(line(1000, 150)),
    // beyond it: the PTE update only, and a CR3 reload of 500 ns
    full: [40, 48, 56, 64].map(line(1500, 50)),
    working_set_pages: 64,
    refill_after_ranged_ns: 200,
    refill_after_full_ns: 500,
    ...over,
  };
}

describe('fitCostModel', () => {
  it('recovers the constants of an exact machine', () => {
    const { model } = fitCostModel(syntheticRaw());
    expect(model.source).toBe('calibrated');
    expect(model.invlpgNs).toBeCloseTo(100, 6);
    expect(model.fullFlushNs).toBe(500 + 300);
    // the 3000 ns one-target shootdown, split in the defaults' ratio (500 : 2500)
    expect(model.ipiSendNs).toBe(500);
    expect(model.perTargetNs).toBe(2500);
  });

  it('says that one target cannot separate the send from the receive', () => {
    expect(fitCostModel(syntheticRaw()).warnings.join('\n')).toMatch(/cannot be separated/);
  });

  it('keeps the IPI defaults when only one CPU was available', () => {
    const fit = fitCostModel(syntheticRaw({ remote_cpu: null, remote_pinned: null, remote_write_protect_ns: null, remote_confirmed: null, remote_ipis_per_flush: null }));
    expect(fit.model.ipiSendNs).toBe(DEFAULT_COST_MODEL.ipiSendNs);
    expect(fit.model.perTargetNs).toBe(DEFAULT_COST_MODEL.perTargetNs);
    expect(fit.warnings.join('\n')).toMatch(/only one CPU/);
  });

  it('keeps the IPI defaults when the remote flush was not measurably slower', () => {
    const fit = fitCostModel(syntheticRaw({ remote_write_protect_ns: 1010 }));
    expect(fit.model.ipiSendNs).toBe(DEFAULT_COST_MODEL.ipiSendNs);
    expect(fit.warnings.join('\n')).toMatch(/not measurably slower/);
  });

  it('warns when the remote CPU was rarely running the mm', () => {
    expect(fitCostModel(syntheticRaw({ remote_ipis_per_flush: 0.2 })).warnings.join('\n')).toMatch(/not running the mm/);
  });

  it('keeps a default rather than fitting a constant that is not positive', () => {
    const flat = [1, 2, 4, 8, 16, 32].map((pages) => ({ pages, ns: 1000 }));
    const fit = fitCostModel(syntheticRaw({ ranged: flat, full: [40, 64].map((pages) => ({ pages, ns: 1000 })), refill_after_full_ns: 100 }));
    expect(fit.model.invlpgNs).toBe(DEFAULT_COST_MODEL.invlpgNs);
    expect(fit.model.fullFlushNs).toBe(DEFAULT_COST_MODEL.fullFlushNs);
    expect(fit.warnings.length).toBeGreaterThanOrEqual(2);
  });
});

describe('calibrate', () => {
  let dir: string;
  const saved = process.env.SHOOTDOWN_CALIBRATION;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shootdown-calibrate-test-'));
    process.env.SHOOTDOWN_CALIBRATION = join(dir, 'from-env.json');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    vi.restoreAllMocks();
    if (saved === undefined) delete process.env.SHOOTDOWN_CALIBRATION;
    else process.env.SHOOTDOWN_CALIBRATION = saved;
  });

  it('reports a missing compiler, keeps the defaults and writes nothing', async () => {
    const path = join(dir, 'calibration.json');
    const r = await calibrate({ cc: join(dir, 'no-such-compiler'), path });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/could not compile the probe: no C compiler/);
    expect(r.constants).toBe(DEFAULT_COST_MODEL);
    expect(r.savedTo).toBeNull();
    expect(existsSync(path)).toBe(false);
    expect(formatCalibration(r)).toMatch(/nothing was written/);
  });

  it('reports a compiler that fails', async () => {
    const path = join(dir, 'calibration.json');
    const r = await calibrate({ cc: 'false', path });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/could not compile the probe with "false"/);
    expect(existsSync(path)).toBe(false);
  });

  it('reports a probe whose output is not its JSON figures', async () => {
    // a "compiler" that builds a probe printing the wrong thing
    const fakeCc = join(dir, 'fake-cc');
    writeFileSync(fakeCc, '#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\nprintf "#!/bin/sh\\necho hello\\n" > "$2"\nchmod +x "$2"\n');
    chmodSync(fakeCc, 0o755);
    const path = join(dir, 'calibration.json');
    const r = await calibrate({ cc: fakeCc, path });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/printed something other than its JSON figures.*hello/s);
    expect(existsSync(path)).toBe(false);
  });

  it('measures this host with cc, fits finite positive constants and saves them', async () => {
    const path = join(dir, 'calibration.json');
    const r = await calibrate({ cc: 'cc', iterations: 50, path });
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.savedTo).toBe(path);
    for (const v of [r.constants.ipiSendNs, r.constants.perTargetNs, r.constants.invlpgNs, r.constants.fullFlushNs]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    expect(loadCostModel(path)).toEqual(r.constants);
    // the two series sit on either side of tlb_single_page_flush_ceiling (33)
    expect(r.raw!.ranged.every((p) => p.pages <= 33)).toBe(true);
    expect(r.raw!.full.every((p) => p.pages > 33)).toBe(true);
    expect(formatCalibration(r)).toContain(`saved to ${path}`);
  });

  it('as a command, prints one JSON object and exits 1 when the probe cannot be built', async () => {
    const previous = process.env.SHOOTDOWN_CC;
    process.env.SHOOTDOWN_CC = join(dir, 'no-such-compiler');
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    try {
      expect(await calibrateCommand.run({ json: true })).toBe(1);
    } finally {
      if (previous === undefined) delete process.env.SHOOTDOWN_CC;
      else process.env.SHOOTDOWN_CC = previous;
    }
    const printed = JSON.parse(out.join(''));
    expect(Object.keys(printed)).toEqual(['constants', 'raw', 'savedTo', 'host', 'warnings', 'error']);
    expect(printed.savedTo).toBeNull();
    expect(printed.error).toMatch(/no C compiler/);
    expect(existsSync(join(dir, 'from-env.json'))).toBe(false);
  });
});
