/**
 * The input node (KN-SPEC section 3a) and the covariance transition (section 3b) against the
 * float64 reference in reference/covariance-reference.ts: the quadratic form and its gradient into
 * the weight (full, diagonal, low rank) against central differences, the running estimates of
 * observe() for whole samples and for convolution patches with padding and stride in both layouts,
 * the low-rank update's guarantees, and bad arguments (error class, argument named, nothing written).
 */
import { expect } from 'chai';
import { InputStatistics, Tensor, moments, ops } from '../lib';
import type { Covariance } from '../lib';
import {
  PatchSpec,
  batchMoments,
  diagonalOf,
  lowRankMatrix,
  patchRows,
  quadraticReference,
  runningMoments,
} from './reference/covariance-reference';
import { assertClose, relativeError } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';

/** float32 against the float64 reference: normwise relative error. */
const FORWARD_RTOL = 1e-5;
/** float32 gradient against central differences: normwise relative error. */
const GRADIENT_RTOL = 1e-4;
/** Running estimates over several float32 batches (the covariance sums P terms in float32 inputs). */
const ESTIMATE_RTOL = 1e-5;
const MOMENTUM = 0.3;

function float32Normal(rng: Random, length: number, std = 1, mean = 0): Float64Array {
  return randomArray(rng, length, { mean, std }).map(Math.fround);
}

function tensor(values: ArrayLike<number>, shape: number[], layout: 'NCHW' | 'NHWC' = 'NCHW'): Tensor {
  return Tensor.fromArray(Float32Array.from(values), shape, { layout });
}

/** A symmetric positive definite D x D matrix: A A^T / D + 0.1 I, in float32 values. */
function spdMatrix(rng: Random, features: number): Float64Array {
  const a = float32Normal(rng, features * features);
  const out = new Float64Array(features * features);
  for (let i = 0; i < features; i++)
    for (let j = 0; j < features; j++) {
      let sum = i === j ? 0.1 : 0;
      for (let k = 0; k < features; k++) sum += (a[i * features + k] * a[j * features + k]) / features;
      out[i * features + j] = sum;
    }
  // symmetric to the last bit after rounding
  return out.map(Math.fround).map((_, index) => {
    const i = Math.floor(index / features), j = index % features;
    return Math.fround(i <= j ? out[i * features + j] : out[j * features + i]);
  });
}

// ---- the quadratic form -----------------------------------------------------------------------

