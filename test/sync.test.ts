/**
 * KN synchronized over processes (issue 15, KN-SPEC 3d) on the CPU, in one process: the split API
 * (kalmanNormStatistics / kalmanNormApply and the backward's pair) run for every rank in turn
 * equals one process holding the whole batch, and every rank gets the same bits; a call split into
 * one part is the whole call, bit for bit; `sync` with a communicator whose exchange plays the
 * other rank; and every bad argument. test/distributed/mpi-sync-kn.ts runs the same cases under
 * mpirun, one rank per process.
 */
import { expect } from 'chai';
import { Communicator, InputStatistics, KalmanNorm, KalmanNormStatistics, Tensor, distributed, ops } from '../lib';
import { gradientArrays } from './util/gradient-arrays';
import { RunOutputs, SYNC_CASES, SyncCase, caseData, checkRank, checkSummedGradients, shareOf, splitRuns, summedGradients, wholeRun } from './util/sync-cases';
import { makeRandom } from './util/random';

// Float32 rounding: each rank merges its own cells first, so sums are added in another order.
const RTOL = 2e-5;

// Equal bytes (chai's deep equality walks a large array element by element, for seconds).
function expectSameBits(actual: Float32Array | boolean, expected: Float32Array | boolean, label: string): void {
  if (typeof actual === 'boolean' || typeof expected === 'boolean') {
    expect(actual, label).to.equal(expected);
    return;
  }
  const bytes = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const differs = bytes(actual).compare(bytes(expected)) !== 0;
  const first = differs ? actual.findIndex((value, i) => !Object.is(value, expected[i])) : -1;
  expect(differs ? `first difference at ${first}: ${actual[first]} against ${expected[first]}` : 'same bits', label).to.equal('same bits');
}

