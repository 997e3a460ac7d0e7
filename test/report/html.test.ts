/*
 * The compare page: self-contained, its chart specs valid JSON, and each chart, compiled by
 * Vega-Lite and rendered headless by Vega, names every kernel and every CPU count.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { chartSpecs, renderCompareHtml, writeCompareHtml, type ChartKey } from '../../src/report/html.ts';
import type { CompareReport, CompareRow } from '../../src/campaign/compare-report.ts';
import { defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { COUNTER_NAMES, type Counters } from '../../src/trace/counters.ts';

const CPUS = [1, 2, 4, 8, 16];
const CHARTS = ['latency', 'ipis', 'broadcast', 'model'];

/** a row's arm64 counts on x86 */
const NO_ARM64 = { tlbFills: 0, tlbiVa: 0, tlbiVaLeaf: 0, tlbiRange: 0, tlbiRangePages: 0, tlbiAsid: 0, tlbiAll: 0, tlbis: 0, dsbIsh: 0, dsbIshWaits: 0, localFlushAll: 0, asidRollovers: 0 };

/** A report as compare would make it: every (kernel, variant, CPU count), plausible numbers. */
function report(kernels: string[], variants: string[]): CompareReport {
  const counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Counters;
  const rows: CompareRow[] = [];
  kernels.forEach((kernel, k) =>
    variants.forEach((variant, v) =>
      CPUS.forEach((cpus) => {
        const operations = 400;
        const shootdowns = cpus > 1 ? operations / (k + 1) : 0;
        const ipis = shootdowns * (cpus - 1);
        const wait = cpus > 1 ? 2 + cpus * (k + 1) * (v + 1) : 0;
        rows.push({
          arch: 'x86', kernel, variant, cpus, switches: defaultKernelConfig(), trials: 4, operations, ipis, shootdowns,
          cpusPerShootdown: cpus > 1 ? cpus - 1 : 0, fullFlushes: 3, rangedFlushes: operations - 3,
          invlpg: 1234 * cpus, invlpgb: k * cpus, tlbsync: k * cpus, globalAsids: k, pvDeferred: 0, entriesInvalidated: 2000 * cpus, refillWalks: 1500, syncIpis: 0, ...NO_ARM64,
          redundantFlushes: k, waitUs: { median: wait, p99: wait * 3.5, samples: shootdowns },
          measuredUsPerOp: (wait * shootdowns) / operations, modelledUsPerOp: (ipis * 3.5) / operations, modelledWaitUsPerOp: (ipis * 3) / operations,
          violations: 0, reportsByKind: {}, firstReport: null, counters,
        });
      }),
    ),
  );
  return {
    scenario: 'mprotect-skip-nonatomic-clear', operation: 'mprotect', arches: ['x86'], hardware: {}, kernels, variants, cpus: CPUS, seed: 12345, schedule: 'free',
    host: { cores: 2, node: 'v20.20.2' }, warnings: ['16 CPUs on 2 cores: times are inflated </script>'],
    costModel: { ipiSendNs: 500, perTargetNs: 2500, invlpgNs: 100, fullFlushNs: 3000, invlpgbNs: 200, tlbsyncNs: 1000, source: 'calibrated', tlbiNs: 50, tlbiAsidNs: 3000, dsbIshNs: 1000, localFlushAllNs: 3000, arm64Source: 'estimate' }, rows, interrupted: null,
  };
}

/** The page's <script> elements: opening tag and text. */
function scripts(page: string): { tag: string; text: string }[] {
  return [...page.matchAll(/(<script\b[^>]*>)([\s\S]*?)<\/script>/gi)].map((m) => ({ tag: m[1], text: m[2] }));
}

function embeddedSpecs(page: string): Record<string, unknown> {
  const specs: Record<string, unknown> = {};
  for (const { tag, text } of scripts(page)) {
    const id = /type="application\/json" id="chart-(\w+)"/.exec(tag);
    if (id) specs[id[1]] = JSON.parse(text);
  }
  return specs;
}

