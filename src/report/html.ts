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
 *   latency  the initiators' wait in smp_call_function_many: median solid, p99 dashed
 *   ipis     IPIs sent per operation
 *   model    microseconds per operation, measured on this host (solid) and by the cost model (dashed)
 * When the rows come in several workload variants, each chart is faceted into one column per
 * variant, so lines of different variants never join.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { CompareReport, CompareRow } from '../campaign/compare-report.ts';
import { writeFileAtomic } from '../fs-atomic.ts';

export type ChartKey = 'latency' | 'ipis' | 'model';

/** The browser builds (UMD: globals vega, vegaLite, vegaEmbed) in load order; each lies beside its package's entry point. */
const LIBRARIES = [
  { pkg: 'vega', file: 'vega.min.js' },
  { pkg: 'vega-lite', file: 'vega-lite.min.js' },
  { pkg: 'vega-embed', file: 'vega-embed.min.js' },
] as const;

/** The Vega-Lite specs of the report's charts, data inline. */
export function chartSpecs(report: CompareReport): Record<ChartKey, TopLevelSpec> {
  const op = report.operation;
  const point = (r: CompareRow) => ({ kernel: r.kernel, variant: r.variant, cpus: r.cpus });
  // rows without a wait (one CPU: nothing to shoot down) or without operations have no point
  const waited = report.rows.filter((r) => r.waitUs.samples > 0);
  const operated = report.rows.filter((r) => r.operations > 0);
  return {
    latency: lineChart(report, {
      title: 'Shootdown latency',
      subtitle: "the initiator's wait in smp_call_function_many",
      values: waited.flatMap((r) => [
        { ...point(r), stat: 'median', us: r.waitUs.median, samples: r.waitUs.samples },
        { ...point(r), stat: 'p99', us: r.waitUs.p99, samples: r.waitUs.samples },
      ]),
      y: { field: 'us', title: 'wait (µs)' },
      dash: { field: 'stat', domain: ['median', 'p99'] },
      tooltip: ['samples'],
    }),
    ipis: lineChart(report, {
      title: 'IPIs per operation',
      subtitle: `IPIs sent per ${op}`,
      values: operated.map((r) => ({ ...point(r), ipisPerOp: r.ipis / r.operations, ipis: r.ipis, operations: r.operations })),
      y: { field: 'ipisPerOp', title: `IPIs per ${op}` },
      tooltip: ['ipis', 'operations'],
    }),
    model: lineChart(report, {
      title: 'Measured and modelled wait per operation',
      subtitle: "the initiators' wait in smp_call_function_many: measured in the emulator on this host, and the cost model's for the same counts",
      values: operated.flatMap((r) => [
        { ...point(r), time: 'measured', usPerOp: r.measuredUsPerOp },
        { ...point(r), time: 'modelled', usPerOp: r.modelledWaitUsPerOp },
      ]),
      y: { field: 'usPerOp', title: `µs per ${op}` },
      dash: { field: 'time', domain: ['measured', 'modelled'] },
      tooltip: [],
    }),
  };
}

interface LineChart {
  title: string;
  subtitle: string;
  values: Record<string, string | number>[];
  y: { field: string; title: string };
  /** a second series per kernel, told apart by dashes: the first value solid, the second dashed */
  dash?: { field: string; domain: string[] };
  /** fields shown on hover besides kernel, variant, CPUs, y and the dash field */
  tooltip: string[];
}