describe('sync KN on the CPU (issue 15)', () => {
  for (const c of SYNC_CASES) {
    for (const size of [2, 4]) {
      it(`${c.name}: ${size} ranks of ${c.samples / size} equal one process of ${c.samples}, with identical bits on every rank`, () => {
        const data = caseData(c);
        const whole = wholeRun(c, data, 'cpu');
        const runs = splitRuns(c, data, 'cpu', size);
        runs.forEach((run, rank) => checkRank(c, rank, size, run, whole, RTOL));
        checkSummedGradients(c, summedGradients(runs), whole, RTOL);
        for (const run of runs.slice(1)) {
          for (const name of ['mean', 'var', 'runningMean', 'runningVar'] as const) expect(run[name]).to.deep.equal(runs[0][name]);
        }
        if (c.wildPrior) expect(whole.guardFired).to.equal(true);
      });
    }
  }

  it('a call split into one part is the whole call, bit for bit (forward, running estimates, every gradient)', () => {
    for (const c of SYNC_CASES) {
      const data = caseData(c);
      const [split] = splitRuns(c, data, 'cpu', 1);
      expect(split).to.deep.equal(wholeRun(c, data, 'cpu'), c.name);
    }
  });

  // Past the cache, the CPU's whole call takes the one-pass units (csrc/cpu/unit_passes.h) while the
  // split API takes the separate passes: the same bits.
  it('a call past the CPU cache split into one part is the whole call, bit for bit (one-pass units against separate passes)', function () {
    this.timeout(30000);
    // 25 MB of x: the backward's x, dy and dx pass 64 MiB, from where KN's units (strided runs) take the one pass.
    const c: SyncCase = { name: 'prior, relu', samples: 6, channels: 64, height: 128, width: 128, layout: 'NCHW', prior: true, relu: true };
    const data = caseData(c);
    const [split] = splitRuns(c, data, 'cpu', 1);
    const whole = wholeRun(c, data, 'cpu');
    for (const name of Object.keys(whole) as (keyof RunOutputs)[]) expectSameBits(split[name], whole[name], name);
  });

  it('moments are (count, mean, M2) per channel, in float64', () => {
    const random = makeRandom(7);
    const values = Float32Array.from({ length: 2 * 3 * 4 }, () => random.normal());
    const statistics = ops.kalmanNormStatistics(Tensor.fromArray(values, [2, 3, 2, 2]));
    expect(statistics).to.be.instanceOf(KalmanNormStatistics);
    expect(statistics.moments).to.be.instanceOf(Float64Array).with.length(9);
    for (let channel = 0; channel < 3; channel++) {
      const own = [0, 1].flatMap((n) => Array.from(values.slice((n * 3 + channel) * 4, (n * 3 + channel + 1) * 4)));
      const mean = own.reduce((a, b) => a + b, 0) / own.length;
      const m2 = own.reduce((a, b) => a + (b - mean) ** 2, 0);
      expect(statistics.moments[channel * 3]).to.equal(8);
      expect(statistics.moments[channel * 3 + 1]).to.be.closeTo(mean, 1e-7);
      expect(statistics.moments[channel * 3 + 2]).to.be.closeTo(m2, 1e-6);
    }
  });

  it('`sync` with a communicator: rank 0 through kalmanNorm / kalmanNormBackward, rank 1 through the split API', () => {
    const c = SYNC_CASES[1];
    const data = caseData(c);
    const [rank0, rank1] = splitRuns(c, data, 'cpu', 2);
    // The same two ranks again, rank 0 now through `sync`: its exchange returns rank 1's rows, which
    // rank 1 computed through the split API.
    const half = (values: Float32Array, rank: number) => values.slice((rank * values.length) / 2, ((rank + 1) * values.length) / 2);
    const shape = [c.samples / 2, c.channels, c.height, c.width];
    const tensors = (rank: number) => ({
      x: Tensor.fromArray(half(data.x, rank), shape, { layout: c.layout }),
      dy: Tensor.fromArray(half(data.dy, rank), shape, { layout: c.layout }),
      options: {
        gamma: data.gamma, beta: data.beta, gain: data.gain, prior: data.prior!, activation: 'relu' as const,
        runningMean: data.runningMean.slice(), runningVar: data.runningVar.slice(),
      },
    });
    const [zero, one] = [tensors(0), tensors(1)];
    const other = ops.kalmanNormStatistics(one.x, one.options);
    const exchanges: number[] = [];
    let otherBackward: ReturnType<typeof ops.kalmanNormBackwardStatistics> | null = null;
    let otherForward: ReturnType<typeof ops.kalmanNormApply> | null = null;
    const sync: Communicator = {
      rank: 0,
      size: 2,
      allGather(send, receive) {
        exchanges.push(send.length);
        const theirs = otherBackward ? otherBackward.sums : other.moments;
        receive.set(send, 0);
        receive.set(theirs, send.length);
        if (!otherBackward) otherForward = ops.kalmanNormApply(other, receive.slice());
      },
      allReduce() {
        throw new Error('sync KN all-gathers; it never all-reduces');
      },
    };
    const forward = ops.kalmanNorm(zero.x, { ...zero.options, sync });
    expect(Array.from(forward.y.toArray())).to.deep.equal(Array.from(rank0.y));
    expect(Array.from(otherForward!.y.toArray())).to.deep.equal(Array.from(rank1.y));
    const shared = (values: Float32Array, rank: number) => values.map((value) => value * shareOf(rank, 2));
    otherBackward = ops.kalmanNormBackwardStatistics(one.dy, otherForward!.saved, { dMean: shared(data.dMean, 1), dVar: shared(data.dVar, 1) });
    const gradients = ops.kalmanNormBackward(zero.dy, forward.saved, { dMean: shared(data.dMean, 0), dVar: shared(data.dVar, 0) });
    expect(gradientArrays(gradients).dx).to.deep.equal(Array.from(rank0.dx));
    expect(exchanges).to.deep.equal([3 * c.channels, 4 * c.channels]);
  });

  it('bad arguments name themselves, before anything runs', () => {
    const x = Tensor.fromArray(new Float32Array(4 * 2), [4, 2]);
    const sync = distributed.singleProcess();
    expect(() => ops.kalmanNorm(x, { sync: {} as Communicator })).to.throw(TypeError, /^sync/);
    expect(() => ops.kalmanNorm(x, { sync, virtualBatch: 2 })).to.throw(RangeError, /^virtualBatch: .*expected N = 4, got 2/);
    expect(() => ops.kalmanNormStatistics(x, { training: false, runningMean: new Float32Array(2), runningVar: new Float32Array(2) })).to.throw(RangeError, /^training/);
    expect(() => ops.kalmanNormStatistics(x, { sync } as never)).to.throw(RangeError, /^sync/);
    const statistics = ops.kalmanNormStatistics(x);
    expect(() => ops.kalmanNormApply(statistics, new Float32Array(6) as never)).to.throw(TypeError, /^gathered/);
    expect(() => ops.kalmanNormApply(statistics, new Float64Array(7))).to.throw(RangeError, /^gathered: .*multiple of 6/);
    expect(() => ops.kalmanNormApply(statistics, new Float64Array(12))).to.throw(RangeError, /^gathered: process 0's count/);
    expect(() => ops.kalmanNormApply({} as KalmanNormStatistics, statistics.moments)).to.throw(TypeError, /^statistics/);
    const result = ops.kalmanNormApply(statistics, statistics.moments);
    expect(() => ops.kalmanNormApply(statistics, statistics.moments)).to.throw(/^statistics: already applied/);
    const dy = Tensor.fromArray(new Float32Array(8), [4, 2]);
    expect(() => ops.kalmanNormBackward(dy, result.saved)).to.throw(/^saved: .*kalmanNormBackwardStatistics/);
    expect(() => ops.kalmanNormBackwardStatistics(dy, ops.kalmanNorm(x).saved)).to.throw(RangeError, /^saved: .*not merged/);
    const sums = ops.kalmanNormBackwardStatistics(dy, result.saved);
    expect(() => ops.kalmanNormBackwardApply(sums, new Float64Array(16))).to.throw(RangeError, /^gathered: the forward merged 1 processes' statistics, these sums come from 2/);
  });

  it('inference with `sync` reads the running estimates and exchanges nothing', () => {
    const x = Tensor.fromArray(Float32Array.from({ length: 8 }, (_, i) => i), [4, 2]);
    const silent: Communicator = {
      rank: 0, size: 2,
      allGather() { throw new Error('inference must not exchange'); },
      allReduce() { throw new Error('inference must not exchange'); },
    };
    const options = { training: false, runningMean: new Float32Array([1, 2]), runningVar: new Float32Array([4, 9]) };
    expect(Array.from(ops.kalmanNorm(x, { ...options, sync: silent }).y.toArray())).to.deep.equal(Array.from(ops.kalmanNorm(x, options).y.toArray()));
  });

  it("an input node with `sync` observes every process's batch: its estimates equal one process's that holds them all", () => {
    const random = makeRandom(33);
    const values = (length: number) => Float32Array.from({ length }, () => 3 + random.normal());
    const [mine, theirs] = [values(2 * 6), values(2 * 6)];
    const exchanges: number[] = [];
    const sync: Communicator = {
      rank: 0,
      size: 2,
      allGather(send, receive) {
        exchanges.push(send.length);
        receive.set(send, 0);
        receive.set(send.length === 1 ? [2] : Float64Array.from(theirs), send.length);
      },
      allReduce() {
        throw new Error('the input node all-gathers');
      },
    };
    for (const covariance of ['diagonal', 'full'] as const) {
      const synced = new InputStatistics([6], { covariance, sync });
      const whole = new InputStatistics([6], { covariance });
      for (let step = 0; step < 2; step++) {
        synced.observe(Tensor.fromArray(mine, [2, 6]));
        whole.observe(Tensor.fromArray(Float32Array.from([...mine, ...theirs]), [4, 6]));
      }
      expect(Array.from(synced.mean.toArray())).to.deep.equal(Array.from(whole.mean.toArray()));
      expect(Array.from(synced.var.toArray())).to.deep.equal(Array.from(whole.var.toArray()));
    }
    expect(exchanges).to.deep.equal([1, 12, 1, 12, 1, 12, 1, 12]);
    const uneven: Communicator = { ...sync, allGather: (send, receive) => receive.set([send[0], 3]) };
    expect(() => new InputStatistics([6], { sync: uneven }).observe(Tensor.fromArray(mine, [2, 6]))).to.throw(RangeError, /^x: with sync every process observes a batch of the same size, got 2, 3/);
    expect(() => new InputStatistics([6], { sync: 5 as never })).to.throw(TypeError, /^sync/);
  });

  it('the KalmanNorm layer: sync over a group of one is the layer without sync, bit for bit; bad sync options name themselves', () => {
    const random = makeRandom(21);
    const x = Tensor.fromArray(Float32Array.from({ length: 2 * 4 * 3 }, () => random.normal()), [2, 4, 3]);
    const dy = Tensor.fromArray(Float32Array.from({ length: 2 * 4 * 3 }, () => random.normal()), [2, 4, 3]);
    const run = (layer: KalmanNorm) => {
      const y = Array.from(layer.forward(x).y.toArray());
      return { y, dx: Array.from(layer.backward(dy).dx.toArray()), running: Array.from(layer.runningVar.toArray()) };
    };
    expect(run(new KalmanNorm(4, { sync: distributed.singleProcess() }))).to.deep.equal(run(new KalmanNorm(4)));
    expect(() => new KalmanNorm(4, { sync: { rank: 2, size: 2 } as never })).to.throw(TypeError, /^sync/);
    expect(() => new KalmanNorm(4, { sync: distributed.singleProcess(), virtualBatch: 2 })).to.throw(RangeError, /^virtualBatch: not with sync/);
  });
});
