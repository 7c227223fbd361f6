/**
 * KN-SPEC 1.4 and 1.8 at micro-batch: the guard's statistic, and running estimates that a
 * non-finite batch cannot poison.
 *
 * The guard's requirement is statistical: with a correct prior (u = the population variance) and
 * 2 samples per unit, C >= 16, the default statistic fires on fewer than 1% of calls, and with a
 * prior 1000 times too large on every call. Every decision is also checked against the float64
 * reference, and the official mean statistic is shown to fire on a large share of the same calls.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../lib';
import type { GuardStatistic } from '../lib';
import { guardRatio, referenceForward, ReferenceInput } from './reference/kalman-norm-reference';
import { assertClose } from './util/assert-close';
import { makeRandom } from './util/random';

const TAU = 100;
const EPS = 1e-5;

/** One population per channel: x_c ~ N(mean_c, var_c). */
function population(channels: number, seed: number) {
  const random = makeRandom(seed);
  const mean = Float32Array.from({ length: channels }, () => 2 * random.normal());
  const variance = Float32Array.from({ length: channels }, () => 0.5 + 2.5 * random.uniform());
  return { mean, var: variance, random };
}

/** A [2, C] batch: two samples per (ghost batch, channel) unit. */
function microBatch(pop: ReturnType<typeof population>): Float32Array {
  const channels = pop.mean.length;
  return Float32Array.from({ length: 2 * channels }, (_, i) => pop.mean[i % channels] + Math.sqrt(pop.var[i % channels]) * pop.random.normal());
}

interface FiringCount {
  calls: number;
  fired: number;
  /** Calls whose decision differed from the float64 reference's r >= tau (away from the threshold). */
  disagreements: number;
}

function countFirings(channels: number, statistic: GuardStatistic, priorScale: number, calls: number, seed: number): FiringCount {
  const pop = population(channels, seed);
  const prior = { mean: pop.mean, var: pop.var.map((v) => v * priorScale) };
  const count: FiringCount = { calls, fired: 0, disagreements: 0 };
  for (let call = 0; call < calls; ++call) {
    const x = microBatch(pop);
    const result = ops.kalmanNorm(Tensor.fromArray(x, [2, channels]), { prior, guard: TAU, guardStatistic: statistic, eps: EPS });
    if (result.guardFired) count.fired += 1;
    const observedVar = Float64Array.from({ length: channels }, (_, c) => ((x[c] - x[channels + c]) / 2) ** 2);
    const r = guardRatio(Float64Array.from(prior.var), observedVar, { eps: EPS, guardStatistic: statistic });
    const nearThreshold = Math.abs(Math.log(r / TAU)) < 1e-4;
    if (!nearThreshold && result.guardFired !== r >= TAU) count.disagreements += 1;
  }
  return count;
}

describe('guard at micro-batch (KN-SPEC 1.4)', function () {
  for (const channels of [16, 64]) {
    it(`geometric, correct prior, 2 samples per unit, C = ${channels}: fires on fewer than 1% of 2000 calls`, function () {
      const count = countFirings(channels, 'geometric', 1, 2000, channels);
      expect(count.disagreements, 'decisions unlike the reference').to.equal(0);
      expect(count.fired / count.calls).to.be.below(0.01);
    });

    it(`geometric, prior 1000x too large, C = ${channels}: fires on every one of 500 calls`, function () {
      const count = countFirings(channels, 'geometric', 1000, 500, channels + 1);
      expect(count.disagreements, 'decisions unlike the reference').to.equal(0);
      expect(count.fired).to.equal(count.calls);
    });

    it(`mean (official), correct prior, C = ${channels}: fires on a large share of calls (why it is not the default)`, function () {
      const count = countFirings(channels, 'mean', 1, 2000, channels + 2);
      expect(count.disagreements, 'decisions unlike the reference').to.equal(0);
      expect(count.fired / count.calls).to.be.above(0.1);
    });
  }

  it('the option reaches the addon: a call where the two statistics disagree', function () {
    // Fifteen units observed exactly at the prior and one with s2 ~ 0: the mean of u / s2 is huge,
    // the geometric mean is not.
    const channels = 16;
    const x = new Float32Array(2 * channels);
    for (let c = 1; c < channels; ++c) [x[c], x[channels + c]] = [-1, 1];
    const prior = { mean: new Float32Array(channels), var: new Float32Array(channels).fill(1) };
    const run = (guardStatistic: GuardStatistic) =>
      ops.kalmanNorm(Tensor.fromArray(x, [2, channels]), { prior, guardStatistic, eps: EPS }).guardFired;
    expect(run('mean'), 'mean fires').to.equal(true);
    expect(run('geometric'), 'geometric does not').to.equal(false);
  });
});

