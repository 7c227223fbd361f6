/**
 * Tests of the float64 reference itself, so that it can be trusted as the judge of lib/ and csrc/:
 * its backward against finite differences, its forward against textbook BN/GN, a case worked by
 * hand, both layouts, the guard, KN inference, and the test utilities.
 */
import { expect } from 'chai';
import { Layout, ReferenceInput, referenceForward } from './reference/kalman-norm-reference';
import { referenceBackward } from './reference/kalman-norm-gradients';
import { batchNorm, groupNorm } from './reference/plain-norms';
import { assertClose, relativeError } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';

const GRADIENT_RTOL = 1e-6;
const EXACT_RTOL = 1e-12;

// Every generated case uses ghost batches of 2 (KN) or 3 groups (GKN); shapes must allow that.
const KN_VIRTUAL_BATCH = 2;
const GKN_GROUPS = 3;
const KN_SHAPE = [4, 3, 2, 3]; // 2 ghost batches x 3 channels = 6 units of 12 elements
const GKN_SHAPE = [2, 6, 2, 2]; // 2 samples x 3 groups = 6 units of 8 elements

interface CaseOptions {
  kind: 'kn' | 'gkn';
  layout: Layout;
  prior: 'none' | 'per unit' | 'per column';
  gain: 'scalar' | 'per column';
  seed: number;
  shape?: number[];
}

function product(values: number[]): number {
  return values.reduce((result, value) => result * value, 1);
}

function uniformArray(rng: Random, length: number, low: number, high: number): Float64Array {
  const values = new Float64Array(length);
  for (let i = 0; i < length; i++) values[i] = low + (high - low) * rng.uniform();
  return values;
}

/** A training-mode input with gamma, beta, a residual and relu, all filled from seeded data. */
function makeCase(options: CaseOptions): ReferenceInput {
  const rng = makeRandom(options.seed);
  const shape = options.shape ?? (options.kind === 'kn' ? KN_SHAPE : GKN_SHAPE);
  const [batch, channels] = shape;
  const rows = options.kind === 'kn' ? batch / KN_VIRTUAL_BATCH : batch;
  const columns = options.kind === 'kn' ? channels : GKN_GROUPS;
  const priorLength = options.prior === 'per unit' ? rows * columns : columns;
  return {
    kind: options.kind,
    x: randomArray(rng, product(shape), { mean: 0.5, std: 2 }),
    shape,
    layout: options.layout,
    training: true,
    eps: 1e-5,
    virtualBatch: options.kind === 'kn' ? KN_VIRTUAL_BATCH : undefined,
    groups: options.kind === 'gkn' ? GKN_GROUPS : undefined,
    gain: options.gain === 'scalar' ? 0.3 : uniformArray(rng, columns, 0.2, 0.8),
    prior:
      options.prior === 'none'
        ? undefined
        : { mean: randomArray(rng, priorLength), var: uniformArray(rng, priorLength, 0.5, 3) },
    guard: 100,
    gamma: randomArray(rng, channels, { mean: 1, std: 0.5 }),
    beta: randomArray(rng, channels),
    residual: randomArray(rng, product(shape)),
    activation: 'relu',
    momentum: 0.1,
  };
}

/** The same input without residual and relu, so its output is a plain normalization. */
function withoutEpilogue(input: ReferenceInput): ReferenceInput {
  return { ...input, residual: undefined, activation: 'identity' };
}

/** Reorders an NCHW array of logical shape [N, C, ...spatial] into NHWC. */
function toNHWC(values: Float64Array, shape: number[]): Float64Array {
  const [batch, channels, ...spatialDims] = shape;
  const spatial = product(spatialDims);
  const reordered = new Float64Array(values.length);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let s = 0; s < spatial; s++) {
        reordered[(n * spatial + s) * channels + c] = values[(n * channels + c) * spatial + s];
      }
    }
  }
  return reordered;
}

/** Gradients flowing into the outputs; the loss they define is sum(dy*y) + sum(dMean*mean) + sum(dVar*var). */
interface Upstream {
  dy: Float64Array;
  dMean: Float64Array;
  dVar: Float64Array;
}

