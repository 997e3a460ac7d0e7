/*
 * The page of a `shootdown compare` report (`--html FILE`): one file that opens offline. It holds
 * a header (scenario, operation, seed, host, cost model, warnings), three Vega-Lite charts and a
 * table of every row.
 *
 * The rule: the page loads nothing. Vega, Vega-Lite and vega-embed are inlined from their browser
 * builds in node_modules, read when the page is rendered (never copied into the repository); each
 * chart's spec carries its data inline, in a <script type="application/json" id="chart-KEY">,
 * which the page's last script hands to vegaEmbed for the <div id="view-KEY"> above it. Nothing
 * embedded may close its <script> early: JSON has every '<' written as \u003c, library code every
 * '</script' as '<\/script'.
 *
 * The charts (chartSpecs), one line per kernel, x = CPU count:
 *   latency  the initiators' wait in smp_call_function_many: median solid, p99 dashed, log scale
 *            (the two, and 2 CPUs against 16, differ by orders of magnitude)
 *   ipis     IPIs sent per operation
 *   broadcast  IPIs and INVLPGBs per operation, solid and dashed: what broadcast invalidation
 *            (x86TlbFlush=invlpgb) replaces, as CPUs grow
 *   model    microseconds per operation, measured on this host and by the cost model, each in a
 *            panel with its own y axis: the measured wait (host threads) is thousands of times
 *            the modelled one, and on one axis the model's line lies flat on zero
 * When the rows come in several workload variants, each chart is faceted into one column per
 * variant, so lines of different variants never join. Kernels whose lines coincide (the same
 * IPIs under two kernels) stay visible: each kernel's points sit a little to one side of the CPU
 * count (xOffset) and have their own shape. Every axis says its unit; numbers are grouped by
 * thousands. The table's headings are short (their meaning in a tooltip), so that it fits a page.
 *
 * A report of several architectures (compare --arch x86,arm64) draws a line per architecture and
 * kernel ("arm64 mainline"), adds arm64's TLBIs to the broadcast chart, and has a table per
 * architecture, each with its own columns: IPIs and INVLPG(B)s on x86; TLBIs by kind, range ops,
 * DSB ISHs and local_flush_tlb_all on arm64 (arm64Columns). The header names the arm64 cost
 * constants as the estimates they are.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { CompareReport, CompareRow } from '../campaign/compare-report.ts';
import { writeFileAtomic } from '../fs-atomic.ts';

export type ChartKey = 'latency' | 'ipis' | 'broadcast' | 'model';

/** The browser builds (UMD: globals vega, vegaLite, vegaEmbed) in load order; each lies beside its package's entry point. */
const LIBRARIES = [
  { pkg: 'vega', file: 'vega.min.js' },
  { pkg: 'vega-lite', file: 'vega-lite.min.js' },
  { pkg: 'vega-embed', file: 'vega-embed.min.js' },
] as const;