describe('covariance transition: quadraticMoments', () => {
  const [features, outputs, rank] = [7, 5, 3];
  const rng = makeRandom(41);
  const mean = float32Normal(rng, features, 1, 0.5);
  const weight = float32Normal(rng, outputs * features, 0.5);
  const bias = float32Normal(rng, outputs);
  const noise = float32Normal(rng, outputs).map((v) => Math.fround(Math.abs(v)));
  const full = spdMatrix(rng, features);
  const factor = float32Normal(rng, features * rank, 0.7);
  const lowRankDiagonal = float32Normal(rng, features).map((v) => Math.fround(v * v + 0.05));
  const dMean = float32Normal(rng, outputs);
  const dVar = float32Normal(rng, outputs);

  /** Each form: how the op gets it and the dense matrix the reference uses. */
  const forms: Array<{ name: string; covariance: () => Covariance; dense: Float64Array }> = [
    { name: 'full', covariance: () => ({ kind: 'full', matrix: tensor(full, [features, features]) }), dense: full },
    {
      name: 'diagonal',
      covariance: () => ({ kind: 'diagonal', diagonal: tensor(diagonalOf(full, features), [features]) }),
      dense: lowRankMatrix(new Float64Array(0), diagonalOf(full, features), features),
    },
    {
      name: 'low rank plus diagonal',
      covariance: () => ({ kind: 'lowRank', factor: tensor(factor, [features, rank]), diagonal: tensor(lowRankDiagonal, [features]) }),
      dense: lowRankMatrix(factor, lowRankDiagonal, features),
    },
  ];

  function loss(weightValues: Float64Array, biasValues: Float64Array, noiseValues: Float64Array, dense: Float64Array): number {
    const out = quadraticReference({ mean, covariance: dense, weight: weightValues, bias: biasValues, noise: noiseValues });
    let sum = 0;
    for (let o = 0; o < outputs; o++) sum += dMean[o] * out.mean[o] + dVar[o] * out.var[o];
    return sum;
  }

  for (const form of forms) {
    it(`forward and the gradients into weight, bias and noise match the float64 reference (${form.name})`, () => {
      const result = ops.quadraticMoments(tensor(mean, [1, features]), form.covariance(), {
        weight: tensor(weight, [outputs, features]), bias: Float32Array.from(bias), noise: Float32Array.from(noise),
      });
      const expected = quadraticReference({ mean, covariance: form.dense, weight, bias, noise });
      expect(result.mean.shape).to.deep.equal([1, outputs]);
      assertClose(result.mean.toArray(), expected.mean, FORWARD_RTOL, 'mean');
      assertClose(result.var.toArray(), expected.var, FORWARD_RTOL, 'var');

      const gradients = ops.quadraticMomentsBackward(tensor(dMean, [1, outputs]), tensor(dVar, [1, outputs]), result.saved);
      const w = Float64Array.from(weight), b = Float64Array.from(bias), r = Float64Array.from(noise);
      const objective = () => loss(w, b, r, form.dense);
      assertClose(gradients.dWeight.toArray(), centralDifference(objective, w), GRADIENT_RTOL, 'dWeight');
      assertClose(gradients.dBias!.toArray(), centralDifference(objective, b), GRADIENT_RTOL, 'dBias');
      assertClose((gradients.dNoise as Tensor).toArray(), centralDifference(objective, r), GRADIENT_RTOL, 'dNoise');
    });
  }

  it('a scalar noise gives a scalar gradient; a missing incoming half is zero', () => {
    const result = ops.quadraticMoments(tensor(mean, [1, features]), forms[0].covariance(), { weight: tensor(weight, [outputs, features]), noise: 0.5 });
    const gradients = ops.quadraticMomentsBackward(null, tensor(dVar, [1, outputs]), result.saved);
    expect(gradients.dNoise).to.be.closeTo(dVar.reduce((a, b) => a + b, 0), 1e-5);
    const w = Float64Array.from(weight);
    const expected = centralDifference(() => {
      const out = quadraticReference({ mean, covariance: full, weight: w });
      return out.var.reduce((sum, u, o) => sum + dVar[o] * u, 0);
    }, w);
    assertClose(gradients.dWeight.toArray(), expected, GRADIENT_RTOL, 'dWeight through the variance only');
  });
});

// ---- the running estimates --------------------------------------------------------------------

/** `count` batches of x [N, ...featureShape] in float32 values, with correlated features and a nonzero mean. */
function correlatedBatches(seed: number, count: number, shape: number[]): Float64Array[] {
  const rng = makeRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const perSample = size / shape[0];
  return Array.from({ length: count }, () => {
    const values = new Float64Array(size);
    for (let n = 0; n < shape[0]; n++) {
      const common = rng.normal();
      for (let i = 0; i < perSample; i++) values[n * perSample + i] = Math.fround(0.8 + 0.6 * common + 0.5 * rng.normal() + 0.1 * i);
    }
    return values;
  });
}

/** NCHW values [N, C, H, W] reordered into NHWC memory. */
function toNhwc(values: Float64Array, shape: number[]): Float64Array {
  const [n, c, h, w] = shape;
  const out = new Float64Array(values.length);
  for (let a = 0; a < n; a++)
    for (let b = 0; b < c; b++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((a * h + y) * w + x) * c + b] = values[((a * c + b) * h + y) * w + x];
  return out;
}

