/**
 * KN over several processes (KN-SPEC 3d) against one process holding the whole batch: the data of
 * a case, the whole run, the runs of the ranks, and the checks between them. Used in-process, every
 * rank in turn through the split API (test/sync.test.ts, test/gpu/sync.test.ts), and under
 * mpirun, one rank per process through `sync` (test/distributed/mpi-sync-kn.ts).
 */
import { AssertionError } from 'chai';
import { Communicator, Device, KalmanNormOptions, NormGradients, NormResult, Tensor, ops } from '../../lib';
import { assertClose } from './assert-close';
import { makeRandom } from './random';

export interface SyncCase {
  name: string;
  /** The global batch, split evenly over the ranks. */
  samples: number;
  channels: number;
  height: number;
  width: number;
  layout: 'NCHW' | 'NHWC';
  /** A per-channel prior and gain (KN); without, the op is BN. */
  prior: boolean;
  /** The prior's variance times 1000: the guard fires, on every rank alike. */
  wildPrior?: boolean;
  relu?: boolean;
  /** Added to every element of x: shifted data, where a naive sum of squares fails. */
  offset?: number;
}

export const SYNC_CASES: readonly SyncCase[] = [
  { name: 'without a prior (sync BN), NCHW', samples: 4, channels: 3, height: 3, width: 2, layout: 'NCHW', prior: false },
  { name: 'with a prior and a gain per channel, relu, NHWC', samples: 4, channels: 5, height: 2, width: 3, layout: 'NHWC', prior: true, relu: true },
  { name: 'with a prior, 1e4 + N(0, 1) data, NCHW', samples: 4, channels: 4, height: 2, width: 2, layout: 'NCHW', prior: true, offset: 1e4 },
  { name: 'with a prior 1000x too wide: the guard fires', samples: 4, channels: 16, height: 1, width: 1, layout: 'NCHW', prior: true, wildPrior: true },
];

/** The inputs of one case, the same on every rank (one seed). */
export interface CaseData {
  x: Float32Array;
  dy: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  gain: Float32Array;
  prior: { mean: Float32Array; var: Float32Array } | null;
  dMean: Float32Array;
  dVar: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

export function caseData(c: SyncCase, seed = 1515): CaseData {
  const random = makeRandom(seed);
  const values = (length: number, scale = 1, offset = 0) => Float32Array.from({ length }, () => offset + scale * random.normal());
  const elements = c.samples * c.channels * c.height * c.width;
  return {
    x: values(elements, 1, c.offset ?? 0),
    dy: values(elements),
    gamma: values(c.channels, 0.2, 1),
    beta: values(c.channels, 0.5),
    gain: Float32Array.from({ length: c.channels }, (_, channel) => 0.1 + (0.8 * channel) / c.channels),
    prior: c.prior
      ? { mean: values(c.channels, 0.5, c.offset ?? 0), var: Float32Array.from({ length: c.channels }, () => (c.wildPrior ? 1000 : 1) * (0.5 + random.uniform())) }
      : null,
    dMean: values(c.channels, 0.3),
    dVar: values(c.channels, 0.3),
    runningMean: values(c.channels, 0.1),
    runningVar: Float32Array.from({ length: c.channels }, () => 1 + random.uniform()),
  };
}

/** What one run leaves, on the host. Gradients that add up over the ranks are this rank's part. */
export interface RunOutputs {
  y: Float32Array;
  mean: Float32Array;
  var: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  guardFired: boolean;
  dx: Float32Array;
  dGamma: Float32Array;
  dBeta: Float32Array;
  dPriorMean: Float32Array;
  dPriorVar: Float32Array;
  dGain: Float32Array;
}

/** The gradients that add up over the ranks (each rank's is its part of the whole). */
export const SUMMED_GRADIENTS = ['dGamma', 'dBeta', 'dPriorMean', 'dPriorVar', 'dGain'] as const;

/** The fraction of dMean and dVar that rank `rank` of `size` is given: unequal shares that add up to one. */
export function shareOf(rank: number, size: number): number {
  return (rank + 1) / ((size * (size + 1)) / 2);
}

/** Rank `rank`'s samples of a per-element array (both layouts keep a sample's elements together). */
export function rankSlice(values: Float32Array, rank: number, size: number): Float32Array {
  const perRank = values.length / size;
  return values.slice(rank * perRank, (rank + 1) * perRank);
}

/** One rank's tensors and options (rank 0 of 1: the whole batch). */
class RankCall {
  readonly x: Tensor;
  readonly dy: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly options: KalmanNormOptions;
  readonly dMean: Float32Array;
  readonly dVar: Float32Array;

  constructor(c: SyncCase, data: CaseData, device: Device, rank: number, size: number) {
    const shape = [c.samples / size, c.channels, c.height, c.width];
    const tensor = (values: Float32Array, dims: readonly number[], layout: SyncCase['layout'] = 'NCHW') =>
      Tensor.fromArray(values.slice(), dims, { device, layout });
    this.x = tensor(rankSlice(data.x, rank, size), shape, c.layout);
    this.dy = tensor(rankSlice(data.dy, rank, size), shape, c.layout);
    this.runningMean = tensor(data.runningMean, [c.channels]);
    this.runningVar = tensor(data.runningVar, [c.channels]);
    const prior = data.prior && { mean: tensor(data.prior.mean, [c.channels]), var: tensor(data.prior.var, [c.channels]) };
    this.options = {
      gamma: tensor(data.gamma, [c.channels]),
      beta: tensor(data.beta, [c.channels]),
      activation: c.relu ? 'relu' : 'identity',
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      ...(prior ? { prior, gain: tensor(data.gain, [c.channels]) } : {}),
    };
    const share = size === 1 ? 1 : shareOf(rank, size);
    this.dMean = data.dMean.map((value) => value * share);
    this.dVar = data.dVar.map((value) => value * share);
  }

