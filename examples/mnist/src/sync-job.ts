// `mpirun -np P npm start -- --sync`: the MLP trained data-parallel over the P processes of
// MPI_COMM_WORLD, each on its `batch` samples of every global batch of P x batch, with every KN
// layer and input node synchronized (sync: distributed.mpi()) and the gradients averaged before
// each step (train.ts, data-parallel.ts). Then rank 0 alone trains the same runs at the micro-batch
// and at P x it, without sync, and prints the three side by side, and how closely the data-parallel
// run followed the one-process run at P x batch: the same training in exact arithmetic, so their
// losses agree at first and drift apart only through float rounding. The other ranks print nothing
// and exit once the data-parallel runs are done.
import { distributed } from 'kalman-norm';
import { Args, FIRST_SEED, configFor } from './args';
import { loadDigits } from './data';
import { runAll } from './progress';
import { accuracyRows, dataLine, deviceLine, formatTable, summarize, writeMarkdown } from './report';
import { RunResult } from './train';

/** The data-parallel run's loss may stray from the one-process run's by this much over its first CHECKED_STEPS steps, else the job fails. */
const LOSS_TOLERANCE = 1e-3;
const CHECKED_STEPS = 10;
/** The closeness table's columns: the largest difference of the loss over this many first steps (and over all). */
const SHOWN_STEPS = [1, CHECKED_STEPS, 50];

export async function syncJob(args: Args): Promise<void> {
  const group = distributed.mpi();
  if (group.size < 2) throw new Error('--sync: run it under mpirun with 2 or more processes: mpirun -np 2 npm start -- --sync');
  const lead = group.rank === 0;
  const say = (line: string): void => {
    if (lead) console.log(line);
  };
  const processes = group.size;
  const batch = args.batches[0];
  say(deviceLine());
  const data = loadDigits();
  say(dataLine(data));
  const seeds = Array.from({ length: args.seeds }, (_, i) => FIRST_SEED + i);
  say(
    `runs: ${args.models.join(' and ')}, ${processes} processes x micro-batch ${batch} with sync KN, then in one process at batch ${batch} and ${processes * batch}; ` +
      `methods ${args.methods.map((m) => m.label).join(', ')}, seeds ${seeds.join(', ')}\n`,
  );
  const configs = (perProcess: number, count: number) =>
    seeds.flatMap((seed) => args.models.flatMap((model) => args.methods.map((method) => configFor(args, model, method, perProcess, seed, count))));

  const started = Date.now();
  const synced = runAll(configs(batch, processes), data, { group, quiet: !lead });
  if (!lead) return;
  const alone = runAll(configs(batch, 1), data);
  const together = runAll(configs(processes * batch, 1), data);
  const wall = (Date.now() - started) / 1000;

  const methods = args.methods.map((m) => m.label);
  const rows = [
    ...runRows(alone, `batch ${batch} (1 process)`, methods),
    ...runRows(together, `batch ${processes * batch} (1 process)`, methods),
    ...runRows(synced, `${processes} x batch ${batch} (sync, ${processes} processes)`, methods),
  ];
  console.log(`\nfinal test accuracy (%) on the held-out split${args.seeds > 1 ? `, mean ± sd over ${args.seeds} seeds` : ''}:\n`);
  console.log(formatTable(rows));
  console.log(
    `\n${processes} x batch ${batch} (sync) against batch ${processes * batch} in one process, the same training in exact arithmetic: ` +
      `the largest |difference| of the training loss over the first steps, and the difference of the final test accuracy:\n`,
  );
  const closeness = synced.map((run) => compare(run, together));
  console.log(formatTable(closeness.map((c) => c.row)));
  console.log(`\ntotal wall time ${wall.toFixed(1)} s`);
  if (args.markdown) {
    writeMarkdown(rows, args.markdown);
    console.log(`table: ${args.markdown}`);
  }
  const strayed = closeness.filter((c) => !(c.early <= LOSS_TOLERANCE));
  if (strayed.length > 0)
    throw new Error(
      `--sync: the data-parallel loss strayed from one process's by more than ${LOSS_TOLERANCE} within ${CHECKED_STEPS} steps ` +
        `(${strayed.map((c) => `${c.row.method} seed ${c.row.seed}`).join(', ')}): the processes did not train as one`,
    );
}

/** The accuracy table's rows for one kind of run, its `run` column saying which. */
function runRows(results: RunResult[], run: string, methods: string[]): Record<string, string | number>[] {
  return accuracyRows(summarize(results), methods).map(({ model, seeds, ...cells }) => {
    delete cells.batch;
    return { model, run, seeds, ...cells };
  });
}

/** Largest |a - b| over the first `steps` entries both have (NaN where either stopped at step 0). */
function largestDifference(a: number[], b: number[], steps: number): number {
  const count = Math.min(steps, a.length, b.length);
  let largest = count > 0 ? 0 : NaN;
  for (let i = 0; i < count; ++i) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

/** How closely a data-parallel run followed the one-process run of the same model, method and seed. */
function compare(synced: RunResult, together: RunResult[]): { row: Record<string, string | number>; early: number } {
  const { model, method, seed, steps } = synced.config;
  const reference = together.find((r) => r.config.model === model && r.config.method.label === method.label && r.config.seed === seed)!;
  const accuracy = (r: RunResult) => (r.diverged ? NaN : 100 * r.points[r.points.length - 1].testAccuracy);
  const early = largestDifference(synced.losses, reference.losses, CHECKED_STEPS);
  const row: Record<string, string | number> = { model, method: method.label, seed };
  for (const shown of SHOWN_STEPS.filter((s) => s < steps)) {
    row[shown === 1 ? 'step 1' : `steps 1-${shown}`] = largestDifference(synced.losses, reference.losses, shown).toExponential(1);
  }
  row[`all ${steps} steps`] = largestDifference(synced.losses, reference.losses, steps).toExponential(1);
  row['test accuracy (points)'] = (accuracy(synced) - accuracy(reference)).toFixed(2);
  return { row, early };
}
