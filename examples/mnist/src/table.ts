// Merges the JSON files of several `npm start -- --json FILE` runs (for instance the two models
// trained in two processes at once) into one table of final test accuracy, mean ± sd over seeds:
//   node examples/mnist/dist/table.js results/a.json results/b.json [--methods ID,...] [--batch B,...] [--markdown FILE]
import * as fs from 'fs';
import { MethodSpec, methodById } from './methods';
import { accuracyRows, formatTable, markdownTable, summarize } from './report';
import { Point, RunConfig, RunResult } from './train';

interface RunFile {
  /** Files from before --sync have no processes. */
  runs: (Omit<RunConfig, 'method' | 'processes'> & { processes?: number; method: string; diverged: boolean; seconds: number })[];
  points: Point[];
}

function resultsOf(file: string): RunResult[] {
  const content = JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
  return content.runs.map((run) => {
    const same = (p: Point) => p.model === run.model && p.batch === run.batch && p.method === run.method && p.seed === run.seed;
    const points = content.points.filter(same).sort((a, b) => a.step - b.step);
    if (points.length === 0) throw new RangeError(`${file}: no points for ${run.model} ${run.method} batch ${run.batch} seed ${run.seed}`);
    // Only the label of the method is needed to group runs.
    const config = { ...run, processes: run.processes ?? 1, method: { label: run.method } as MethodSpec };
    // The JSON keeps the points, not every step's loss.
    return { config, points, losses: [], seconds: run.seconds, diverged: run.diverged };
  });
}

/** The value after `flag` in argv, removing both; null when absent. */
function takeFlag(argv: string[], flag: string): string | null {
  const at = argv.indexOf(flag);
  if (at < 0) return null;
  if (at + 1 >= argv.length) throw new RangeError(`${flag}: expected a value`);
  return argv.splice(at, 2)[1];
}

function main(): void {
  const argv = process.argv.slice(2);
  const markdown = takeFlag(argv, '--markdown');
  const methodIds = takeFlag(argv, '--methods');
  const batches = takeFlag(argv, '--batch')?.split(',').map(Number) ?? null;
  if (argv.length === 0) throw new RangeError('files: expected one or more JSON files written by npm start -- --json FILE');
  let results = argv.flatMap(resultsOf);
  // Columns: the methods asked for, in that order, or every method in the order the files list them.
  const methods = methodIds ? methodIds.split(',').map((id) => methodById(id).label) : [...new Set(results.map((r) => r.config.method.label))];
  results = results.filter((r) => methods.includes(r.config.method.label) && (!batches || batches.includes(r.config.batch)));
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