describe('InputStatistics: running mean and covariance of the input', () => {
  it('whole samples: the first batch initializes, later ones blend with the momentum (full and diagonal)', () => {
    const shape = [5, 6];
    const batches = correlatedBatches(3, 3, shape);
    const full = new InputStatistics([6], { covariance: 'full', momentum: MOMENTUM });
    const diagonal = new InputStatistics([6], { covariance: 'diagonal', momentum: MOMENTUM });
    batches.forEach((values, k) => {
      full.observe(tensor(values, shape));
      diagonal.observe(tensor(values, shape));
      const expected = runningMoments(batches.slice(0, k + 1).map((b) => patchRows(b, shape, 'NCHW')), MOMENTUM);
      assertClose(full.mean.toArray(), expected.mean, ESTIMATE_RTOL, `mean after ${k + 1}`);
      assertClose((full.covariance() as { matrix: Tensor }).matrix.toArray(), expected.covariance, ESTIMATE_RTOL, `covariance after ${k + 1}`);
      assertClose(full.var.toArray(), diagonalOf(expected.covariance, 6), ESTIMATE_RTOL, `var after ${k + 1}`);
      assertClose(diagonal.var.toArray(), diagonalOf(expected.covariance, 6), ESTIMATE_RTOL, `diagonal var after ${k + 1}`);
      assertClose(diagonal.mean.toArray(), expected.mean, ESTIMATE_RTOL, `diagonal mean after ${k + 1}`);
    });
    expect(full.observeCount).to.equal(3);
  });

  it('whole images in NHWC memory: the features stay in logical [C, H, W] order', () => {
    const shape = [4, 2, 3, 3];
    const [values] = correlatedBatches(5, 1, shape);
    const nchw = new InputStatistics([2, 3, 3]).observe(tensor(values, shape));
    const nhwc = new InputStatistics([2, 3, 3]).observe(tensor(toNhwc(values, shape), shape, 'NHWC'));
    const expected = batchMoments(patchRows(values, shape, 'NCHW'));
    for (const [name, statistics] of [['NCHW', nchw], ['NHWC', nhwc]] as const) {
      assertClose(statistics.mean.toArray(), expected.mean, ESTIMATE_RTOL, `${name} mean`);
      assertClose((statistics.covariance() as { matrix: Tensor }).matrix.toArray(), expected.covariance, ESTIMATE_RTOL, `${name} covariance`);
    }
  });

  const patchCases: Array<{ name: string; patch: PatchSpec }> = [
    { name: '3x3, padding 1, stride 1', patch: { kernel: [3, 3], padding: [1, 1], stride: [1, 1] } },
    { name: '3x2, padding [2, 0], stride [1, 2]', patch: { kernel: [3, 2], padding: [2, 0], stride: [1, 2] } },
  ];
  for (const { name, patch } of patchCases)
    for (const layout of ['NCHW', 'NHWC'] as const)
      it(`convolution patches (${name}, ${layout}): mean and covariance over all positions, padding as zeros`, () => {
        const shape = [3, 2, 5, 4];
        const batches = correlatedBatches(7, 2, shape);
        const statistics = new InputStatistics([2, 5, 4], {
          momentum: MOMENTUM, patch: { kernel: patch.kernel, padding: patch.padding, stride: patch.stride },
        });
        for (const values of batches) statistics.observe(tensor(layout === 'NCHW' ? values : toNhwc(values, shape), shape, layout));
        const expected = runningMoments(batches.map((values) => patchRows(values, shape, 'NCHW', patch)), MOMENTUM);
        expect(statistics.features).to.equal(2 * patch.kernel[0] * patch.kernel[1]);
        assertClose(statistics.mean.toArray(), expected.mean, ESTIMATE_RTOL, 'mean');
        assertClose((statistics.covariance() as { matrix: Tensor }).matrix.toArray(), expected.covariance, ESTIMATE_RTOL, 'covariance');
      });

  it('in eval mode observe changes nothing', () => {
    const [first, second] = correlatedBatches(9, 2, [4, 3]);
    const statistics = new InputStatistics([3]).observe(tensor(first, [4, 3]));
    const before = statistics.mean.toArray().slice();
    statistics.eval().observe(tensor(second, [4, 3]));
    expect(Array.from(statistics.mean.toArray())).to.deep.equal(Array.from(before));
    expect(statistics.observeCount).to.equal(1);
  });
});

describe('InputStatistics: low rank plus diagonal', () => {
  // 3 x 64 = 192 patches of D = 9: the update merges them in three chunks.
  const shape = [3, 1, 8, 8];
  const patch = { kernel: [3, 3] as [number, number], padding: [1, 1] as [number, number], stride: [1, 1] as [number, number] };
  const batches = correlatedBatches(13, 3, shape);
  const expected = runningMoments(batches.map((values) => patchRows(values, shape, 'NCHW', patch)), MOMENTUM);
  const features = 9;

  function observed(rank: number): { statistics: InputStatistics; dense: Float64Array } {
    const statistics = new InputStatistics([1, 8, 8], { covariance: { rank }, momentum: MOMENTUM, patch });
    for (const values of batches) statistics.observe(tensor(values, shape));
    const form = statistics.covariance() as { factor: Tensor; diagonal: Tensor };
    return { statistics, dense: lowRankMatrix(form.factor.toArray(), form.diagonal.toArray(), features) };
  }

  it('with rank = D it is the full running covariance', () => {
    const { statistics, dense } = observed(features);
    assertClose(dense, expected.covariance, 1e-4, 'L L^T + diag(d)');
    assertClose(statistics.var.toArray(), diagonalOf(expected.covariance, features), ESTIMATE_RTOL, 'var');
  });

  it('with rank < D its diagonal stays exact and it is closer to the covariance than the diagonal alone', () => {
    const { dense } = observed(2);
    assertClose(diagonalOf(dense, features), diagonalOf(expected.covariance, features), 1e-4, 'diag(L L^T) + d');
    const diagonalOnly = lowRankMatrix(new Float64Array(0), diagonalOf(expected.covariance, features), features);
    const lowRankError = relativeError(dense, expected.covariance);
    expect(lowRankError).to.be.below(0.5 * relativeError(diagonalOnly, expected.covariance));
  });
});