  outputs(forward: NormResult, gradients: NormGradients): RunOutputs {
    const read = (tensor: unknown) => (tensor instanceof Tensor ? tensor.readSync() : new Float32Array(0));
    return {
      y: read(forward.y),
      mean: read(forward.mean),
      var: read(forward.var),
      runningMean: this.runningMean.readSync(),
      runningVar: this.runningVar.readSync(),
      guardFired: forward.guardFired,
      dx: read(gradients.dx),
      dGamma: read(gradients.dGamma),
      dBeta: read(gradients.dBeta),
      dPriorMean: read(gradients.dPriorMean),
      dPriorVar: read(gradients.dPriorVar),
      dGain: read(gradients.dGain),
    };
  }
}

/** One process holding the whole batch. */
export function wholeRun(c: SyncCase, data: CaseData, device: Device): RunOutputs {
  const call = new RankCall(c, data, device, 0, 1);
  const forward = ops.kalmanNorm(call.x, call.options);
  return call.outputs(forward, ops.kalmanNormBackward(call.dy, forward.saved, { dMean: call.dMean, dVar: call.dVar }));
}

/** Rank `rank` of the group `sync`, through the `sync` option (every rank runs this at once). */
export function syncRun(c: SyncCase, data: CaseData, device: Device, sync: Communicator): RunOutputs {
  const call = new RankCall(c, data, device, sync.rank, sync.size);
  const forward = ops.kalmanNorm(call.x, { ...call.options, sync });
  return call.outputs(forward, ops.kalmanNormBackward(call.dy, forward.saved, { dMean: call.dMean, dVar: call.dVar }));
}

/** Every process's rows in rank order, as an all-gather leaves them. */
function concatenated(rows: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(rows.reduce((total, row) => total + row.length, 0));
  rows.forEach((row, rank) => all.set(row, rank * row.length));
  return all;
}

/** `size` ranks in one process, in turn, through the split API. */
export function splitRuns(c: SyncCase, data: CaseData, device: Device, size: number): RunOutputs[] {
  const calls = Array.from({ length: size }, (_, rank) => new RankCall(c, data, device, rank, size));
  const statistics = calls.map((call) => ops.kalmanNormStatistics(call.x, call.options));
  const moments = concatenated(statistics.map((part) => part.moments));
  const forwards = statistics.map((part) => ops.kalmanNormApply(part, moments));
  const sums = calls.map((call, rank) => ops.kalmanNormBackwardStatistics(call.dy, forwards[rank].saved, { dMean: call.dMean, dVar: call.dVar }));
  const gathered = concatenated(sums.map((part) => part.sums));
  return calls.map((call, rank) => call.outputs(forwards[rank], ops.kalmanNormBackwardApply(sums[rank], gathered)));
}

/** Rank `rank`'s run against the whole: its slice of y and dx, and the whole's statistics, running estimates and guard. */
export function checkRank(c: SyncCase, rank: number, size: number, run: RunOutputs, whole: RunOutputs, rtol: number): void {
  const label = `${c.name}, rank ${rank} of ${size}`;
  assertClose(run.y, rankSlice(whole.y, rank, size), rtol, `${label}: y`);
  assertClose(run.dx, rankSlice(whole.dx, rank, size), rtol, `${label}: dx`);
  for (const name of ['mean', 'var', 'runningMean', 'runningVar'] as const) assertClose(run[name], whole[name], rtol, `${label}: ${name}`);
  if (run.guardFired !== whole.guardFired) throw new AssertionError(`${label}: guardFired ${run.guardFired}, whole ${whole.guardFired}`);
}

/** The ranks' summed gradients against the whole's (`summed[name]`: the sum over ranks, in float64). */
export function checkSummedGradients(c: SyncCase, summed: Record<(typeof SUMMED_GRADIENTS)[number], Float64Array>, whole: RunOutputs, rtol: number): void {
  for (const name of SUMMED_GRADIENTS) assertClose(summed[name], whole[name], rtol, `${c.name}: ${name} summed over the ranks`);
}

/** The sum over the ranks of each gradient that adds up, from every rank's outputs (in-process). */
export function summedGradients(runs: readonly RunOutputs[]): Record<(typeof SUMMED_GRADIENTS)[number], Float64Array> {
  const sum = (name: (typeof SUMMED_GRADIENTS)[number]) => {
    const total = new Float64Array(runs[0][name].length);
    for (const run of runs) run[name].forEach((value, index) => (total[index] += value));
    return total;
  };
  return { dGamma: sum('dGamma'), dBeta: sum('dBeta'), dPriorMean: sum('dPriorMean'), dPriorVar: sum('dPriorVar'), dGain: sum('dGain') };
}
