// What synchronizing KN over processes costs (docs/DISTRIBUTED.md): run under mpirun, e.g.
//   npm run build:ts && mpirun -np 2 --oversubscribe node dist/scripts/bench/sync-overhead.js
// (KN_NUM_THREADS=1 gives each rank one core of a 2-core machine.) Each rank times a KN training
// forward + backward on its share of micro-batch shapes, with `sync: distributed.mpi()` and
// without (the same local shape, nothing exchanged), and the two all-gathers of the same sizes
// alone, in alternating rounds; rank 0 prints the best round's medians (ms) as a table.
import { Tensor, distributed, ops, threadCount } from '../../lib';
import { medianMs } from '../timing';

const SHAPES: readonly (readonly number[])[] = [
  [2, 64, 56, 56],
  [2, 256, 14, 14],
  [2, 2048, 7, 7],
];
// Fixed counts, not a time budget: every rank must make the same collective calls.
const SAMPLING = { minRuns: 30, sampleMs: 0, warmupMs: 0 };
const ROUNDS = 3;

/** The best of ROUNDS medians of each of `fns`, measured in alternation so that machine noise hits them alike. */
function bestOfRounds(fns: readonly (() => unknown)[]): number[] {
  const best = fns.map(() => Infinity);
  for (let round = 0; round < ROUNDS; ++round) fns.forEach((fn, i) => (best[i] = Math.min(best[i], medianMs(fn, SAMPLING))));
  return best;
}

const group = distributed.mpi();
const rows: string[] = [];
for (const shape of SHAPES) {
  const [samples, channels] = shape;
  const local = [samples / group.size, ...shape.slice(1)];
  const size = local.reduce((a, b) => a * b, 1);
  const x = Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.sin(i + group.rank)), local);
  const dy = Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.cos(i)), local);
  const options = { gamma: new Float32Array(channels).fill(1), beta: new Float32Array(channels), prior: { mean: new Float32Array(channels), var: new Float32Array(channels).fill(1) } };
  const step = (sync: typeof group | undefined) => () => ops.kalmanNormBackward(dy, ops.kalmanNorm(x, { ...options, sync }).saved);
  const gather = (values: number) => group.allGather(new Float64Array(values), new Float64Array(values * group.size));
  const [alone, synced, exchanges] = bestOfRounds([
    step(undefined),
    step(group),
    () => {
      gather(3 * channels);
      gather(4 * channels);
    },
  ]);
  rows.push(`| ${local.join('x')} of ${shape.join('x')} | ${alone.toFixed(3)} | ${synced.toFixed(3)} | ${(synced - alone).toFixed(3)} | ${exchanges.toFixed(3)} |`);
}
if (group.rank === 0) {
  console.log(`KN forward + backward per rank, ${group.size} ranks, ${threadCount()} threads each, median of ${SAMPLING.minRuns} (ms)\n`);
  console.log('| shape (per rank of global) | alone | sync | sync - alone | the two all-gathers alone |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}