/** The words a chart shows: its <text> elements (axis labels, legend entries, titles, headers). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

async function renderSvg(spec: unknown): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec as TopLevelSpec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

describe('compare --html', () => {
  const single = report(['buggy', 'fixed', 'mprotectFlush=always'], ['']);
  const twoVariants = report(['buggy', 'fixed'], ['busy', 'idle']);

  it('loads nothing from the network: no <script src>, no <link href>, libraries inlined', () => {
    const page = renderCompareHtml(single);
    const tags = scripts(page);
    for (const { tag } of tags) expect(tag).not.toMatch(/\bsrc\s*=/i);
    const outsideScripts = page.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, '');
    expect(outsideScripts).not.toMatch(/<link\b/i);
    expect(outsideScripts).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    const code = tags.map((t) => t.text).join('\n');
    for (const global of ['vega', 'vegaLite', 'vegaEmbed']) expect(code).toContain(`.${global}=`);
  });

  it('embeds one spec per chart, each valid JSON, with nothing closing its script early', () => {
    // a kernel named like markup lands in the chart data and the table; the warning in the header
    const hostile = report(['buggy', '</script><b>x'], ['']);
    const page = renderCompareHtml(hostile);
    const specs = embeddedSpecs(page);
    expect(Object.keys(specs).sort()).toEqual([...CHARTS].sort());
    expect(specs).toEqual(JSON.parse(JSON.stringify(chartSpecs(hostile))));
    // every '<script' opens an element that the next '</script>' closes
    expect(page.match(/<script\b/gi)!.length).toBe(page.match(/<\/script>/gi)!.length);
    expect(page).not.toContain('<b>x');
    expect(/<header>[\s\S]*?<\/header>/.exec(page)![0]).toContain('times are inflated &#60;/script&#62;');
  });

  it('draws every kernel and every CPU count in each chart', async () => {
    const specs = embeddedSpecs(renderCompareHtml(single));
    for (const key of CHARTS) {
      const svg = await renderSvg(specs[key]);
      for (const kernel of single.kernels) expect(texts(svg), key).toContain(kernel);
      for (const cpus of CPUS) expect(texts(svg), key).toContain(String(cpus));
    }
  });

  it('shows the median and p99 wait, and measured beside modelled time', async () => {
    const specs = embeddedSpecs(renderCompareHtml(single));
    expect(texts(await renderSvg(specs.latency))).toEqual(expect.arrayContaining(['median', 'p99']));
    expect(texts(await renderSvg(specs.model))).toEqual(expect.arrayContaining(['measured on this host', 'modelled by the cost model']));
  });

  it('gives measured and modelled wait an axis each, so the smaller is not flat on zero', async () => {
    // the measured wait a thousand times the modelled one, as threads on a shared host make it
    const r = report(['buggy', 'fixed'], ['']);
    for (const row of r.rows) row.measuredUsPerOp *= 1000;
    const svg = await renderSvg(chartSpecs(r).model);
    const shown = texts(svg);
    expect(shown.filter((t) => t === 'wait per operation (µs)')).toHaveLength(2);
    // the modelled panel's axis ends near its own largest value, not the measured one's
    const largestModelled = Math.max(...r.rows.map((row) => row.modelledWaitUsPerOp));
    // the y axes' labels (not the CPU counts under the x axis)
    const labels = shown.filter((t) => /^[\d,.]+$/.test(t) && !CPUS.map(String).includes(t)).map((t) => Number(t.replace(/,/g, '')));
    expect(labels.some((n) => n > largestModelled / 2 && n <= largestModelled * 1.5)).toBe(true);
    expect(labels.some((n) => n >= 1000 * largestModelled / 4)).toBe(true);
  });

  it('keeps kernels whose lines coincide visible: their points side by side, each kernel its own shape', async () => {
    const r = report(['buggy', 'fixed'], ['']);
    // the same counts under both kernels
    for (const row of r.rows.filter((row) => row.kernel === 'fixed')) Object.assign(row, { ipis: r.rows.find((b) => b.kernel === 'buggy' && b.cpus === row.cpus)!.ipis });
    const svg = await renderSvg(chartSpecs(r).ipis);
    const points = [...svg.matchAll(/aria-roledescription="point" transform="translate\(([\d.]+),([\d.]+)\)" d="([^"]+)"/g)];
    const at = points.map((m) => `${m[1]},${m[2]}`);
    expect(at).toHaveLength(r.rows.length);
    expect(new Set(at).size).toBe(at.length);
    // two symbol shapes: one per kernel
    expect(new Set(points.map((m) => m[3].replace(/[\d.-]+/g, '#'))).size).toBe(2);
  });

  it('says the unit on every axis, labels a log axis at powers of ten and groups digits', async () => {
    const r = report(['buggy'], ['']);
    for (const row of r.rows) row.waitUs.p99 *= 1000;
    const specs = chartSpecs(r);
    const titles = { latency: 'wait (µs)', ipis: 'IPIs per operation', broadcast: 'per operation', model: 'wait per operation (µs)' };
    for (const key of CHARTS) {
      const shown = texts(await renderSvg(specs[key as ChartKey]));
      expect(shown, key).toContain('simulated CPUs');
      expect(shown, key).toContain(titles[key as ChartKey]);
      expect(shown.some((t) => /e[+-]\d/.test(t)), key).toBe(false);
    }
    const latency = texts(await renderSvg(specs.latency));
    expect(latency).toEqual(expect.arrayContaining(['10', '100', '1,000', '10,000', '100,000']));
  });

  it('gives each variant its own panel, so lines of different variants never join', async () => {
    const specs = embeddedSpecs(renderCompareHtml(twoVariants));
    for (const key of CHARTS) {
      const svg = await renderSvg(specs[key]);
      const shown = texts(svg);
      for (const name of [...twoVariants.variants, ...twoVariants.kernels, ...CPUS.map(String)]) expect(shown, key).toContain(name);
      // one line per kernel (and per median/p99, measured/modelled) in each variant's panel
      const perKernel = key === 'ipis' ? 1 : 2;
      const lines = svg.match(/<path [^>]*aria-roledescription="line mark"/g) ?? [];
      expect(lines.length, key).toBe(twoVariants.kernels.length * perKernel * twoVariants.variants.length);
    }
  });

  it('keeps the table narrow: short headings, their meaning on hover, the operation named above', () => {
    const page = renderCompareHtml(report(['buggy', 'fixed'], ['busy', 'idle']));
    const headings = [.../<thead>(.*)<\/thead>/.exec(page)![1].matchAll(/<th( title="[^"]+")?>([^<]*)<\/th>/g)];
    expect(headings.length).toBe(26);
    for (const [, title, text] of headings) {
      expect(text.replace(/\u00ad/g, '').length, text).toBeLessThanOrEqual(20);
      if (!['kernel', 'variant'].includes(text)) expect(title, text).toBeDefined();
    }
    expect(page).toContain('<p class="note">op: one mprotect.');
  });

  it('tabulates every row with readable numbers', () => {
    const r = report(['buggy', 'fixed'], ['busy', 'idle']);
    Object.assign(r.rows[0], { operations: 1234567, measuredUsPerOp: 12.3456, modelledUsPerOp: 0.012345, cpusPerShootdown: NaN });
    const page = renderCompareHtml(r);
    const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(page)![1];
    expect(body.match(/<tr/g)!.length).toBe(r.rows.length);
    const first = body.trim().split('\n')[0];
    for (const shown of ['buggy', 'busy', '1,234,567', '12.3', '0.0123', '–']) expect(first).toContain(`>${shown}</td>`);
    expect(/<thead>.*<\/thead>/.exec(page)![0]).toContain('<th>variant</th>');
    const header = /<header>[\s\S]*?<\/header>/.exec(page)![0];
    for (const fact of ['<dd>12345</dd>', '<dd>2 cores, Node v20.20.2</dd>', 'calibrated: IPI send 500 ns, per target 2500 ns, INVLPG 100 ns, full flush 3000 ns'])
      expect(header).toContain(fact);
  });

  it('separates the rows of each architecture: a line per architecture and kernel, a table each with its own columns', async () => {
    const x86 = report(['mainline'], ['']);
    const arm64 = report(['mainline'], ['']).rows.map((r) => ({ ...r, arch: 'arm64' as const, ipis: 0, tlbiRange: 400, tlbis: 400, dsbIsh: 400 }));
    const both: CompareReport = { ...x86, arches: ['x86', 'arm64'], rows: [...x86.rows, ...arm64] };
    const page = renderCompareHtml(both);
    const tables = [...page.matchAll(/<h2>([^<]*)<\/h2>[\s\S]*?<thead>(.*?)<\/thead>\s*<tbody>([\s\S]*?)<\/tbody>/g)].map((m) => ({ title: m[1], head: m[2], rows: m[3].match(/<tr/g)!.length }));
    expect(tables.map((t) => [t.title, t.rows])).toEqual([['x86 rows', CPUS.length], ['arm64 rows', CPUS.length]]);
    expect(tables[0]!.head).toContain('>INVLPG<');
    expect(tables[0]!.head).not.toContain('DSB ISH');
    for (const heading of ['>TLBI va<', '>TLBI vale<', '>range ops<', '>TLBI asid<', '>DSB ISH<', '>refill walks<', '>fills<']) expect(tables[1]!.head).toContain(heading);
    expect(tables[1]!.head).not.toContain('>INVLPG<');
    expect(/<header>[\s\S]*?<\/header>/.exec(page)![0]).toContain('<dt>arm64 cost model</dt><dd>estimate (no published per-op figure for TLBI IS or DSB ISH)');
    const svg = await renderSvg(embeddedSpecs(page).broadcast);
    for (const series of ['x86 mainline', 'arm64 mainline', 'TLBIs']) expect(texts(svg)).toContain(series);
  });

  describe('writeCompareHtml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shootdown-html-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('writes the page whole into a new directory and leaves no temporary file', () => {
      const file = join(dir, 'reports', 'nested', 'compare.html');
      writeCompareHtml(single, file);
      expect(readFileSync(file, 'utf8')).toBe(renderCompareHtml(single));
      expect(readdirSync(join(dir, 'reports', 'nested'))).toEqual(['compare.html']);
      writeCompareHtml(twoVariants, file);
      expect(readdirSync(join(dir, 'reports', 'nested'))).toEqual(['compare.html']);
      expect(existsSync(file)).toBe(true);
    });
  });
});
