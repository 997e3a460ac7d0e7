import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import {
  DEFAULT_COST_MODEL,
  calibrationPath,
  dsbNs,
  loadCostModel,
  modelledNs,
  modelledWaitNs,
  saveCostModel,
  type CostModel,
} from '../../src/cost/model.ts';

const model: CostModel = {
  ipiSendNs: 10, perTargetNs: 100, invlpgNs: 1, fullFlushNs: 1000, invlpgbNs: 20000, tlbsyncNs: 300000, source: 'calibrated',
  tlbiNs: 7, tlbiAsidNs: 5000, dsbIshNs: 3200, localFlushAllNs: 90000, arm64Source: 'estimate',
};
/** the constants calibrate does not fit: their defaults */
const { invlpgbNs, tlbsyncNs, tlbiNs, tlbiAsidNs, dsbIshNs, localFlushAllNs } = DEFAULT_COST_MODEL;
const UNCALIBRATED = { invlpgbNs, tlbsyncNs, tlbiNs, tlbiAsidNs, dsbIshNs, localFlushAllNs };
/** no arm64 work */
const NO_ARM64 = { tlbiVa: 0, tlbiRange: 0, tlbiAsid: 0, dsbIsh: 0, cpus: 4 };

describe('modelledNs', () => {
  it('prices each count with its constant and sums them', () => {
    expect(modelledNs({ ipisSent: 3, targets: 2, invlpg: 7, fullFlushes: 4, invlpgb: 5, tlbsync: 2, ...NO_ARM64, localFlushAll: 0 }, model)).toBe(3 * 10 + 2 * 100 + 7 * 1 + 4 * 1000 + 5 * 20000 + 2 * 300000);
  });

  it('is zero for no work', () => {
    expect(modelledNs({ ipisSent: 0, targets: 0, invlpg: 0, fullFlushes: 0, invlpgb: 0, tlbsync: 0, ...NO_ARM64, localFlushAll: 0 }, DEFAULT_COST_MODEL)).toBe(0);
  });
});

describe('the arm64 model', () => {
  const none = { ipisSent: 0, targets: 0, invlpg: 0, fullFlushes: 0, invlpgb: 0, tlbsync: 0 };

  it('prices TLBIs by kind, DSB ISHs grown by the CPU count, and local_flush_tlb_all', () => {
    // 8 CPUs: a DSB costs 3200 x (1 + 8/32) = 4000 ns
    expect(dsbNs(model, 8)).toBe(4000);
    expect(modelledNs({ ...none, tlbiVa: 30, tlbiRange: 2, tlbiAsid: 3, dsbIsh: 5, cpus: 8, localFlushAll: 1 }, model)).toBe(32 * 7 + 3 * 5000 + 5 * 4000 + 90000);
  });

  it('makes a DSB dearer as CPUs grow', () => {
    expect(dsbNs(DEFAULT_COST_MODEL, 64)).toBeGreaterThan(dsbNs(DEFAULT_COST_MODEL, 8));
    expect(dsbNs(DEFAULT_COST_MODEL, 8)).toBeGreaterThan(dsbNs(DEFAULT_COST_MODEL, 2));
  });

  it("charges the initiator its TLBIs and DSB ISHs, and nobody else: no CPU is interrupted", () => {
    expect(modelledWaitNs({ ipisSent: 0, waits: 0, localInvlpg: 0, localFullFlushes: 0, invlpgb: 0, tlbsync: 0, tlbiVa: 4, tlbiRange: 1, tlbiAsid: 1, dsbIsh: 2, cpus: 32 }, model)).toBe(5 * 7 + 5000 + 2 * 6400);
  });

  it('says its constants are estimates, whatever the x86 ones are', () => {
    expect(DEFAULT_COST_MODEL.arm64Source).toBe('estimate');
    for (const v of [DEFAULT_COST_MODEL.tlbiNs, DEFAULT_COST_MODEL.tlbiAsidNs, DEFAULT_COST_MODEL.dsbIshNs, DEFAULT_COST_MODEL.localFlushAllNs]) expect(v).toBeGreaterThan(0);
  });
});

describe('modelledWaitNs', () => {
  it('charges the initiator each IPI it sends and one target per wait: the targets overlap', () => {
    // 4 shootdowns to 3 targets each, 2 INVLPGs and one full flush of the initiator's own
    expect(modelledWaitNs({ ipisSent: 12, waits: 4, localInvlpg: 2, localFullFlushes: 1, invlpgb: 0, tlbsync: 0, ...NO_ARM64 }, model)).toBe(12 * 10 + 4 * 100 + 2 * 1 + 1000);
  });

  it('charges the initiator its INVLPGBs and TLBSYNCs, and no target: nobody is interrupted', () => {
    expect(modelledWaitNs({ ipisSent: 0, waits: 0, localInvlpg: 0, localFullFlushes: 0, invlpgb: 3, tlbsync: 1, ...NO_ARM64 }, model)).toBe(3 * 20000 + 300000);
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
    // the broadcast and arm64 constants are not calibrated: the file keeps the four, the defaults the rest
    expect(loadCostModel(path)).toEqual({ ...model, ...UNCALIBRATED });
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
    expect(loadCostModel()).toEqual({ ...model, ...UNCALIBRATED });
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