/** The Vega-Lite specs of the report's charts, data inline. */
export function chartSpecs(report: CompareReport): Record<ChartKey, TopLevelSpec> {
  const op = report.operation;
  const point = (r: CompareRow) => ({ kernel: seriesOf(report, r), variant: r.variant, cpus: r.cpus });
  const arm64 = arches(report).includes('arm64');
  // rows without a wait (one CPU: nothing to shoot down) or without operations have no point
  const waited = report.rows.filter((r) => r.waitUs.samples > 0);
  const operated = report.rows.filter((r) => r.operations > 0);
  return {
    latency: lineChart(report, {
      title: 'Shootdown latency',
      subtitle: [`the initiator's wait in smp_call_function_many, log scale`],
      // a log scale has no place for 0: such a wait shows in the table only
      values: waited.flatMap((r) => [
        { ...point(r), stat: 'median', us: r.waitUs.median, samples: r.waitUs.samples },
        { ...point(r), stat: 'p99', us: r.waitUs.p99, samples: r.waitUs.samples },
      ]).filter((v) => v.us > 0),
      y: { field: 'us', title: 'wait (µs)', log: true },
      dash: { field: 'stat', domain: ['median', 'p99'] },
      tooltip: ['samples'],
    }),
    ipis: lineChart(report, {
      title: 'IPIs per operation',
      subtitle: [`one operation: ${op}`],
      values: operated.map((r) => ({ ...point(r), ipisPerOp: r.ipis / r.operations, ipis: r.ipis, operations: r.operations })),
      y: { field: 'ipisPerOp', title: 'IPIs per operation' },
      tooltip: ['ipis', 'operations'],
    }),
    broadcast: lineChart(report, {
      title: arm64 ? 'IPIs, INVLPGBs and TLBIs per operation' : 'IPIs and INVLPGBs per operation',
      subtitle: [`IPIs solid, INVLPGBs dashed${arm64 ? ', TLBIs (arm64, every kind) dotted' : ''}; one operation: ${op}`],
      values: operated.flatMap((r) => [
        { ...point(r), sent: 'IPIs', perOp: r.ipis / r.operations, count: r.ipis },
        ...(r.arch === 'arm64' ? [{ ...point(r), sent: 'TLBIs', perOp: r.tlbis / r.operations, count: r.tlbis }] : [{ ...point(r), sent: 'INVLPGBs', perOp: r.invlpgb / r.operations, count: r.invlpgb }]),
      ]),
      y: { field: 'perOp', title: 'per operation' },
      dash: { field: 'sent', domain: arm64 ? ['IPIs', 'INVLPGBs', 'TLBIs'] : ['IPIs', 'INVLPGBs'] },
      tooltip: ['count'],
    }),
    model: lineChart(report, {
      title: 'Measured and modelled wait per operation',
      subtitle: [
        "the initiators' wait in smp_call_function_many: measured in the emulator on this host, and the cost model's for the same counts;",
        `each on its own axis (they differ by orders of magnitude); one operation: ${op}`,
      ],
      values: operated.flatMap((r) => [
        { ...point(r), time: MEASURED, usPerOp: r.measuredUsPerOp },
        { ...point(r), time: MODELLED, usPerOp: r.modelledWaitUsPerOp },
      ]),
      y: { field: 'usPerOp', title: 'wait per operation (µs)' },
      split: { field: 'time', domain: [MEASURED, MODELLED] },
      tooltip: [],
    }),
  };
}

const MEASURED = 'measured on this host';
const MODELLED = 'modelled by the cost model';

/** The report's architectures; a report older than them ran on x86. */
function arches(report: CompareReport): string[] {
  return report.arches ?? ['x86'];
}

/** A row's line in the charts: its kernel, and its architecture when the report has several. */
function seriesOf(report: CompareReport, r: CompareRow): string {
  return arches(report).length > 1 ? `${r.arch ?? 'x86'} ${r.kernel}` : r.kernel;
}

/** Every line of the charts, in order: the kernels, per architecture when there are several. */
function seriesDomain(report: CompareReport): string[] {
  if (arches(report).length <= 1) return report.kernels;
  const present = new Set(report.rows.map((r) => seriesOf(report, r)));
  return arches(report).flatMap((a) => report.kernels.map((k) => `${a} ${k}`)).filter((s) => present.has(s));
}

interface LineChart {
  title: string;
  subtitle: string[];
  values: Record<string, string | number>[];
  /** log: a log scale, for values spread over orders of magnitude */
  y: { field: string; title: string; log?: boolean };
  /** a second series per kernel on the same axis, told apart by dashes: the first value solid, the second dashed */
  dash?: { field: string; domain: string[] };
  /** series per kernel that differ in scale: a panel each, one above the other, each with its own y axis */
  split?: { field: string; domain: string[] };
  /** fields shown on hover besides kernel, variant, CPUs, y and the dash or split field */
  tooltip: string[];
}

/** Counts grouped by thousands, fractions to three significant digits (d3-format). */
const NUMBER_FORMAT = ',.3~g';

/** How far apart two kernels' points at one CPU count sit, in doublings of the CPU count. */
const KERNEL_OFFSET = 0.07;

