// Run under mpirun by scripts/mpi-test.sh: every rank gathers and reduces values that depend on its
// rank through mpi(), and checks what comes back against the values computed here for every rank.
// Exits 0, or prints each mismatch with its rank and exits 1 (then mpirun ends the job).
import { mpi } from '../../lib/distributed';

const group = mpi();
const { rank, size } = group;
const failures: string[] = [];

function check(what: string, ok: boolean): void {
  if (!ok) failures.push(what);
}

/** Records the first index where `actual` differs from `expected`. */
function checkValues(what: string, actual: ArrayLike<number>, expected: number[]): void {
  if (actual.length !== expected.length) return check(`${what}: expected ${expected.length} values, got ${actual.length}`, false);
  const index = expected.findIndex((value, i) => actual[i] !== value);
  if (index >= 0) check(`${what}: index ${index}: expected ${expected[index]}, got ${actual[index]}`, false);
}

// The launcher's own numbers (Open MPI: OMPI_COMM_WORLD_*; MPICH and Slurm: PMI_*): a rank that
// started MPI as a group of one of its own is caught here.
const launchedSize = process.env.OMPI_COMM_WORLD_SIZE ?? process.env.PMI_SIZE;
const launchedRank = process.env.OMPI_COMM_WORLD_RANK ?? process.env.PMI_RANK;
check(`mpirun started ${launchedSize} processes, the group has ${size}`, launchedSize === undefined || Number(launchedSize) === size);
check(`mpirun numbered this process ${launchedRank}, the group ${rank}`, launchedRank === undefined || Number(launchedRank) === rank);
check(`rank ${rank} of size ${size}: expected integers 0 <= rank < size`, Number.isInteger(rank) && rank >= 0 && rank < size);
check('mpi() returns the same object on every call', mpi() === group);
check('cudaAware is a boolean', typeof group.cudaAware === 'boolean');
check('the communicator is frozen', Object.isFrozen(group));

const ranks = Array.from({ length: size }, (_, r) => r);

// allGather: three values per rank, in rank order.
const gathered = (r: number) => [10 * r + 0.5, -r, 2 ** -r];
const receive = new Float64Array(3 * size).fill(NaN);
group.allGather(Float64Array.from(gathered(rank)), receive);
checkValues('allGather', receive, ranks.flatMap(gathered));
group.allGather(new Float64Array(0), new Float64Array(0));

// allReduce in both types, short and long (a long buffer may travel in pieces); every value below
// is exact in float32, so sums in any order agree.
const length = 10000;
const contribution = (r: number, i: number) => (i % 7) - 3 + r * (i % 2 === 0 ? 1 : -0.5);
for (const Type of [Float64Array, Float32Array]) {
  const sum = Type.from([rank + 1, -2 * rank, 0.25]);
  group.allReduce(sum, 'sum');
  checkValues(`${Type.name} allReduce sum`, sum, [(size * (size + 1)) / 2, -size * (size - 1), 0.25 * size]);

  const max = Type.from([rank, -rank, rank === size - 1 ? 5 : -5]);
  group.allReduce(max, 'max');
  checkValues(`${Type.name} allReduce max`, max, [size - 1, 0, 5]);

  const long = new Type(length);
  for (let i = 0; i < length; ++i) long[i] = contribution(rank, i);
  group.allReduce(long, 'sum');
  checkValues(`${Type.name} allReduce sum of ${length}`, long, Array.from({ length }, (_, i) => ranks.reduce((total, r) => total + contribution(r, i), 0)));
}

for (const failure of failures) console.error(`mpi-communicator: rank ${rank} of ${size}: ${failure}`);
if (failures.length === 0) console.log(`mpi-communicator: rank ${rank} of ${size}: ok`);
process.exitCode = failures.length === 0 ? 0 : 1;
