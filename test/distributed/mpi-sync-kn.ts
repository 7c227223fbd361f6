// Run under mpirun by scripts/mpi-test.sh (issue 15, KN-SPEC 3d): each rank holds its share of the
// global batch of every case in test/util/sync-cases.ts and runs KN with `sync: mpi()`, forward and
// backward; then it checks, against one process holding the whole batch (computed here too): its
// slice of y and dx, the statistics and running estimates (with the same bits on every rank, by
// an all-gather), and the gradients that add up over the ranks (by an all-reduce). On the CPU, and
// on CUDA where the addon has it (the emulated build). Every collective runs before any check, so
// a failing rank cannot leave another waiting. Exits 0, or prints each failure and exits 1.
import { Device, cudaInfo } from '../../lib';
import { mpi } from '../../lib/distributed';
import { RunOutputs, SUMMED_GRADIENTS, SYNC_CASES, caseData, checkRank, checkSummedGradients, syncRun, wholeRun } from '../util/sync-cases';

const RTOL = 2e-5;
const group = mpi();
const devices: Device[] = cudaInfo().available ? ['cpu', 'cuda'] : ['cpu'];
const failures: string[] = [];
const SAME_ON_EVERY_RANK = ['mean', 'var', 'runningMean', 'runningVar'] as const;

/** Every rank's values of `name`, in rank order. */
function gathered(run: RunOutputs, name: (typeof SAME_ON_EVERY_RANK)[number]): Float64Array {
  const mine = Float64Array.from(run[name]);
  const all = new Float64Array(mine.length * group.size);
  group.allGather(mine, all);
  return all;
}

let cases = 0;
for (const device of devices) {
  for (const c of SYNC_CASES) {
    if (c.samples % group.size !== 0) continue;
    const data = caseData(c);
    const whole = wholeRun(c, data, device);
    const run = syncRun(c, data, device, group);
    const everyRank = SAME_ON_EVERY_RANK.map((name) => gathered(run, name));
    const summed = Object.fromEntries(
      SUMMED_GRADIENTS.map((name) => {
        const sum = Float64Array.from(run[name]);
        group.allReduce(sum, 'sum');
        return [name, sum];
      }),
    ) as Parameters<typeof checkSummedGradients>[1];
    cases++;
    try {
      checkRank(c, group.rank, group.size, run, whole, RTOL);
      checkSummedGradients(c, summed, whole, RTOL);
      SAME_ON_EVERY_RANK.forEach((name, index) => {
        const values = everyRank[index];
        const length = values.length / group.size;
        for (let i = 0; i < values.length; i++)
          if (!Object.is(values[i], values[i % length])) throw new Error(`${name}: rank ${Math.floor(i / length)} differs from rank 0 at ${i % length}`);
      });
    } catch (error) {
      failures.push(`${device}, ${c.name}: ${(error as Error).message}`);
    }
  }
}

if (cases === 0) failures.push(`no case splits over ${group.size} ranks`);
for (const failure of failures) console.error(`rank ${group.rank} of ${group.size}: ${failure}`);
console.log(`rank ${group.rank} of ${group.size}: ${cases} cases on ${devices.join(' and ')}, ${failures.length} failed`);
process.exitCode = failures.length === 0 ? 0 : 1;
