// Merges the JSON files of several `npm start -- --json FILE` runs (for instance the two models
// trained in two processes at once) into one table of final test accuracy, mean ± sd over seeds:
//   node dist/scripts/train/table.js results/a.json results/b.json [--markdown FILE]
import * as fs from 'fs';
import { MethodSpec } from './methods';
import { accuracyRows, formatTable, markdownTable, summarize } from './report';
import { Point, RunConfig, RunResult } from './train';

interface RunFile {
  runs: (Omit<RunConfig, 'method'> & { method: string; diverged: boolean; seconds: number })[];
  points: Point[];
}

function resultsOf(file: string): RunResult[] {
  const content = JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
  return content.runs.map((run) => {
    const same = (p: Point) => p.model === run.model && p.batch === run.batch && p.method === run.method && p.seed === run.seed;
    const points = content.points.filter(same).sort((a, b) => a.step - b.step);
    if (points.length === 0) throw new RangeError(`${file}: no points for ${run.model} ${run.method} batch ${run.batch} seed ${run.seed}`);
    // Only the label of the method is needed to group runs.
    const config = { ...run, method: { label: run.method } as MethodSpec };
    return { config, points, seconds: run.seconds, diverged: run.diverged };
  });
}

function main(): void {
  const argv = process.argv.slice(2);
  const markdownAt = argv.indexOf('--markdown');
  const markdown = markdownAt >= 0 ? argv[markdownAt + 1] : null;
  const files = argv.filter((_, i) => markdownAt < 0 || (i !== markdownAt && i !== markdownAt + 1));
  if (files.length === 0) throw new RangeError('files: expected one or more JSON files written by npm start -- --json FILE');
  const results = files.flatMap(resultsOf);
  const methods = [...new Set(results.map((r) => r.config.method.label))];
  const rows = accuracyRows(summarize(results), methods);
  console.log(formatTable(rows));
  if (markdown) fs.writeFileSync(markdown, markdownTable(rows) + '\n');
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
}