/** 10^k from below `min` to above `max`: a log axis's labels. */
function powersOfTen(min: number, max: number): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(min)); k <= Math.ceil(Math.log10(max)); k++) out.push(10 ** k);
  return out;
}

function lineChart(report: CompareReport, c: LineChart): TopLevelSpec {
  const byVariant = new Set(report.rows.map((r) => r.variant)).size > 1;
  const series = c.dash ?? c.split;
  // each kernel a little to the side of the CPU count (log2 scale: the offset looks the same at
  // every count), so that kernels with the same value draw side by side, not one over the other
  const kernels = seriesDomain(report);
  const middle = (kernels.length - 1) / 2;
  const at = (v: Record<string, string | number>) => (v.cpus as number) * 2 ** ((kernels.indexOf(v.kernel as string) - middle) * KERNEL_OFFSET);
  const values: Record<string, string | number>[] = c.values.map((v) => ({ ...v, at: at(v) }));
  const spread = 2 ** (Math.max(0.5, (middle + 1) * KERNEL_OFFSET));
  const ys = values.map((v) => v[c.y.field] as number).filter((y) => y > 0);
  const encoding = {
    x: {
      field: 'at',
      type: 'quantitative',
      title: 'simulated CPUs',
      scale: { type: 'log', base: 2, nice: false, domain: [Math.min(...report.cpus) / spread, Math.max(...report.cpus) * spread] },
      axis: { values: report.cpus, format: 'd', grid: false },
    },
    y: {
      field: c.y.field,
      type: 'quantitative',
      title: c.y.title,
      // a log axis labelled at the powers of ten only
      ...(c.y.log && ys.length > 0 && { scale: { type: 'log' } }),
      axis: { format: ',~f', ...(c.y.log && ys.length > 0 && { values: powersOfTen(Math.min(...ys), Math.max(...ys)) }) },
    },
    // a kernel given as a switch list can be long: the legend shows it whole
    color: { field: 'kernel', type: 'nominal', title: 'kernel', scale: { domain: kernels }, legend: { labelLimit: 0 } },
  };
  // the dashes go on the lines only, so that their legend draws dashed strokes, not dots
  const lines = {
    mark: { type: 'line' },
    ...(c.dash && {
      encoding: {
        strokeDash: { field: c.dash.field, type: 'nominal', title: c.dash.field, scale: { domain: c.dash.domain }, legend: { symbolType: 'stroke', symbolStrokeWidth: 2, encode: { symbols: { update: { stroke: { value: '#555' } } } } } },
      },
    }),
  };
  const points = {
    mark: { type: 'point', filled: true, size: 50, opacity: 0.9 },
    encoding: {
      // on the points only: a line given a shape draws points of its own
      shape: { field: 'kernel', type: 'nominal', title: 'kernel', scale: { domain: kernels } },
      tooltip: [
        { field: 'kernel', type: 'nominal' },
        ...(byVariant ? [{ field: 'variant', type: 'nominal' }] : []),
        { field: 'cpus', type: 'ordinal', title: 'CPUs' },
        ...(series ? [{ field: series.field, type: 'nominal' }] : []),
        { field: c.y.field, type: 'quantitative', title: c.y.title, format: NUMBER_FORMAT },
        ...c.tooltip.map((field) => ({ field, type: 'quantitative', format: NUMBER_FORMAT })),
      ],
    },
  };
  const unit = { width: byVariant ? 380 : 640, height: c.split ? 180 : 260, encoding, layer: [lines, points] };
  const top = { title: { text: c.title, subtitle: c.subtitle, anchor: 'start' }, data: { values } };
  const facet = {
    ...(byVariant && { column: { field: 'variant', type: 'nominal', title: 'variant', sort: report.variants } }),
    ...(c.split && { row: { field: c.split.field, type: 'nominal', title: null, sort: c.split.domain, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top', labelFontWeight: 'bold' } } }),
  };
  const spec =
    Object.keys(facet).length > 0
      ? { ...top, facet, spec: unit, ...(c.split && { resolve: { scale: { y: 'independent' } } }) }
      : { ...top, ...unit };
  return spec as TopLevelSpec;
}

/** The whole page, libraries inlined: it loads nothing when opened. */
export function renderCompareHtml(report: CompareReport): string {
  const specs = chartSpecs(report);
  const charts = (Object.keys(specs) as ChartKey[]).map(
    (key) => `<section class="chart">
<div id="view-${key}"></div>
<script type="application/json" id="chart-${key}">${inlineJson(specs[key])}</script>
</section>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shootdown compare: ${escapeHtml(report.scenario)}</title>
<style>${STYLE}</style>
</head>
<body>
${header(report)}
<noscript><p>The charts need JavaScript; the table below holds every number.</p></noscript>
${charts.join('\n')}
${table(report)}
${libraryScripts()}
<script>${EMBED}</script>
</body>
</html>
`;
}

/** Writes the page to `file` by a temporary file and a rename, creating the directory. */
export function writeCompareHtml(report: CompareReport, file: string): void {
  writeFileAtomic(file, renderCompareHtml(report));
}

function header(report: CompareReport): string {
  const m = report.costModel;
  const facts: [string, string][] = [
    ['operation', report.operation],
    ['seed', String(report.seed)],
    ['kernels', report.kernels.join(', ')],
    ...(report.variants.some((v) => v !== '') ? [['variants', report.variants.join(', ')] as [string, string]] : []),
    ['CPUs', report.cpus.join(', ')],
    ['host', `${report.host.cores} cores, Node ${report.host.node}`],
    [
      'cost model',
      `${m.source}: IPI send ${m.ipiSendNs} ns, per target ${m.perTargetNs} ns, INVLPG ${m.invlpgNs} ns, full flush ${m.fullFlushNs} ns, INVLPGB ${m.invlpgbNs} ns, TLBSYNC ${m.tlbsyncNs} ns`,
    ],
    ...(arches(report).includes('arm64')
      ? [
          ['arches', arches(report).join(', ')] as [string, string],
          [
            'arm64 cost model',
            `${m.arm64Source ?? 'estimate'} (no published per-op figure for TLBI IS or DSB ISH): TLBI va or range op ${m.tlbiNs} ns, TLBI asid or all with refill ${m.tlbiAsidNs} ns, DSB ISH ${m.dsbIshNs} ns × (1 + CPUs/32), local_flush_tlb_all with refill ${m.localFlushAllNs} ns`,
          ] as [string, string],
        ]
      : []),
  ];
  const warnings = report.warnings.length
    ? `<ul class="warnings">${report.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>`
    : '';
  return `<header>
<h1>shootdown compare: ${escapeHtml(report.scenario)}</h1>
<dl>${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
${warnings}
</header>`;
}

/**
 * The table's numeric columns, after kernel and variant: a short heading, what it means (the
 * heading's tooltip), the value. "op" is one operation of the workload, named above the table.
 */
function columns(): [string, string, (r: CompareRow) => number][] {
  return [
    ['CPUs', 'simulated CPUs', (r) => r.cpus],
    ['trials', 'trials run', (r) => r.trials],
    ['ops', 'operations of the workload', (r) => r.operations],
    ['IPIs', 'IPIs sent, sync IPIs included', (r) => r.ipis],
    ['IPIs /op', 'IPIs sent per operation', (r) => r.ipis / r.operations],
    ['shoot\u00addowns', 'flushes that sent IPIs (nr_tlb_remote_flush)', (r) => r.shootdowns],
    ['CPUs /shoot\u00addown', 'CPUs reached per shootdown', (r) => r.cpusPerShootdown],
    ['full flushes', 'full TLB flushes', (r) => r.fullFlushes],
    ['ranged flushes', 'ranged TLB flushes', (r) => r.rangedFlushes],
    ['INVLPG', 'INVLPG instructions', (r) => r.invlpg],
    ['INVLPGB', 'INVLPGB instructions (x86TlbFlush=invlpgb)', (r) => r.invlpgb],
    ['TLBSYNC', 'TLBSYNC instructions', (r) => r.tlbsync],
    ['PV de\u00adferred', 'CPUs a paravirt flush left to the host instead of an IPI (x86TlbFlush=kvm-pv)', (r) => r.pvDeferred],
    ['entries invali\u00addated', 'TLB entries invalidated', (r) => r.entriesInvalidated],
    ['refill walks', 'page walks refilling the TLB', (r) => r.refillWalks],
    ['sync IPIs', 'tlb_remove_table_sync_one IPIs', (r) => r.syncIpis],
    ['redun\u00addant flushes', 'deferred flushes a later completed flush already covered', (r) => r.redundantFlushes],
    // no waits (one CPU): no median to show, rather than a 0 that reads as a free shootdown
    ['wait p50 µs', "median of the initiators' waits in smp_call_function_many, microseconds", (r) => (r.waitUs.samples ? r.waitUs.median : NaN)],
    ['wait p99 µs', "99th percentile of the initiators' waits, microseconds", (r) => (r.waitUs.samples ? r.waitUs.p99 : NaN)],
    ['waits', 'waits measured', (r) => r.waitUs.samples],
    ['measured wait µs/op', "the initiators' total measured wait per operation, microseconds", (r) => r.measuredUsPerOp],
    ['modelled wait µs/op', "the cost model's wait for the initiators per operation, microseconds", (r) => r.modelledWaitUsPerOp],
    ['modelled CPU µs/op', "the cost model's machine time on every CPU per operation, microseconds", (r) => r.modelledUsPerOp],
    ['viola\u00adtions', 'oracle reports of any kind', (r) => r.violations],
  ];
}

/**
 * The arm64 table's numeric columns: no flush IPI, the TLBIs by kind, the DSB ISHs, and the same
 * entries, walks, waits and model as x86's.
 */
function arm64Columns(): [string, string, (r: CompareRow) => number][] {
  const x86 = new Map(columns().map((c) => [c[0], c]));
  const same = (...titles: string[]) => titles.map((t) => x86.get(t)!);
  return [
    ...same('CPUs', 'trials', 'ops'),
    ['TLBI va', 'TLBI VAE1IS, one per page or stride: leaf and walk-cache entries (tlbi_va)', (r) => r.tlbiVa],
    ['TLBI vale', 'TLBI VALE1IS, one per page or stride: leaf entries only (tlbi_va_leaf)', (r) => r.tlbiVaLeaf],
    ['range ops', 'TLBI RVAE1IS / RVALE1IS, FEAT_TLBIRANGE (tlbi_range)', (r) => r.tlbiRange],
    ['range pages', 'pages the range ops named (tlbi_range_pages)', (r) => r.tlbiRangePages],
    ['TLBI asid', 'TLBI ASIDE1IS: flush_tlb_mm, or a range above the limit (tlbi_asid)', (r) => r.tlbiAsid],
    ['TLBI all', 'TLBI VMALLE1IS (tlbi_all)', (r) => r.tlbiAll],
    ['TLBIs /op', 'TLBIs of every kind per operation', (r) => r.tlbis / r.operations],
    ['DSB ISH', 'DSB ISH barriers completing TLBIs (dsb_ish)', (r) => r.dsbIsh],
    ['DSB waits', 'DSB ISHs that waited for another CPU to apply the TLBIs (dsb_ish_waits)', (r) => r.dsbIshWaits],
    ['local flush all', 'local_flush_tlb_all after an ASID rollover (local_flush_all)', (r) => r.localFlushAll],
    ['IPIs', 'IPIs sent: tlb_remove_table_sync_one only, no flush IPI on arm64', (r) => r.ipis],
    ...same('entries invali\u00addated', 'refill walks'),
    ['fills', 'TLB entries filled by walks, speculative ones included (tlb_fills)', (r) => r.tlbFills],
    ...same('modelled wait µs/op', 'modelled CPU µs/op', 'viola\u00adtions'),
  ];
}

/** A table per architecture, each with its columns; one "All rows" table when x86 is the only one. */
function table(report: CompareReport): string {
  const list = arches(report);
  if (list.length === 1 && list[0] === 'x86') return archTable(report, report.rows, 'All rows', columns());
  return list
    .map((arch) => archTable(report, report.rows.filter((r) => (r.arch ?? 'x86') === arch), `${arch} rows`, arch === 'arm64' ? arm64Columns() : columns()))
    .join('\n');
}

function archTable(report: CompareReport, rows: readonly CompareRow[], title: string, cols: [string, string, (r: CompareRow) => number][]): string {
  const withVariant = report.rows.some((r) => r.variant !== '');
  const head = [
    '<th>kernel</th>',
    ...(withVariant ? ['<th>variant</th>'] : []),
    ...cols.map(([title, meaning]) => `<th title="${escapeHtml(meaning)}">${escapeHtml(title)}</th>`),
  ];
  const body = rows.map((r) => {
    const switches = Object.entries(r.switches).map(([name, value]) => `${name}=${value}`).join(' ');
    const cells = [
      `<td class="kernel" title="${escapeHtml(switches)}">${escapeHtml(r.kernel)}</td>`,
      ...(withVariant ? [`<td>${escapeHtml(r.variant)}</td>`] : []),
      ...cols.map(([, , value]) => `<td class="num">${formatNumber(value(r))}</td>`),
    ];
    return `<tr${r.violations > 0 ? ' class="violated"' : ''}>${cells.join('')}</tr>`;
  });
  return `<section>
<h2>${escapeHtml(title)}</h2>
<p class="note">op: one ${escapeHtml(report.operation)}. Times in microseconds; hover a heading for what it counts, a kernel for its switches.</p>
<div class="scroll"><table>
<thead><tr>${head.join('')}</tr></thead>
<tbody>
${body.join('\n')}
</tbody>
</table></div>
</section>`;
}

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const FRACTION = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });

/** Counts with thousands separators, fractions to three significant digits, "–" for no value (NaN, as 0/0). */
function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Number.isInteger(n) || Math.abs(n) >= 1000 ? INTEGER.format(n) : FRACTION.format(n);
}

function libraryScripts(): string {
  const require = createRequire(import.meta.url);
  return LIBRARIES.map(({ pkg, file }) => {
    const code = readFileSync(join(dirname(require.resolve(pkg)), file), 'utf8')
      // the .map file is not inlined: no source-map comment for devtools to go looking for
      .replace(/^\/\/# sourceMappingURL=.*$/m, '')
      // only '</script' ends the element; a blanket '</' -> '<\/' would break vega's /</g regex
      .replace(/<\/(script)/gi, '<\\/$1');
    return `<script>${code}</script>`;
  }).join('\n');
}

/** JSON that no HTML parser reads as markup: '<' as \u003c (JSON.parse reads it back as '<'). */
function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Renders every chart-KEY spec into its view-KEY div; a chart that fails says so in its place. */
const EMBED = `
for (const data of document.querySelectorAll('script[type="application/json"][id^="chart-"]')) {
  const view = document.getElementById('view-' + data.id.slice('chart-'.length));
  vegaEmbed(view, JSON.parse(data.textContent), {
    mode: 'vega-lite',
    renderer: 'svg',
    actions: { export: true, source: false, compiled: false, editor: false },
  }).catch((err) => { view.textContent = 'chart failed: ' + err.message; });
}`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .5em; }
h2 { font-size: 1.1em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; margin: 0; }
dt { color: #666; }
dd { margin: 0; }
.warnings { background: #fff4d6; border: 1px solid #e0b84a; padding: .5em 1.5em; }
.chart { margin: 1.5em 0; }
.scroll { overflow-x: auto; }
.note { color: #555; margin: .25em 0 .5em; }
table { border-collapse: collapse; font-size: 12px; width: 100%; }
th, td { border: 1px solid #ddd; padding: 2px 4px; }
th { background: #f4f4f4; vertical-align: bottom; font-weight: 600; hyphens: manual; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.kernel { overflow-wrap: anywhere; min-width: 7em; }
@media (max-width: 1200px) { table { font-size: 10.5px; } th, td { padding: 1px 2px; } td.kernel { min-width: 5em; } }
tr.violated td { background: #fde2e2; }
`;
