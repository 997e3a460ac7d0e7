import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import {
  DEFAULT_COST_MODEL,
  calibrationPath,
  loadCostModel,
  modelledNs,
  modelledWaitNs,
  saveCostModel,
  type CostModel,
} from '../../src/cost/model.ts';

const model: CostModel = { ipiSendNs: 10, perTargetNs: 100, invlpgNs: 1, fullFlushNs: 1000, invlpgbNs: 20000, tlbsyncNs: 300000, source: 'calibrated' };

describe('modelledNs', () => {
  it('prices each count with its constant and sums them', () => {
    expect(modelledNs({ ipisSent: 3, targets: 2, invlpg: 7, fullFlushes: 4, invlpgb: 5, tlbsync: 2 }, model)).toBe(3 * 10 + 2 * 100 + 7 * 1 + 4 * 1000 + 5 * 20000 + 2 * 300000);
  });

  it('is zero for no work', () => {
    expect(modelledNs({ ipisSent: 0, targets: 0, invlpg: 0, fullFlushes: 0, invlpgb: 0, tlbsync: 0 }, DEFAULT_COST_MODEL)).toBe(0);
  });
});

describe('modelledWaitNs', () => {
  it('charges the initiator each IPI it sends and one target per wait: the targets overlap', () => {
    // 4 shootdowns to 3 targets each, 2 INVLPGs and one full flush of the initiator's own
    expect(modelledWaitNs({ ipisSent: 12, waits: 4, localInvlpg: 2, localFullFlushes: 1, invlpgb: 0, tlbsync: 0 }, model)).toBe(12 * 10 + 4 * 100 + 2 * 1 + 1000);
  });

  it('charges the initiator its INVLPGBs and TLBSYNCs, and no target: nobody is interrupted', () => {
    expect(modelledWaitNs({ ipisSent: 0, waits: 0, localInvlpg: 0, localFullFlushes: 0, invlpgb: 3, tlbsync: 1 }, model)).toBe(3 * 20000 + 300000);
  });
});

describe('DEFAULT_COST_MODEL', () => {
  it('is marked as the default and prices every kind of work', () => {
    expect(DEFAULT_COST_MODEL.source).toBe('default');
    for (const v of [DEFAULT_COST_MODEL.ipiSendNs, DEFAULT_COST_MODEL.perTargetNs, DEFAULT_COST_MODEL.invlpgNs, DEFAULT_COST_MODEL.fullFlushNs, DEFAULT_COST_MODEL.invlpgbNs, DEFAULT_COST_MODEL.tlbsyncNs]) {
      expect(v).toBeGreaterThan(0);
    }
  });
});

describe('the calibration file', () => {
  let dir: string;
  const saved = process.env.SHOOTDOWN_CALIBRATION;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shootdown-model-test-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.SHOOTDOWN_CALIBRATION;
    else process.env.SHOOTDOWN_CALIBRATION = saved;
  });

  it('lives under the working directory unless SHOOTDOWN_CALIBRATION names it', () => {
    delete process.env.SHOOTDOWN_CALIBRATION;
    expect(calibrationPath()).toBe(join(process.cwd(), '.shootdown', 'calibration.json'));
    process.env.SHOOTDOWN_CALIBRATION = join(dir, 'elsewhere.json');
    expect(calibrationPath()).toBe(join(dir, 'elsewhere.json'));
  });

  it('gives the defaults when there is no file', () => {
    expect(loadCostModel(join(dir, 'missing.json'))).toBe(DEFAULT_COST_MODEL);
    process.env.SHOOTDOWN_CALIBRATION = join(dir, 'also-missing.json');
    expect(loadCostModel()).toBe(DEFAULT_COST_MODEL);
  });

  it('round-trips a saved model, creating the directory and leaving no temp file', () => {
    const path = join(dir, 'nested', 'deeper', 'calibration.json');
    const file = saveCostModel(model, { figure: 42 }, path);
    // the broadcast constants are not calibrated: the file keeps the four, the defaults the rest
    expect(loadCostModel(path)).toEqual({ ...model, invlpgbNs: DEFAULT_COST_MODEL.invlpgbNs, tlbsyncNs: DEFAULT_COST_MODEL.tlbsyncNs });
    expect(readdirSync(join(dir, 'nested', 'deeper'))).toEqual(['calibration.json']);
    expect(file.raw).toEqual({ figure: 42 });
    expect(file.host.cores).toBeGreaterThan(0);
    expect(file.host.node).toBe(process.version);
    expect(file.host.kernel).not.toBe('');
    expect(Number.isNaN(Date.parse(file.date))).toBe(false);
  });

  it('loads from SHOOTDOWN_CALIBRATION by default', () => {
    process.env.SHOOTDOWN_CALIBRATION = join(dir, 'env.json');
    saveCostModel(model, null, calibrationPath());
    expect(loadCostModel()).toEqual({ ...model, invlpgbNs: DEFAULT_COST_MODEL.invlpgbNs, tlbsyncNs: DEFAULT_COST_MODEL.tlbsyncNs });
  });

  it('rejects a file that is not JSON, naming it', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ not json');
    expect(() => loadCostModel(path)).toThrow(UsageError);
    expect(() => loadCostModel(path)).toThrow(path);
  });

  it('rejects a file whose constants are missing or not numbers', () => {
    const path = join(dir, 'wrong.json');
    writeFileSync(path, JSON.stringify({ constants: { ipiSendNs: 1, perTargetNs: 2, invlpgNs: 'fast' } }));
    expect(() => loadCostModel(path)).toThrow(/wrong\.json.*invlpgNs/);
    writeFileSync(path, JSON.stringify([1, 2]));
    expect(() => loadCostModel(path)).toThrow(UsageError);
  });
});