function makeUpstream(input: ReferenceInput, seed: number): Upstream {
  const rng = makeRandom(seed);
  const statisticsLength = referenceForward(input).mean.length;
  return {
    dy: randomArray(rng, input.x.length),
    dMean: randomArray(rng, statisticsLength),
    dVar: randomArray(rng, statisticsLength),
  };
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function lossOf(input: ReferenceInput, upstream: Upstream): number {
  const output = referenceForward(input);
  return dot(upstream.dy, output.y) + dot(upstream.dMean, output.mean) + dot(upstream.dVar, output.var);
}

/** The gain is perturbed through a one-element array when it is a scalar. */
function gainByDifferences(input: ReferenceInput, upstream: Upstream): Float64Array {
  if (typeof input.gain !== 'number') return centralDifference(() => lossOf(input, upstream), input.gain);
  const scalarGain = Float64Array.of(input.gain);
  return centralDifference(() => lossOf({ ...input, gain: scalarGain[0] }, upstream), scalarGain);
}

/** Checks every gradient referenceBackward returns against central differences of referenceForward. */
function checkGradients(input: ReferenceInput, label: string, seed: number): void {
  const upstream = makeUpstream(input, seed);
  const gradients = referenceBackward(input, upstream.dy, upstream.dMean, upstream.dVar);
  const loss = (): number => lossOf(input, upstream);
  const parameters: [string, Float64Array | undefined, Float64Array | undefined][] = [
    ['dx', input.x, gradients.dx],
    ['dGamma', input.gamma, gradients.dGamma],
    ['dBeta', input.beta, gradients.dBeta],
    ['dResidual', input.residual, gradients.dResidual],
    ['dPriorMean', input.prior?.mean, gradients.dPriorMean],
    ['dPriorVar', input.prior?.var, gradients.dPriorVar],
  ];
  // A gradient referenceBackward leaves out must belong to an input the loss does not depend on.
  for (const [name, values, analytic] of parameters) {
    if (!values) continue;
    const numeric = centralDifference(loss, values);
    assertClose(analytic ?? new Float64Array(values.length), numeric, GRADIENT_RTOL, `${label} ${name}`);
  }
  if (input.prior) {
    const numeric = gainByDifferences(input, upstream);
    assertClose(gradients.dGain ?? new Float64Array(numeric.length), numeric, GRADIENT_RTOL, `${label} dGain`);
  }
}

const KINDS = ['kn', 'gkn'] as const;
const LAYOUTS = ['NCHW', 'NHWC'] as const;

describe('reference: backward matches finite differences of forward', () => {
  let seed = 1;
  for (const kind of KINDS) {
    for (const layout of LAYOUTS) {
      for (const prior of ['per unit', 'per column'] as const) {
        for (const gain of ['scalar', 'per column'] as const) {
          const label = `${kind} ${layout}, prior ${prior}, gain ${gain}`;
          const caseSeed = seed++;
          it(label, () => checkGradients(makeCase({ kind, layout, prior, gain, seed: caseSeed }), label, caseSeed));
        }
      }
    }

    it(`${kind} without a prior (BN / GN backward)`, () => {
      checkGradients(makeCase({ kind, layout: 'NHWC', prior: 'none', gain: 'scalar', seed: 40 }), kind, 40);
    });

    it(`${kind} fully connected (S = 1)`, () => {
      const shape = kind === 'kn' ? [6, 4] : [3, 6];
      const input = makeCase({ kind, layout: 'NCHW', prior: 'per unit', gain: 'per column', seed: 41, shape });
      checkGradients(input, kind, 41);
    });

    it(`${kind} with identity activation and no gamma, beta or residual`, () => {
      const input = withoutEpilogue(makeCase({ kind, layout: 'NCHW', prior: 'per column', gain: 'scalar', seed: 42 }));
      checkGradients({ ...input, gamma: undefined, beta: undefined }, kind, 42);
    });

    it(`${kind} with the guard fired: prior and gain get zero gradients, x gets BN / GN's`, () => {
      const input = makeCase({ kind, layout: 'NCHW', prior: 'per unit', gain: 'per column', seed: 43 });
      input.prior?.var.fill(1e4);
      expect(referenceForward(input).guardFired).to.equal(true);
      checkGradients(input, kind, 43);

      const upstream = makeUpstream(input, 43);
      const fired = referenceBackward(input, upstream.dy, upstream.dMean, upstream.dVar);
      const noPrior = referenceBackward({ ...input, prior: undefined }, upstream.dy, upstream.dMean, upstream.dVar);
      assertClose(fired.dx, noPrior.dx, 0, 'dx');
      expect(Array.from(fired.dPriorMean ?? [1])).to.deep.equal(new Array(6).fill(0));
      expect(Array.from(fired.dGain ?? [1])).to.deep.equal([0, 0, 0]);
    });
  }

  it('kn inference treats the running estimates as constants', () => {
    const rng = makeRandom(44);
    const input: ReferenceInput = {
      ...makeCase({ kind: 'kn', layout: 'NHWC', prior: 'per column', gain: 'scalar', seed: 44 }),
      training: false,
      runningMean: randomArray(rng, 3),
      runningVar: uniformArray(rng, 3, 0.5, 2),
    };
    checkGradients(input, 'kn inference', 44);
    const upstream = makeUpstream(input, 44);
    const gradients = referenceBackward(input, upstream.dy, upstream.dMean, upstream.dVar);
    expect(gradients.dPriorMean).to.equal(undefined);
    expect(gradients.dGain).to.equal(undefined);
  });
});

describe('reference: without a prior or with K = 1 it is textbook BN / GN', () => {
  for (const layout of LAYOUTS) {
    const knInput = withoutEpilogue(makeCase({ kind: 'kn', layout, prior: 'per unit', gain: 'scalar', seed: 50 }));
    const bn = batchNorm(knInput.x, knInput.shape, layout, knInput.eps, KN_VIRTUAL_BATCH, knInput.gamma, knInput.beta);
    const gknInput = withoutEpilogue(makeCase({ kind: 'gkn', layout, prior: 'per unit', gain: 'scalar', seed: 51 }));
    const gn = groupNorm(gknInput.x, gknInput.shape, layout, GKN_GROUPS, gknInput.eps, gknInput.gamma, gknInput.beta);

    it(`kn without a prior is batchNorm (${layout})`, () => {
      assertClose(referenceForward({ ...knInput, prior: undefined }).y, bn, EXACT_RTOL, 'y');
    });
    it(`kn with K = 1 is batchNorm (${layout})`, () => {
      assertClose(referenceForward({ ...knInput, gain: 1, guard: Infinity }).y, bn, EXACT_RTOL, 'y');
    });
    it(`gkn without a prior is groupNorm (${layout})`, () => {
      assertClose(referenceForward({ ...gknInput, prior: undefined }).y, gn, EXACT_RTOL, 'y');
    });
    it(`gkn with K = 1 is groupNorm (${layout})`, () => {
      assertClose(referenceForward({ ...gknInput, gain: 1, guard: Infinity }).y, gn, EXACT_RTOL, 'y');
    });
  }
});

describe('reference: NCHW and NHWC agree after transposition', () => {
  for (const kind of KINDS) {
    it(kind, () => {
      const nchw = makeCase({ kind, layout: 'NCHW', prior: 'per unit', gain: 'per column', seed: 60 });
      const toChannelsLast = (values: Float64Array): Float64Array => toNHWC(values, nchw.shape);
      const nhwc: ReferenceInput = {
        ...nchw,
        layout: 'NHWC',
        x: toChannelsLast(nchw.x),
        residual: nchw.residual && toChannelsLast(nchw.residual),
      };
      const nchwOutput = referenceForward(nchw);
      const nhwcOutput = referenceForward(nhwc);
      assertClose(nhwcOutput.y, toChannelsLast(nchwOutput.y), EXACT_RTOL, 'y');
      assertClose(nhwcOutput.mean, nchwOutput.mean, EXACT_RTOL, 'mean');
      assertClose(nhwcOutput.var, nchwOutput.var, EXACT_RTOL, 'var');

      const upstream = makeUpstream(nchw, 61);
      const nchwGradients = referenceBackward(nchw, upstream.dy, upstream.dMean, upstream.dVar);
      const nhwcGradients = referenceBackward(nhwc, toChannelsLast(upstream.dy), upstream.dMean, upstream.dVar);
      assertClose(nhwcGradients.dx, toChannelsLast(nchwGradients.dx), EXACT_RTOL, 'dx');
      assertClose(nhwcGradients.dGamma, nchwGradients.dGamma, EXACT_RTOL, 'dGamma');
      assertClose(nhwcGradients.dPriorVar ?? [], nchwGradients.dPriorVar ?? [], EXACT_RTOL, 'dPriorVar');
      assertClose(nhwcGradients.dGain ?? [], nchwGradients.dGain ?? [], EXACT_RTOL, 'dGain');
    });
  }
});

describe('reference: a case computed by hand', () => {
  // KN, N = 2, C = 1, S = 1: one unit of M = 2 elements. x = [1, 3], eps = 0.5, gamma = 2,
  // beta = 1, prior m = 0, u = 2, K = 0.5, residual z = [-2, 0], relu.
  //   xbar = 2, s2 = ((1 - 2)^2 + (3 - 2)^2) / 2 = 1, d = xbar - m = 2
  //   guard ratio r = u / (s2 + eps) = 2 / 1.5 = 4/3, below tau = 100
  //   mu  = 0 + 0.5 * 2 = 1
  //   var = 0.5 * 2 + 0.5 * 1 + 0.25 * 2^2 = 2.5, sigma = sqrt(2.5 + 0.5) = sqrt(3)
  //   xhat = [0, 2/sqrt3]; 2 xhat + 1 + z = [-1, 1 + 4/sqrt3]; y = [0, 1 + 4/sqrt3]
  //   running mean 0 -> 0.9 * 0 + 0.1 * 1 = 0.1; running var 1 -> 0.9 * 1 + 0.1 * 2.5 = 1.15
  const handCase = (): ReferenceInput => ({
    kind: 'kn',
    x: Float64Array.of(1, 3),
    shape: [2, 1],
    layout: 'NCHW',
    training: true,
    eps: 0.5,
    gain: 0.5,
    prior: { mean: Float64Array.of(0), var: Float64Array.of(2) },
    guard: 100,
    gamma: Float64Array.of(2),
    beta: Float64Array.of(1),
    residual: Float64Array.of(-2, 0),
    activation: 'relu',
    runningMean: Float64Array.of(0),
    runningVar: Float64Array.of(1),
    momentum: 0.1,
  });
  const root3 = Math.sqrt(3);

  it('forward', () => {
    const output = referenceForward(handCase());
    assertClose(output.y, [0, 1 + 4 / root3], EXACT_RTOL, 'y');
    assertClose(output.mean, [1], EXACT_RTOL, 'mean');
    assertClose(output.var, [2.5], EXACT_RTOL, 'var');
    assertClose(output.runningMean ?? [], [0.1], EXACT_RTOL, 'runningMean');
    assertClose(output.runningVar ?? [], [1.15], EXACT_RTOL, 'runningVar');
    expect(output.guardFired).to.equal(false);
  });

  // Backward with dy = [1, 1] and no dMean / dVar. Relu masks dy to [0, 1], so g = gamma dy = [0, 2]:
  //   Gmu   = -(0 + 2) / sqrt3                                   = -2/sqrt3
  //   Gvar  = -(2 * 2/sqrt3) / (2 * 3)                           = -2/(3 sqrt3)
  //   Gxbar = K Gmu + 2K(1-K) d Gvar = -1/sqrt3 - 2/(3 sqrt3)    = -5/(3 sqrt3)
  //   Gs2   = K Gvar                                             = -1/(3 sqrt3)
  //   dx_i  = g_i / sigma + Gxbar / 2 + Gs2 (x_i - xbar):
  //     dx_0 = 0 - 5/(6 sqrt3) + 1/(3 sqrt3)       = -1/(2 sqrt3)
  //     dx_1 = 2/sqrt3 - 5/(6 sqrt3) - 1/(3 sqrt3) = 5/(6 sqrt3)
  //   dm = (1-K) Gmu - 2K(1-K) d Gvar = -1/sqrt3 + 2/(3 sqrt3)   = -1/(3 sqrt3)
  //   du = (1-K) Gvar                                            = -1/(3 sqrt3)
  //   dK = d Gmu + (s2 - u + (1-2K) d^2) Gvar = -4/sqrt3 + 2/(3 sqrt3) = -10/(3 sqrt3)
  //   dgamma = 1 * 2/sqrt3, dbeta = 1, dz = [0, 1]
  it('backward', () => {
    const gradients = referenceBackward(handCase(), Float64Array.of(1, 1));
    assertClose(gradients.dx, [-1 / (2 * root3), 5 / (6 * root3)], EXACT_RTOL, 'dx');
    assertClose(gradients.dPriorMean ?? [], [-1 / (3 * root3)], EXACT_RTOL, 'dPriorMean');
    assertClose(gradients.dPriorVar ?? [], [-1 / (3 * root3)], EXACT_RTOL, 'dPriorVar');
    assertClose(gradients.dGain ?? [], [-10 / (3 * root3)], EXACT_RTOL, 'dGain');
    assertClose(gradients.dGamma, [2 / root3], EXACT_RTOL, 'dGamma');
    assertClose(gradients.dBeta, [1], EXACT_RTOL, 'dBeta');
    assertClose(gradients.dResidual ?? [], [0, 1], EXACT_RTOL, 'dResidual');
  });

  // One unit, u = 2, s2 = 1, eps = 0.5: mean r = u / (s2 + eps) = 4/3; geometric r = (u + eps) / (s2 + eps) = 5/3.
  it('the mean guard fires when r equals tau, not when tau is just above', () => {
    expect(referenceForward({ ...handCase(), guardStatistic: 'mean', guard: 4 / 3 }).guardFired).to.equal(true);
    expect(referenceForward({ ...handCase(), guardStatistic: 'mean', guard: 4 / 3 + 1e-12 }).guardFired).to.equal(false);
  });
  it('the geometric guard fires when tau is just below r = 5/3, not when just above', () => {
    expect(referenceForward({ ...handCase(), guard: (5 / 3) * (1 - 1e-12) }).guardFired).to.equal(true);
    expect(referenceForward({ ...handCase(), guard: (5 / 3) * (1 + 1e-12) }).guardFired).to.equal(false);
  });
});

describe('reference: guard', () => {
  for (const kind of KINDS) {
    it(`${kind}: a huge prior variance fires it and the output is the no-prior output`, () => {
      const input = makeCase({ kind, layout: 'NHWC', prior: 'per column', gain: 'per column', seed: 70 });
      input.prior?.var.fill(1e6);
      const fired = referenceForward(input);
      const noPrior = referenceForward({ ...input, prior: undefined });
      expect(fired.guardFired).to.equal(true);
      expect(noPrior.guardFired).to.equal(false);
      assertClose(fired.y, noPrior.y, 0, 'y');
      assertClose(fired.mean, noPrior.mean, 0, 'mean');
      assertClose(fired.var, noPrior.var, 0, 'var');
    });

    it(`${kind}: tau = Infinity never fires`, () => {
      const input = makeCase({ kind, layout: 'NCHW', prior: 'per unit', gain: 'scalar', seed: 71 });
      input.prior?.var.fill(1e300);
      expect(referenceForward({ ...input, guard: Infinity }).guardFired).to.equal(false);
    });
  }
});

describe('reference: inference', () => {
  const training = makeCase({ kind: 'kn', layout: 'NCHW', prior: 'per column', gain: 'scalar', seed: 80 });
  const rng = makeRandom(81);
  const runningMean = randomArray(rng, 3);
  const runningVar = uniformArray(rng, 3, 0.5, 2);

  it('kn normalizes with the running estimates and ignores the prior', () => {
    const input: ReferenceInput = { ...withoutEpilogue(training), training: false, runningMean, runningVar };
    const output = referenceForward(input);
    const [, channels, ...spatialDims] = input.shape;
    const spatial = product(spatialDims);
    const gamma = input.gamma ?? new Float64Array(0);
    const beta = input.beta ?? new Float64Array(0);
    // NCHW: element i belongs to channel floor(i / S) mod C.
    const expected = input.x.map((value, i) => {
      const c = Math.floor(i / spatial) % channels;
      return (gamma[c] * (value - runningMean[c])) / Math.sqrt(runningVar[c] + input.eps) + beta[c];
    });
    assertClose(output.y, expected, EXACT_RTOL, 'y');
    assertClose(output.mean, runningMean, 0, 'mean');
    assertClose(output.var, runningVar, 0, 'var');
    expect(output.guardFired).to.equal(false);
    expect(output.runningMean).to.equal(undefined);
  });

  it('kn inference without running estimates throws', () => {
    expect(() => referenceForward({ ...training, training: false })).to.throw(/runningMean/);
  });

  it('kn training returns updated running estimates in new arrays and leaves the inputs alone', () => {
    const meanBefore = runningMean.slice();
    const output = referenceForward({ ...training, runningMean, runningVar });
    assertClose(runningMean, meanBefore, 0, 'input runningMean');
    expect(output.runningMean).to.not.equal(runningMean);
    // Per channel: 0.9 * old + 0.1 * (posterior averaged over the 2 ghost batches, rows of 3 units).
    const expected = runningMean.map((old, c) => 0.9 * old + (0.1 * (output.mean[c] + output.mean[3 + c])) / 2);
    assertClose(output.runningMean ?? [], expected, EXACT_RTOL, 'runningMean');
  });

  it('gkn inference is the same as training', () => {
    const gkn = makeCase({ kind: 'gkn', layout: 'NHWC', prior: 'per unit', gain: 'per column', seed: 82 });
    const inference = referenceForward({ ...gkn, training: false });
    assertClose(inference.y, referenceForward(gkn).y, 0, 'y');
  });
});

describe('test utilities', () => {
  it('centralDifference differentiates a cubic and restores the values', () => {
    const values = Float64Array.of(-2, 0.5, 3, 40);
    const before = values.slice();
    const gradient = centralDifference(() => values.reduce((sum, v) => sum + v ** 3, 0), values);
    assertClose(gradient, before.map((v) => 3 * v * v), 1e-8, 'd/dv sum v^3');
    assertClose(values, before, 0, 'values after');
  });

  it('relativeError is normwise', () => {
    expect(relativeError([1, 2, 4], [1, 2, 5])).to.equal(1 / 5);
    expect(relativeError([0, 0], [0, 0])).to.equal(0);
    expect(relativeError([NaN, 1], [NaN, 1])).to.equal(0);
    expect(relativeError([NaN, 1], [0, 1])).to.equal(Infinity);
    expect(relativeError([1], [1, 2])).to.equal(Infinity);
  });

  it('assertClose accepts arrays within tolerance, NaN in the same place included', () => {
    assertClose([1, 2, 3 + 1e-9], [1, 2, 3], 1e-9, 'close');
    assertClose([NaN, 2, Infinity], [NaN, 2, Infinity], 0, 'same NaN and Infinity');
  });

  it('assertClose throws on a wrong array and says where', () => {
    expect(() => assertClose([1, 2.5, 3, 9], [1, 2, 3, 4], 1e-6, 'wrong')).to.throw(
      /wrong: relative error 1\.25 .*largest at \[3\]: actual 9, expected 4.*first failing index \[1\]: actual 2\.5, expected 2/,
    );
  });

  it('assertClose throws on a length mismatch and on a lone NaN', () => {
    expect(() => assertClose([1, 2], [1, 2, 3], 1, 'short')).to.throw(/short: length 2, expected length 3/);
    expect(() => assertClose([1, NaN], [1, 2], 1, 'nan')).to.throw(/nan: .*\[1\]: actual NaN, expected 2/);
    expect(() => assertClose([1, 2], [1, NaN], 1, 'nan expected')).to.throw(/nan expected/);
  });

  it('makeRandom is reproducible and normal() has mean 0 and variance 1', () => {
    expect(Array.from(randomArray(makeRandom(7), 5))).to.deep.equal(Array.from(randomArray(makeRandom(7), 5)));
    const samples = randomArray(makeRandom(8), 20000, { mean: 3, std: 2 });
    const mean = samples.reduce((sum, v) => sum + v, 0) / samples.length;
    const variance = samples.reduce((sum, v) => sum + (v - mean) ** 2, 0) / samples.length;
    expect(mean).to.be.closeTo(3, 0.05);
    expect(variance).to.be.closeTo(4, 0.15);
  });
});