function lineChart(report: CompareReport, c: LineChart): TopLevelSpec {
  const byVariant = new Set(report.rows.map((r) => r.variant)).size > 1;
  const encoding = {
    // ordinal: every CPU count gets a labelled, evenly spaced tick (1, 2, 4, 8, 16 read as a log axis)
    x: { field: 'cpus', type: 'ordinal', title: 'CPUs', scale: { domain: report.cpus }, axis: { labelAngle: 0 } },
    y: { field: c.y.field, type: 'quantitative', title: c.y.title },
    // a kernel given as a switch list can be long: the legend shows it whole
    color: { field: 'kernel', type: 'nominal', title: 'kernel', scale: { domain: report.kernels }, legend: { labelLimit: 0 } },
  };
  // the dashes go on the lines only, so that their legend draws dashed strokes, not dots
  const lines = {
    mark: { type: 'line' },
    ...(c.dash && {
      encoding: {
        strokeDash: { field: c.dash.field, type: 'nominal', title: c.dash.field, scale: { domain: c.dash.domain } },
      },
    }),
  };
  const points = {
    mark: { type: 'point', filled: true },
    encoding: {
      tooltip: [
        { field: 'kernel', type: 'nominal' },
        ...(byVariant ? [{ field: 'variant', type: 'nominal' }] : []),
        { field: 'cpus', type: 'ordinal', title: 'CPUs' },
        ...(c.dash ? [{ field: c.dash.field, type: 'nominal' }] : []),
        { field: c.y.field, type: 'quantitative', title: c.y.title, format: '.3~g' },
        ...c.tooltip.map((field) => ({ field, type: 'quantitative' })),
      ],
    },
  };
  const unit = { width: byVariant ? 320 : 560, height: 260, encoding, layer: [lines, points] };
  const top = { title: { text: c.title, subtitle: c.subtitle }, data: { values: c.values } };
  const spec = byVariant
    ? { ...top, facet: { column: { field: 'variant', type: 'nominal', title: 'variant', sort: report.variants } }, spec: unit }
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
      `${m.source}: IPI send ${m.ipiSendNs} ns, per target ${m.perTargetNs} ns, INVLPG ${m.invlpgNs} ns, full flush ${m.fullFlushNs} ns`,
    ],
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

/** The table's numeric columns, after kernel and variant. */
function columns(op: string): [string, (r: CompareRow) => number][] {
  return [
    ['CPUs', (r) => r.cpus],
    ['trials', (r) => r.trials],
    ['operations', (r) => r.operations],
    ['IPIs', (r) => r.ipis],
    [`IPIs per ${op}`, (r) => r.ipis / r.operations],
    ['shootdowns', (r) => r.shootdowns],
    ['CPUs per shootdown', (r) => r.cpusPerShootdown],
    ['full flushes', (r) => r.fullFlushes],
    ['ranged flushes', (r) => r.rangedFlushes],
    ['INVLPG', (r) => r.invlpg],
    ['entries invalidated', (r) => r.entriesInvalidated],
    ['refill walks', (r) => r.refillWalks],
    ['sync IPIs', (r) => r.syncIpis],
    ['redundant flushes', (r) => r.redundantFlushes],
    // no waits (one CPU): no median to show, rather than a 0 that reads as a free shootdown
    ['wait median µs', (r) => (r.waitUs.samples ? r.waitUs.median : NaN)],
    ['wait p99 µs', (r) => (r.waitUs.samples ? r.waitUs.p99 : NaN)],
    ['waits', (r) => r.waitUs.samples],
    [`measured µs per ${op}`, (r) => r.measuredUsPerOp],
    [`modelled wait µs per ${op}`, (r) => r.modelledWaitUsPerOp],
    [`modelled CPU time µs per ${op}`, (r) => r.modelledUsPerOp],
    ['violations', (r) => r.violations],
  ];
}

function table(report: CompareReport): string {
  const withVariant = report.rows.some((r) => r.variant !== '');
  const cols = columns(report.operation);
  const head = ['kernel', ...(withVariant ? ['variant'] : []), ...cols.map(([title]) => title)];
  const body = report.rows.map((r) => {
    const switches = Object.entries(r.switches).map(([name, value]) => `${name}=${value}`).join(' ');
    const cells = [
      `<td title="${escapeHtml(switches)}">${escapeHtml(r.kernel)}</td>`,
      ...(withVariant ? [`<td>${escapeHtml(r.variant)}</td>`] : []),
      ...cols.map(([, value]) => `<td class="num">${formatNumber(value(r))}</td>`),
    ];
    return `<tr${r.violations > 0 ? ' class="violated"' : ''}>${cells.join('')}</tr>`;
  });
  return `<section>
<h2>All rows</h2>
<div class="scroll"><table>
<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
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
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; }
th { background: #f4f4f4; vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.violated td { background: #fde2e2; }
`;