describe('InputStatistics: low rank at micro-batch', () => {
  it('batches of 2 samples (a rank-1 batch covariance, a singular Gram matrix): finite, diagonal exact', () => {
    const shape = [2, 6];
    const batches = correlatedBatches(17, 12, shape);
    const statistics = new InputStatistics([6], { covariance: { rank: 3 }, momentum: MOMENTUM });
    for (const values of batches) statistics.observe(tensor(values, shape));
    const expected = runningMoments(batches.map((values) => patchRows(values, shape, 'NCHW')), MOMENTUM);
    const form = statistics.covariance() as { factor: Tensor; diagonal: Tensor };
    const dense = lowRankMatrix(form.factor.toArray(), form.diagonal.toArray(), 6);
    expect(dense.every(Number.isFinite), 'finite').to.equal(true);
    assertClose(diagonalOf(dense, 6), diagonalOf(expected.covariance, 6), 1e-4, 'diag(L L^T) + d');
    assertClose(statistics.mean.toArray(), expected.mean, ESTIMATE_RTOL, 'mean');
  });
});

// ---- bad input ----------------------------------------------------------------------------------

describe('InputStatistics and quadraticMoments: bad input', () => {
  type ErrorKind = typeof TypeError | typeof RangeError | typeof Error;
  function expectError(run: () => unknown, kind: ErrorKind, argument: string): void {
    expect(run).to.throw(kind, new RegExp(`^${argument.replace(/[.[\]]/g, '\\$&')}:`));
  }

  const constructorCases: Array<{ what: string; make: () => unknown; kind: ErrorKind; argument: string }> = [
    { what: 'featureShape not an array', make: () => new InputStatistics(6 as unknown as number[]), kind: TypeError, argument: 'featureShape' },
    { what: 'featureShape with a zero', make: () => new InputStatistics([3, 0]), kind: RangeError, argument: 'featureShape[1]' },
    { what: 'unknown covariance', make: () => new InputStatistics([3], { covariance: 'dense' as 'full' }), kind: RangeError, argument: 'covariance' },
    { what: 'rank 0', make: () => new InputStatistics([3], { covariance: { rank: 0 } }), kind: RangeError, argument: 'covariance.rank' },
    { what: 'rank above D', make: () => new InputStatistics([3], { covariance: { rank: 4 } }), kind: RangeError, argument: 'covariance.rank' },
    { what: 'momentum 0', make: () => new InputStatistics([3], { momentum: 0 }), kind: RangeError, argument: 'momentum' },
    { what: 'patch on a flat input', make: () => new InputStatistics([12], { patch: { kernel: 3 } }), kind: RangeError, argument: 'featureShape' },
    { what: 'kernel larger than the padded image', make: () => new InputStatistics([1, 2, 2], { patch: { kernel: 5, padding: 1 } }), kind: RangeError, argument: 'patch.kernel' },
    { what: 'negative padding', make: () => new InputStatistics([1, 4, 4], { patch: { kernel: 3, padding: -1 } }), kind: RangeError, argument: 'patch.padding' },
    { what: 'an unknown option', make: () => new InputStatistics([3], { rank: 2 } as object), kind: TypeError, argument: 'options.rank' },
  ];
  for (const { what, make, kind, argument } of constructorCases) it(`new InputStatistics: ${what}`, () => expectError(make, kind, argument));

  const observeCases: Array<{ what: string; x: () => unknown; kind: ErrorKind }> = [
    { what: 'not a tensor', x: () => new Float32Array(12), kind: TypeError },
    { what: 'the wrong feature shape', x: () => Tensor.zeros([4, 4]), kind: RangeError },
    { what: 'one sample (no batch covariance)', x: () => Tensor.zeros([1, 3]), kind: RangeError },
    { what: 'disposed', x: () => { const t = Tensor.zeros([4, 3]); t.dispose(); return t; }, kind: Error },
  ];
  for (const { what, x, kind } of observeCases)
    it(`observe: x ${what} (nothing written)`, () => {
      const statistics = new InputStatistics([3]).observe(tensor([1, 2, 3, 2, 0, 1], [2, 3]));
      const before = [statistics.mean.toArray().slice(), (statistics.covariance() as { matrix: Tensor }).matrix.toArray().slice()];
      expectError(() => statistics.observe(x() as Tensor), kind, 'x');
      expect(statistics.observeCount).to.equal(1);
      expect(Array.from(statistics.mean.toArray())).to.deep.equal(Array.from(before[0]));
      expect(Array.from((statistics.covariance() as { matrix: Tensor }).matrix.toArray())).to.deep.equal(Array.from(before[1]));
    });

  const mean = () => tensor([1, 2, 3], [1, 3]);
  const fullCovariance = (): Covariance => ({ kind: 'full', matrix: tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], [3, 3]) });
  const quadraticCases: Array<{ what: string; run: () => unknown; kind: ErrorKind; argument: string }> = [
    { what: 'mean with two rows', run: () => ops.quadraticMoments(tensor([1, 2, 3, 4, 5, 6], [2, 3]), fullCovariance(), { weight: Tensor.zeros([2, 3]) }), kind: RangeError, argument: 'mean' },
    { what: 'weight with the wrong columns', run: () => ops.quadraticMoments(mean(), fullCovariance(), { weight: Tensor.zeros([2, 4]) }), kind: RangeError, argument: 'weight' },
    { what: 'covariance matrix of the wrong size', run: () => ops.quadraticMoments(mean(), { kind: 'full', matrix: Tensor.zeros([2, 2]) }, { weight: Tensor.zeros([2, 3]) }), kind: RangeError, argument: 'covariance.matrix' },
    { what: 'unknown covariance kind', run: () => ops.quadraticMoments(mean(), { kind: 'dense' } as unknown as Covariance, { weight: Tensor.zeros([2, 3]) }), kind: RangeError, argument: 'covariance.kind' },
    { what: 'low-rank factor with the wrong rows', run: () => ops.quadraticMoments(mean(), { kind: 'lowRank', factor: Tensor.zeros([4, 2]), diagonal: Tensor.zeros([3]) }, { weight: Tensor.zeros([2, 3]) }), kind: RangeError, argument: 'covariance.factor' },
    { what: 'diagonal of the wrong length', run: () => ops.quadraticMoments(mean(), { kind: 'diagonal', diagonal: new Float32Array(2) as unknown as Tensor }, { weight: Tensor.zeros([2, 3]) }), kind: RangeError, argument: 'covariance.diagonal' },
    { what: 'negative noise', run: () => ops.quadraticMoments(mean(), fullCovariance(), { weight: Tensor.zeros([2, 3]), noise: -1 }), kind: RangeError, argument: 'noise' },
    { what: 'saved state from another op', run: () => ops.quadraticMomentsBackward(null, null, {}), kind: TypeError, argument: 'saved' },
  ];
  for (const { what, run, kind, argument } of quadraticCases) it(`quadraticMoments: ${what}`, () => expectError(run, kind, argument));

  it('moments.input and the first map check what they are given', () => {
    const flat = new InputStatistics([3]);
    const patches = new InputStatistics([2, 4, 4], { patch: { kernel: 3, padding: 1 } });
    expectError(() => moments.input({} as InputStatistics), TypeError, 'statistics');
    expectError(() => moments.affine(moments.input(flat), { value: Tensor.zeros([2, 4]) }), RangeError, 'weight');
    expectError(() => moments.affine(moments.input(patches), { value: Tensor.zeros([2, 18]) }), RangeError, 'input');
    expectError(() => moments.conv(moments.input(flat), { value: Tensor.zeros([2, 3, 1, 1]) }), RangeError, 'input');
    expectError(() => moments.conv(moments.input(patches), { value: Tensor.zeros([2, 2, 5, 5]) }), RangeError, 'kernel');
    expect(() => moments.affine(moments.input(flat), { value: Tensor.zeros([2, 3]) }).evaluate()).to.throw(Error, /^input: observe/);
  });
});