describe('running estimates skip non-finite channels (KN-SPEC 1.8)', function () {
  const [N, C, S] = [4, 5, 6];

  function input(poisoned: Array<{ sample: number; channel: number; value: number }>, prior: boolean): ReferenceInput {
    const random = makeRandom(77);
    const x = Float64Array.from({ length: N * C * S }, () => Math.fround(1 + random.normal()));
    for (const { sample, channel, value } of poisoned) x[(sample * C + channel) * S + 3] = value;
    return {
      kind: 'kn', x, shape: [N, C, S], layout: 'NCHW', training: true, eps: EPS, virtualBatch: 2, gain: 0.5,
      prior: prior ? { mean: new Float64Array(C).fill(1), var: new Float64Array(C).fill(1) } : undefined,
      guard: Infinity, activation: 'identity',
      runningMean: Float64Array.from({ length: C }, (_, c) => 0.25 * c), runningVar: Float64Array.from({ length: C }, (_, c) => 1 + c),
      momentum: 0.1,
    };
  }

  function run(reference: ReferenceInput) {
    const runningMean = Float32Array.from(reference.runningMean!);
    const runningVar = Float32Array.from(reference.runningVar!);
    const result = ops.kalmanNorm(Tensor.fromArray(Float32Array.from(reference.x), reference.shape), {
      virtualBatch: reference.virtualBatch, gain: 0.5, eps: EPS, guard: Infinity, runningMean, runningVar,
      prior: reference.prior && { mean: Float32Array.from(reference.prior.mean), var: Float32Array.from(reference.prior.var) },
    });
    return { result, runningMean, runningVar };
  }

  for (const prior of [false, true])
    it(`NaN in one ghost batch of channel 1 and Inf in channel 3 (${prior ? 'with' : 'no'} prior): those channels keep their estimates, the others update`, function () {
      const reference = input([{ sample: 3, channel: 1, value: NaN }, { sample: 0, channel: 3, value: Infinity }], prior);
      const expected = referenceForward(reference);
      const { result, runningMean, runningVar } = run(reference);
      expect(result.skippedChannels).to.deep.equal([1, 3]);
      expect(expected.skippedChannels).to.deep.equal([1, 3]);
      for (const c of [1, 3]) {
        expect(runningMean[c], `runningMean[${c}]`).to.equal(Math.fround(reference.runningMean![c]));
        expect(runningVar[c], `runningVar[${c}]`).to.equal(Math.fround(reference.runningVar![c]));
      }
      assertClose(runningMean, expected.runningMean!, 1e-6, 'runningMean');
      assertClose(runningVar, expected.runningVar!, 1e-6, 'runningVar');
      // The batch itself still propagates NaN like arithmetic: the poisoned units' outputs are not finite.
      expect(Number.isNaN(result.mean.toArray()[2 * 0 + C + 1]), 'posterior of the NaN unit').to.equal(true);
    });

  it('a clean batch skips nothing, and inference after a poisoned batch stays finite', function () {
    const clean = run(input([], true));
    expect(clean.result.skippedChannels).to.deep.equal([]);
    const poisoned = run(input([{ sample: 0, channel: 2, value: NaN }], true));
    const y = ops.kalmanNorm(Tensor.fromArray(Float32Array.from(input([], false).x), [N, C, S]), {
      training: false, runningMean: poisoned.runningMean, runningVar: poisoned.runningVar,
    }).y.toArray();
    expect(y.every(Number.isFinite), 'every inference output finite').to.equal(true);
  });

  it('without running estimates, and for GKN, nothing is reported', function () {
    const x = Tensor.fromArray(new Float32Array(N * C * S).fill(NaN), [N, C, S]);
    expect(ops.kalmanNorm(x).skippedChannels).to.deep.equal([]);
    const groups = Tensor.fromArray(new Float32Array(N * 6 * S).fill(NaN), [N, 6, S]);
    expect(ops.groupKalmanNorm(groups, { groups: 3 }).skippedChannels).to.deep.equal([]);
  });
});
