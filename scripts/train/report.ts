// What a training session leaves behind: a table on the console, the chart of test accuracy over
// training (vega-lite, rendered to SVG by vega in Node, no canvas needed) and, on request, every
// measured point as JSON.
import * as fs from 'fs';
import * as path from 'path';
import { Point, RunResult } from './train';

/** vega and vega-lite are ES modules with top-level await: load them with a real import(), which
 * TypeScript's CommonJS output would otherwise turn into require(). */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

export function summaryRows(results: RunResult[]): Record<string, string | number>[] {
  return results.map(({ config, points, seconds, diverged }) => {
    const last = points[points.length - 1];
    const best = Math.max(...points.map((p) => p.testAccuracy));
    return {
      model: config.model,
      method: config.method,
      batch: config.batch,
      steps: last.step,
      'test acc %': diverged ? 'diverged' : (100 * last.testAccuracy).toFixed(2),
      'best acc %': (100 * best).toFixed(2),
      'test loss': last.testLoss.toFixed(4),
      'train loss': last.trainLoss.toFixed(4),
      'wall s': seconds.toFixed(1),
    };
  });
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
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: points.map((p) => ({ ...p, panel: `${p.model}, batch ${p.batch}`, testAccuracy: 100 * p.testAccuracy })) },
    facet: { column: { field: 'panel', type: 'nominal', title: null } },
    spec: {
      width: 320,
      height: 220,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'samples', type: 'quantitative', title: 'training samples seen' },
        y: { field: 'testAccuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
        color: { field: 'method', type: 'nominal', sort: ['BN', 'KN', 'GN', 'GKN'], title: 'method' },
        strokeDash: { field: 'method', type: 'nominal', sort: ['BN', 'KN', 'GN', 'GKN'], title: 'method' },
      },
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
  const runs = results.map(({ config, seconds, diverged }) => ({ ...config, seconds, diverged }));
  fs.writeFileSync(file, JSON.stringify({ ...meta, runs, points: results.flatMap((r) => r.points) }, null, 1));
}
