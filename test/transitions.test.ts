/**
 * The transition ops of KN-SPEC.md section 3 (affine, conv, relu, add, identity, normalize) against
 * the float64 reference in reference/transition-reference.ts: the reference itself against
 * high-precision values, every forward against the reference, every backward against central
 * differences of the reference, the relu and affine moments against Monte Carlo sampling,
 * numerically hard inputs, and bad arguments.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../lib';
import {
  Moments,
  addReference,
  affineReference,
  convTransitionReference,
  identityReference,
  normalDensity,
  normalTail,
  normalizeReference,
  reluMomentsOf,
  reluReference,
} from './reference/transition-reference';
import { assertClose } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';

/** float32 op against the float64 reference: normwise relative error. */
const FORWARD_RTOL = 1e-5;
/** float32 gradient against central differences: normwise relative error. */
const GRADIENT_RTOL = 1e-4;
/** An analytically zero gradient: both sides must merely stay below this absolute level. */
const ZERO_GRADIENT = 1e-6;
/** The reference against values computed with 50 significant digits (mpmath). */
const REFERENCE_RTOL = 1e-14;
const MONTE_CARLO_SAMPLES = 200_000;
/** How far a closed-form moment may sit from a sample moment, in standard errors. */
const STANDARD_ERRORS = 4;
const DEFAULT_EPS = 1e-5;

// ---- data --------------------------------------------------------------------------------------

/** Values rounded to float32, so the op and the reference see exactly the same inputs. */
function normalValues(rng: Random, length: number, mean = 0, std = 1): Float64Array {
  return randomArray(rng, length, { mean, std }).map(Math.fround);
}

function uniformValues(rng: Random, length: number, low: number, high: number): Float64Array {
  return Float64Array.from({ length }, () => Math.fround(low + (high - low) * rng.uniform()));
}

/** Means N(0, 1.5^2) and variances in [0.2, 2]. */
function randomMoments(rng: Random, rows: number, columns: number): Moments {
  const size = rows * columns;
  return { rows, columns, mean: normalValues(rng, size, 0, 1.5), var: uniformValues(rng, size, 0.2, 2) };
}

function matrix(values: ArrayLike<number>, rows: number, columns: number): Tensor {
  return Tensor.fromArray(new Float32Array(values), [rows, columns]);
}

function tensorsOf(x: Moments): { mean: Tensor; var: Tensor } {
  return { mean: matrix(x.mean, x.rows, x.columns), var: matrix(x.var, x.rows, x.columns) };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function maxAbs(values: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]));
  return largest;
}

// ---- checks ------------------------------------------------------------------------------------

function expectMomentsClose(actual: { mean: Tensor; var: Tensor }, expected: Moments, label: string): void {
  const shape = [expected.rows, expected.columns];
  expect(actual.mean.shape, `${label}: mean's shape`).to.deep.equal(shape);
  expect(actual.var.shape, `${label}: var's shape`).to.deep.equal(shape);
  assertClose(actual.mean.toArray(), expected.mean, FORWARD_RTOL, `${label}: mean`);
  assertClose(actual.var.toArray(), expected.var, FORWARD_RTOL, `${label}: var`);
}

/** Elementwise |actual - expected| <= rtol * scale_i: each element judged against its own natural size. */
function expectWithinScale(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  scale: ArrayLike<number>,
  rtol: number,
  label: string,
): void {
  for (let i = 0; i < expected.length; i++) {
    expect(Number.isFinite(actual[i]), `${label}[${i}] = ${actual[i]} is finite`).to.equal(true);
    expect(Math.abs(actual[i] - expected[i]), `${label}[${i}]: ${actual[i]} vs ${expected[i]}`).to.be.at.most(rtol * scale[i]);
  }
}

/** Gradients flowing into an op's outputs: the loss is sum(dMean * mean) + sum(dVar * var). */
interface Upstream {
  dMean: Float64Array;
  dVar: Float64Array;
  rows: number;
  columns: number;
}

function randomUpstream(rng: Random, rows: number, columns: number): Upstream {
  return { dMean: normalValues(rng, rows * columns), dVar: normalValues(rng, rows * columns), rows, columns };
}

function lossOf(output: Moments, upstream: Upstream): number {
  return dot(upstream.dMean, output.mean) + dot(upstream.dVar, output.var);
}

function upstreamTensors(upstream: Upstream): [Tensor, Tensor] {
  return [matrix(upstream.dMean, upstream.rows, upstream.columns), matrix(upstream.dVar, upstream.rows, upstream.columns)];
}

function expectGradientClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  if (maxAbs(expected) <= ZERO_GRADIENT) {
    expect(actual.length, `${label}: length`).to.equal(expected.length);
    expect(maxAbs(actual), `${label}: the gradient is zero`).to.be.at.most(ZERO_GRADIENT);
    return;
  }
  assertClose(actual, expected, GRADIENT_RTOL, label);
}

/** One input of a gradient check: the op's gradient, and the array the reference loss reads (stepped in place). */
type GradientCheck = [label: string, actual: number | Tensor | undefined, values: Float64Array];

function expectGradientsMatch(loss: () => number, checks: GradientCheck[]): void {
  for (const [label, actual, values] of checks) {
    expect(actual, `${label} is returned`).to.not.equal(undefined);
    const actualValues = typeof actual === 'number' ? [actual] : (actual as Tensor).toArray();
    expectGradientClose(actualValues, centralDifference(loss, values), label);
  }
}

/** The names of the entries that are present, sorted. */
function presentKeys(result: object): string[] {
  return Object.entries(result)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key)
    .sort();
}

/**
 * A noise given as a number or per column. `values` always holds it (one entry for a number), so
 * finite differences can step it; the reference and the op read it in the form given.
 */
interface Noise {
  values: Float64Array;
  scalar: boolean;
}

function referenceNoise(noise: Noise): number | Float64Array {
  return noise.scalar ? noise.values[0] : noise.values;
}

function opNoise(noise: Noise): number | Float32Array {
  return noise.scalar ? noise.values[0] : new Float32Array(noise.values);
}

function randomNoise(rng: Random, columns: number, scalar: boolean): Noise {
  return { values: uniformValues(rng, scalar ? 1 : columns, 0.1, 1), scalar };
}

/**
 * The relu moments' partial derivatives [dE/dm, dE/du, dvar/dm, dvar/du] in closed form, with
 * t = m / s: Phi(t), phi(t) / (2 s), 2 E Q(t) and Phi(t) - E phi(t) / s. Finite differences cannot
 * resolve a derivative that is tiny next to its function (dE/du = 7e-7 beside E = 5 at t = 5), so
 * the tail test takes these; the reference tests check them against finite differences.
 */
function exactReluPartials(m: number, u: number): number[] {
  const s = Math.sqrt(u);
  const t = m / s;
  const mean = reluMomentsOf(m, u).mean;
  const lower = normalTail(-t); // Phi(t)
  return [lower, normalDensity(t) / (2 * s), 2 * mean * normalTail(t), lower - (mean * normalDensity(t)) / s];
}

// ---- the reference itself ---------------------------------------------------------------------

describe('transition reference', () => {
  it('normalTail matches 50-digit values from a = 0.5 to 37, and Q(-a) = 1 - Q(a)', () => {
    const exact: [number, number][] = [
      [0.5, 0.3085375387259869],
      [1, 0.15865525393145705],
      [2.5, 0.0062096653257761352],
      [6, 9.8658764503769814e-10],
      [20, 2.7536241186062337e-89],
      [37, 5.7255712225245768e-300],
    ];
    for (const [a, tail] of exact) {
      assertClose([normalTail(a)], [tail], REFERENCE_RTOL, `Q(${a})`);
      assertClose([normalTail(-a)], [1 - tail], REFERENCE_RTOL, `Q(${-a})`);
    }
  });

  it('relu moments at t = -20 ... 6 match 50-digit values (mean and variance, unit variance)', () => {
    const exact: [number, number, number][] = [
      [-20, 1.3700124947295799e-90, 1.3599129147073809e-91],
      [-6, 1.5635697959709664e-10, 4.8445767430670779e-11],
      [-1, 0.083315470587686298, 0.068398315704523132],
      [0, 0.39894228040143268, 0.34084505690810466],
      [1, 1.0833154705876863, 0.75108780784160903],
      [6, 6.000000000156357, 0.99999999807527048],
    ];
    for (const [t, mean, variance] of exact) {
      const moments = reluMomentsOf(t, 1);
      assertClose([moments.mean], [mean], REFERENCE_RTOL, `relu mean at t = ${t}`);
      assertClose([moments.var], [variance], REFERENCE_RTOL, `relu var at t = ${t}`);
    }
  });

  it('relu scales: (m, u) = (4t, 16) gives 4 and 16 times the unit moments; u = 0 is max(m, 0) with var 0', () => {
    const unit = reluMomentsOf(-0.75, 1);
    const scaled = reluMomentsOf(-3, 16);
    assertClose([scaled.mean, scaled.var], [4 * unit.mean, 16 * unit.var], REFERENCE_RTOL, 'scaled moments');
    expect(reluMomentsOf(2.5, 0)).to.deep.equal({ mean: 2.5, var: 0 });
    expect(reluMomentsOf(-2.5, 0)).to.deep.equal({ mean: 0, var: 0 });
  });

  it('the closed-form relu partial derivatives match finite differences of reluMomentsOf', () => {
    for (const t of [-2, -0.5, 0, 0.7, 2]) {
      for (const u of [0.5, 2]) {
        const point = Float64Array.of(t * Math.sqrt(u), u);
        const ofMean = centralDifference(() => reluMomentsOf(point[0], point[1]).mean, point);
        const ofVar = centralDifference(() => reluMomentsOf(point[0], point[1]).var, point);
        assertClose(exactReluPartials(point[0], u), [...ofMean, ...ofVar], 1e-8, `partials at t = ${t}, u = ${u}`);
      }
    }
  });

  it('affine, conv, add, identity and normalize on values worked by hand', () => {
    const x: Moments = { rows: 1, columns: 2, mean: Float64Array.of(1, 2), var: Float64Array.of(3, 4) };
    const weight = Float64Array.of(1, -1, 2, 0.5);
    const affine = affineReference(x, { weight, bias: Float64Array.of(10, 20), noise: 0.5 });
    expect(Array.from(affine.mean)).to.deep.equal([9, 23]); // 1 - 2 + 10, 2 + 1 + 20
    expect(Array.from(affine.var)).to.deep.equal([7.5, 13.5]); // 3 + 4 + 0.5, 4 * 3 + 0.25 * 4 + 0.5

    const conv = convTransitionReference(Float64Array.of(3, -1, 2, 2), [2, 1, 1, 2]);
    expect(Array.from(conv.weight)).to.deep.equal([2, 4]);
    expect(Array.from(conv.weightSq)).to.deep.equal([10, 8]);

    const wide: Moments = { rows: 1, columns: 4, mean: Float64Array.of(1, 1, 1, 1), var: Float64Array.of(0, 0, 0, 0) };
    const added = addReference(wide, x);
    expect(Array.from(added.mean)).to.deep.equal([1, 2, 3, 1]);
    expect(Array.from(added.var)).to.deep.equal([0, 3, 4, 0]);

    const identity = identityReference(x, Float64Array.of(1, 2));
    expect(Array.from(identity.var)).to.deep.equal([4, 6]);

    const stats: Moments = { rows: 1, columns: 2, mean: Float64Array.of(0, 1), var: Float64Array.of(4, 1) };
    const normalized = normalizeReference(x, stats, { eps: 0, gamma: Float64Array.of(2, 3), beta: Float64Array.of(0, 1) });
    expect(Array.from(normalized.mean)).to.deep.equal([1, 4]); // 2 * (1 - 0) / 2, 3 * (2 - 1) / 1 + 1
    expect(Array.from(normalized.var)).to.deep.equal([3, 36]); // 4 * 3 / 4, 9 * 4 / 1
  });
});

// ---- affine ------------------------------------------------------------------------------------

interface AffineCase {
  label: string;
  x: Moments;
  outputs: number;
  weight: Float64Array; // [Cout, Cin]
  weightSq?: Float64Array;
  bias?: Float64Array;
  noise?: Noise;
  upstream: Upstream;
}

interface AffineParts {
  weightSq?: boolean;
  bias?: boolean;
  noise?: 'scalar' | 'per column';
}

function makeAffineCase(seed: number, rows: number, inputs: number, outputs: number, parts: AffineParts): AffineCase {
  const rng = makeRandom(seed);
  const named = [parts.weightSq && 'weightSq given', parts.bias && 'bias', parts.noise && `noise ${parts.noise}`].filter(Boolean);
  return {
    label: `[${rows}, ${inputs}] -> [${rows}, ${outputs}]${named.length ? `, ${named.join(', ')}` : ', weight only'}`,
    x: randomMoments(rng, rows, inputs),
    outputs,
    weight: normalValues(rng, outputs * inputs, 0, 0.7),
    weightSq: parts.weightSq ? uniformValues(rng, outputs * inputs, 0.1, 1) : undefined,
    bias: parts.bias ? normalValues(rng, outputs) : undefined,
    noise: parts.noise && randomNoise(rng, outputs, parts.noise === 'scalar'),
    upstream: randomUpstream(rng, rows, outputs),
  };
}

/** What the forward pass reads. */
type AffineSetup = Omit<AffineCase, 'label' | 'upstream'>;

function affineReferenceOf(c: AffineSetup): Moments {
  return affineReference(c.x, { weight: c.weight, weightSq: c.weightSq, bias: c.bias, noise: c.noise && referenceNoise(c.noise) });
}

function affineOp(c: AffineSetup) {
  const { mean, var: variance } = tensorsOf(c.x);
  return ops.affineMoments(mean, variance, {
    weight: matrix(c.weight, c.outputs, c.x.columns),
    weightSq: c.weightSq && matrix(c.weightSq, c.outputs, c.x.columns),
    bias: c.bias && new Float32Array(c.bias),
    noise: c.noise && opNoise(c.noise),
  });
}

const AFFINE_CASES: [number, number, number, AffineParts][] = [
  [2, 3, 4, {}],
  [3, 5, 2, { bias: true, noise: 'scalar' }],
  [1, 4, 6, { weightSq: true, bias: true, noise: 'per column' }],
  [2, 6, 3, { weightSq: true, noise: 'scalar' }],
  [3, 2, 5, { bias: true, noise: 'per column' }],
];

describe('affineMoments', () => {
  AFFINE_CASES.forEach(([rows, inputs, outputs, parts], index) => {
    const c = makeAffineCase(1000 + index, rows, inputs, outputs, parts);

    it(`forward ${c.label}`, () => {
      expectMomentsClose(affineOp(c), affineReferenceOf(c), c.label);
    });

    it(`backward ${c.label}: every input's gradient matches finite differences`, () => {
      const gradients = ops.affineMomentsBackward(...upstreamTensors(c.upstream), affineOp(c).saved);
      const expectedKeys = ['dMean', 'dVar', 'dWeight'];
      if (c.weightSq) expectedKeys.push('dWeightSq');
      if (c.bias) expectedKeys.push('dBias');
      if (c.noise) expectedKeys.push('dNoise');
      expect(presentKeys(gradients), 'gradients returned').to.deep.equal(expectedKeys.sort());
      if (c.noise) expect(typeof gradients.dNoise, 'dNoise type').to.equal(c.noise.scalar ? 'number' : 'object');

      const checks: GradientCheck[] = [
        ['dMean', gradients.dMean, c.x.mean],
        ['dVar', gradients.dVar, c.x.var],
        ['dWeight', gradients.dWeight, c.weight],
      ];
      if (c.weightSq) checks.push(['dWeightSq', gradients.dWeightSq, c.weightSq]);
      if (c.bias) checks.push(['dBias', gradients.dBias, c.bias]);
      if (c.noise) checks.push(['dNoise', gradients.dNoise, c.noise.values]);
      expectGradientsMatch(() => lossOf(affineReferenceOf(c), c.upstream), checks);
    });
  });
});

// ---- convolution -------------------------------------------------------------------------------

const CONV_SHAPES: [number, number, number, number][] = [
  [3, 2, 3, 3],
  [2, 4, 1, 1],
  [4, 3, 1, 3],
];

function kernelTensor(kernel: Float64Array, shape: readonly number[]): Tensor {
  return Tensor.fromArray(new Float32Array(kernel), shape);
}

describe('convTransition', () => {
  CONV_SHAPES.forEach((shape, index) => {
    const rng = makeRandom(2000 + index);
    const [outputs, inputs] = shape;
    const kernel = normalValues(rng, shape.reduce((a, b) => a * b, 1), 0, 0.5);
    const dWeight = normalValues(rng, outputs * inputs);
    const dWeightSq = normalValues(rng, outputs * inputs);
    const label = `kernel [${shape.join(', ')}]`;

    it(`forward ${label}: weight sums the taps, weightSq sums their squares`, () => {
      const actual = ops.convTransition(kernelTensor(kernel, shape));
      const expected = convTransitionReference(kernel, shape);
      expect(actual.weight.shape).to.deep.equal([outputs, inputs]);
      expect(actual.weightSq.shape).to.deep.equal([outputs, inputs]);
      assertClose(actual.weight.toArray(), expected.weight, FORWARD_RTOL, 'weight');
      assertClose(actual.weightSq.toArray(), expected.weightSq, FORWARD_RTOL, 'weightSq');
    });

    const upstreams: [string, Float64Array | null, Float64Array | null][] = [
      ['dWeight and dWeightSq', dWeight, dWeightSq],
      ['dWeight only', dWeight, null],
      ['dWeightSq only', null, dWeightSq],
    ];
    for (const [what, dW, dW2] of upstreams) {
      it(`backward ${label} from ${what}: dKernel matches finite differences`, () => {
        const dKernel = ops.convTransitionBackward(
          dW && matrix(dW, outputs, inputs),
          dW2 && matrix(dW2, outputs, inputs),
          kernelTensor(kernel, shape),
        );
        expect(dKernel.shape).to.deep.equal(shape);
        const loss = (): number => {
          const { weight, weightSq } = convTransitionReference(kernel, shape);
          return (dW ? dot(dW, weight) : 0) + (dW2 ? dot(dW2, weightSq) : 0);
        };
        expectGradientsMatch(loss, [['dKernel', dKernel, kernel]]);
      });
    }
  });

  it('chained into affineMoments: the kernel gradient through weight and weightSq matches finite differences', () => {
    const rng = makeRandom(2100);
    const shape = [3, 2, 2, 2] as const;
    const [outputs, inputs] = shape;
    const kernel = normalValues(rng, 3 * 2 * 2 * 2, 0, 0.5);
    const x = randomMoments(rng, 2, inputs);
    const upstream = randomUpstream(rng, 2, outputs);

    const kernelOnDevice = kernelTensor(kernel, shape);
    const conv = ops.convTransition(kernelOnDevice);
    const { mean, var: variance } = tensorsOf(x);
    const forward = ops.affineMoments(mean, variance, { weight: conv.weight, weightSq: conv.weightSq });
    const gradients = ops.affineMomentsBackward(...upstreamTensors(upstream), forward.saved);
    const dKernel = ops.convTransitionBackward(gradients.dWeight, gradients.dWeightSq ?? null, kernelOnDevice);

    const loss = (): number => lossOf(affineReference(x, convTransitionReference(kernel, shape)), upstream);
    expectMomentsClose(forward, affineReference(x, convTransitionReference(kernel, shape)), 'affine of conv');
    expectGradientsMatch(loss, [['dKernel', dKernel, kernel]]);
  });
});

// ---- relu --------------------------------------------------------------------------------------

/** Means at t = m / sqrt(u) drawn from [tLow, tHigh], with variances in [0.1, 4]. */
function reluMomentsAt(rng: Random, rows: number, columns: number, tLow: number, tHigh: number): Moments {
  const variance = uniformValues(rng, rows * columns, 0.1, 4);
  const t = uniformValues(rng, rows * columns, tLow, tHigh);
  const mean = variance.map((u, i) => Math.fround(t[i] * Math.sqrt(u)));
  return { rows, columns, mean, var: variance };
}

const RELU_CASES: [string, (rng: Random) => Moments][] = [
  ['random means and variances [3, 4]', (rng) => randomMoments(rng, 3, 4)],
  ['t near -6 [2, 3]', (rng) => reluMomentsAt(rng, 2, 3, -6.2, -5.8)],
  ['t near 6 [2, 3]', (rng) => reluMomentsAt(rng, 2, 3, 5.8, 6.2)],
  ['t near 0 [3, 2]', (rng) => reluMomentsAt(rng, 3, 2, -1e-3, 1e-3)],
  ['t from -3 to 3 [1, 6]', (rng) => reluMomentsAt(rng, 1, 6, -3, 3)],
];

/** The four partial derivatives of the relu moments, elementwise, read from two backward calls. */
function opReluPartials(mean: ArrayLike<number>, variance: ArrayLike<number>) {
  const count = mean.length;
  const { saved } = ops.reluMoments(matrix(mean, 1, count), matrix(variance, 1, count));
  const ones = matrix(new Float32Array(count).fill(1), 1, count);
  const ofMean = ops.reluMomentsBackward(ones, null, saved);
  const ofVar = ops.reluMomentsBackward(null, ones, saved);
  return {
    meanByM: ofMean.dMean.toArray(),
    meanByU: ofMean.dVar.toArray(),
    varByM: ofVar.dMean.toArray(),
    varByU: ofVar.dVar.toArray(),
  };
}

describe('reluMoments', () => {
  RELU_CASES.forEach(([label, makeInput], index) => {
    const rng = makeRandom(3000 + index);
    const x = makeInput(rng);
    const upstream = randomUpstream(rng, x.rows, x.columns);

    it(`forward, ${label}`, () => {
      const { mean, var: variance } = tensorsOf(x);
      expectMomentsClose(ops.reluMoments(mean, variance), reluReference(x), label);
    });

    it(`backward, ${label}: dMean and dVar match finite differences`, () => {
      const { mean, var: variance } = tensorsOf(x);
      const gradients = ops.reluMomentsBackward(...upstreamTensors(upstream), ops.reluMoments(mean, variance).saved);
      expect(presentKeys(gradients)).to.deep.equal(['dMean', 'dVar']);
      expectGradientsMatch(() => lossOf(reluReference(x), upstream), [
        ['dMean', gradients.dMean, x.mean],
        ['dVar', gradients.dVar, x.var],
      ]);
    });
  });
});

// ---- add ---------------------------------------------------------------------------------------

const ADD_SHAPES: [number, number, number][] = [
  [2, 4, 4], // rows, a's columns, b's columns
  [3, 6, 2],
  [1, 5, 3],
];

describe('addMoments', () => {
  ADD_SHAPES.forEach(([rows, aColumns, bColumns], index) => {
    const rng = makeRandom(4000 + index);
    const a = randomMoments(rng, rows, aColumns);
    const b = randomMoments(rng, rows, bColumns);
    const upstream = randomUpstream(rng, rows, aColumns);
    const label = `a [${rows}, ${aColumns}] + b [${rows}, ${bColumns}]${aColumns > bColumns ? ' (padded)' : ''}`;

    it(`forward ${label}`, () => {
      expectMomentsClose(ops.addMoments(tensorsOf(a), tensorsOf(b)), addReference(a, b), label);
    });

    it(`backward ${label}: both inputs' gradients match finite differences`, () => {
      const gradients = ops.addMomentsBackward(...upstreamTensors(upstream), ops.addMoments(tensorsOf(a), tensorsOf(b)).saved);
      expect(presentKeys(gradients)).to.deep.equal(['a', 'b']);
      expect(gradients.b.dMean.shape, "b's gradient shape").to.deep.equal([rows, bColumns]);
      expectGradientsMatch(() => lossOf(addReference(a, b), upstream), [
        ['a.dMean', gradients.a.dMean, a.mean],
        ['a.dVar', gradients.a.dVar, a.var],
        ['b.dMean', gradients.b.dMean, b.mean],
        ['b.dVar', gradients.b.dVar, b.var],
      ]);
    });
  });
});

// ---- identity ----------------------------------------------------------------------------------

const IDENTITY_CASES: [number, number, boolean][] = [
  [2, 3, true], // rows, columns, scalar noise
  [3, 4, false],
];

describe('identityMoments', () => {
  IDENTITY_CASES.forEach(([rows, columns, scalar], index) => {
    const rng = makeRandom(5000 + index);
    const x = randomMoments(rng, rows, columns);
    const noise = randomNoise(rng, columns, scalar);
    const upstream = randomUpstream(rng, rows, columns);
    const label = `[${rows}, ${columns}], noise ${scalar ? 'scalar' : 'per column'}`;
    const forward = () => {
      const { mean, var: variance } = tensorsOf(x);
      return ops.identityMoments(mean, variance, { noise: opNoise(noise) });
    };

    it(`forward ${label}`, () => {
      expectMomentsClose(forward(), identityReference(x, referenceNoise(noise)), label);
    });

    it(`backward ${label}: dMean, dVar and dNoise match finite differences`, () => {
      const gradients = ops.identityMomentsBackward(...upstreamTensors(upstream), forward().saved);
      expect(typeof gradients.dNoise, 'dNoise type').to.equal(scalar ? 'number' : 'object');
      expectGradientsMatch(() => lossOf(identityReference(x, referenceNoise(noise)), upstream), [
        ['dMean', gradients.dMean, x.mean],
        ['dVar', gradients.dVar, x.var],
        ['dNoise', gradients.dNoise, noise.values],
      ]);
    });
  });
});

// ---- normalize ---------------------------------------------------------------------------------

interface NormalizeCase {
  label: string;
  x: Moments;
  stats: Moments;
  eps?: number; // absent: the default
  gamma?: Float64Array;
  beta?: Float64Array;
  upstream: Upstream;
}

function makeNormalizeCase(seed: number, rows: number, columns: number, parts: { eps?: number; gamma?: boolean; beta?: boolean }): NormalizeCase {
  const rng = makeRandom(seed);
  const named = [parts.eps !== undefined ? `eps ${parts.eps}` : 'default eps', parts.gamma && 'gamma', parts.beta && 'beta'];
  return {
    label: `[${rows}, ${columns}], ${named.filter(Boolean).join(', ')}`,
    x: randomMoments(rng, rows, columns),
    stats: randomMoments(rng, rows, columns),
    eps: parts.eps,
    gamma: parts.gamma ? normalValues(rng, columns, 1, 0.5) : undefined,
    beta: parts.beta ? normalValues(rng, columns) : undefined,
    upstream: randomUpstream(rng, rows, columns),
  };
}

function normalizeReferenceOf(c: NormalizeCase): Moments {
  return normalizeReference(c.x, c.stats, { eps: c.eps ?? DEFAULT_EPS, gamma: c.gamma, beta: c.beta });
}

function normalizeOp(c: NormalizeCase) {
  return ops.normalizeMoments(tensorsOf(c.x), tensorsOf(c.stats), {
    eps: c.eps,
    gamma: c.gamma && new Float32Array(c.gamma),
    beta: c.beta && new Float32Array(c.beta),
  });
}

const NORMALIZE_CASES = [
  makeNormalizeCase(6000, 2, 3, { eps: 1e-3, gamma: true, beta: true }),
  makeNormalizeCase(6001, 3, 4, {}),
  makeNormalizeCase(6002, 1, 5, { eps: 0.1, gamma: true }),
  makeNormalizeCase(6003, 2, 2, { beta: true }),
];

describe('normalizeMoments', () => {
  for (const c of NORMALIZE_CASES) {
    it(`forward ${c.label}`, () => {
      expectMomentsClose(normalizeOp(c), normalizeReferenceOf(c), c.label);
    });

    it(`backward ${c.label}: x, stats, gamma and beta gradients match finite differences`, () => {
      const gradients = ops.normalizeMomentsBackward(...upstreamTensors(c.upstream), normalizeOp(c).saved);
      const expectedKeys = ['stats', 'x'];
      if (c.gamma) expectedKeys.push('dGamma');
      if (c.beta) expectedKeys.push('dBeta');
      expect(presentKeys(gradients), 'gradients returned').to.deep.equal(expectedKeys.sort());

      const checks: GradientCheck[] = [
        ['x.dMean', gradients.x.dMean, c.x.mean],
        ['x.dVar', gradients.x.dVar, c.x.var],
        ['stats.dMean', gradients.stats.dMean, c.stats.mean],
        ['stats.dVar', gradients.stats.dVar, c.stats.var],
      ];
      if (c.gamma) checks.push(['dGamma', gradients.dGamma, c.gamma]);
      if (c.beta) checks.push(['dBeta', gradients.dBeta, c.beta]);
      expectGradientsMatch(() => lossOf(normalizeReferenceOf(c), c.upstream), checks);
    });
  }
});

// ---- null upstream -----------------------------------------------------------------------------

describe('transition backward: a null dMean or dVar counts as zeros', () => {
  const rng = makeRandom(7000);
  const x = randomMoments(rng, 2, 3);
  const other = randomMoments(rng, 2, 3);
  const { mean, var: variance } = tensorsOf(x);
  const zeros = matrix(new Float32Array(6), 2, 3);
  const ones = matrix(new Float32Array(6).fill(1), 2, 3);
  const weight = matrix(normalValues(rng, 9), 3, 3);

  /** Every gradient tensor of a backward result, flattened in key order. */
  function flatten(result: object): number[] {
    return Object.values(result).flatMap((value) =>
      value instanceof Tensor ? Array.from(value.toArray()) : typeof value === 'number' ? [value] : flatten(value),
    );
  }

  const backwards: [string, (dMean: Tensor | null, dVar: Tensor | null) => object][] = [
    ['affine', (dMean, dVar) => ops.affineMomentsBackward(dMean, dVar, ops.affineMoments(mean, variance, { weight, noise: 0.5 }).saved)],
    ['relu', (dMean, dVar) => ops.reluMomentsBackward(dMean, dVar, ops.reluMoments(mean, variance).saved)],
    ['add', (dMean, dVar) => ops.addMomentsBackward(dMean, dVar, ops.addMoments(tensorsOf(x), tensorsOf(other)).saved)],
    ['identity', (dMean, dVar) => ops.identityMomentsBackward(dMean, dVar, ops.identityMoments(mean, variance, { noise: 0.5 }).saved)],
    ['normalize', (dMean, dVar) => ops.normalizeMomentsBackward(dMean, dVar, ops.normalizeMoments(tensorsOf(x), tensorsOf(other)).saved)],
  ];
  for (const [name, backward] of backwards) {
    it(name, () => {
      expect(flatten(backward(null, ones)), 'dMean = null').to.deep.equal(flatten(backward(zeros, ones)));
      expect(flatten(backward(ones, null)), 'dVar = null').to.deep.equal(flatten(backward(ones, zeros)));
    });
  }
});

// ---- Monte Carlo -------------------------------------------------------------------------------

/** A sample's mean and variance with their standard errors, sqrt(var / n) and sqrt((mu4 - var^2) / n). */
function sampleMoments(samples: Float64Array) {
  const n = samples.length;
  let sum = 0;
  for (const value of samples) sum += value;
  const mean = sum / n;
  let secondMoment = 0;
  let fourthMoment = 0;
  for (const value of samples) {
    const squared = (value - mean) ** 2;
    secondMoment += squared;
    fourthMoment += squared * squared;
  }
  const variance = secondMoment / n;
  return {
    mean,
    var: variance,
    meanError: Math.sqrt(variance / n),
    varError: Math.sqrt((fourthMoment / n - variance * variance) / n),
  };
}

/** The closed-form moments (op and reference) of each column within STANDARD_ERRORS of its samples. */
function expectMatchesSamples(samples: Float64Array[], closedForms: [string, ArrayLike<number>, ArrayLike<number>][]): void {
  samples.forEach((columnSamples, column) => {
    const sample = sampleMoments(columnSamples);
    for (const [source, mean, variance] of closedForms) {
      const where = `${source}, column ${column}`;
      expect(Math.abs(mean[column] - sample.mean), `${where}: mean ${mean[column]} vs sample ${sample.mean}`).to.be.at.most(
        STANDARD_ERRORS * sample.meanError,
      );
      expect(Math.abs(variance[column] - sample.var), `${where}: var ${variance[column]} vs sample ${sample.var}`).to.be.at.most(
        STANDARD_ERRORS * sample.varError,
      );
    }
  });
}

describe(`Monte Carlo: the closed forms match ${MONTE_CARLO_SAMPLES} samples within ${STANDARD_ERRORS} standard errors`, () => {
  it('relu of N(m, u) for (m, u) = (0.3, 1), (-1, 4), (2, 0.25), (0, 1), (-2.5, 1): reference and op', () => {
    const rng = makeRandom(8000);
    const x: Moments = { rows: 1, columns: 5, mean: Float64Array.of(0.3, -1, 2, 0, -2.5), var: Float64Array.of(1, 4, 0.25, 1, 1) };
    const samples = Array.from(x.mean, (m, i) =>
      Float64Array.from({ length: MONTE_CARLO_SAMPLES }, () => Math.max(0, m + Math.sqrt(x.var[i]) * rng.normal())),
    );
    const op = ops.reluMoments(tensorsOf(x).mean, tensorsOf(x).var);
    const reference = reluReference(x);
    expectMatchesSamples(samples, [
      ['reference', reference.mean, reference.var],
      ['op', op.mean.toArray(), op.var.toArray()],
    ]);
  });

  it('affine [1, 3] -> [1, 2] with bias and per-column noise: y = W z + b + sqrt(r) e; reference and op', () => {
    const rng = makeRandom(8001);
    const x: Moments = { rows: 1, columns: 3, mean: Float64Array.of(0.5, -1, 2), var: Float64Array.of(1, 0.25, 2) };
    const c: AffineSetup = {
      x,
      outputs: 2,
      weight: Float64Array.of(0.75, -0.5, 0.25, 1.25, 0.375, -0.625),
      bias: Float64Array.of(0.125, -0.25),
      noise: { values: Float64Array.of(0.3, 0.05).map(Math.fround), scalar: false },
    };
    const noise = c.noise!.values;
    const samples = [new Float64Array(MONTE_CARLO_SAMPLES), new Float64Array(MONTE_CARLO_SAMPLES)];
    const z = new Float64Array(3);
    for (let k = 0; k < MONTE_CARLO_SAMPLES; k++) {
      for (let i = 0; i < 3; i++) z[i] = x.mean[i] + Math.sqrt(x.var[i]) * rng.normal();
      for (let o = 0; o < 2; o++) {
        samples[o][k] = c.bias![o] + Math.sqrt(noise[o]) * rng.normal();
        for (let i = 0; i < 3; i++) samples[o][k] += c.weight[o * 3 + i] * z[i];
      }
    }
    const op = affineOp(c);
    const reference = affineReferenceOf(c);
    expectMatchesSamples(samples, [
      ['reference', reference.mean, reference.var],
      ['op', op.mean.toArray(), op.var.toArray()],
    ]);
  });
});

// ---- stability ---------------------------------------------------------------------------------

describe('stability', () => {
  it('relu at var = 0: E = max(m, 0), var = 0, and the decided derivatives (dvar/du = 1/2 - 1/(2 pi) at m = 0)', () => {
    const mean = [-2, 0, 3, -0.5, 1e-3];
    const variance = new Array(mean.length).fill(0);
    const forward = ops.reluMoments(matrix(mean, 1, 5), matrix(variance, 1, 5));
    expect(Array.from(forward.mean.toArray()), 'E').to.deep.equal([0, 0, 3, 0, Math.fround(1e-3)]);
    expect(Array.from(forward.var.toArray()), 'var').to.deep.equal([0, 0, 0, 0, 0]);

    const partials = opReluPartials(mean, variance);
    const atZero = 0.5 - 1 / (2 * Math.PI);
    assertClose(partials.meanByM, [0, 0, 1, 0, 1], 1e-6, 'dE/dm = [m > 0]');
    assertClose(partials.meanByU, [0, 0, 0, 0, 0], 0, 'dE/du = 0');
    assertClose(partials.varByM, [0, 0, 0, 0, 0], 0, 'dvar/dm = 0');
    assertClose(partials.varByU, [0, atZero, 1, 0, 1], 1e-6, 'dvar/du');
  });

  it('relu at |mean| / sqrt(var) = 40: finite, E = max(m, 0) and var = u [m > 0] to float32 precision, limit derivatives', () => {
    const mean = [40, -40, 0.4, -0.4, 4000, -4000];
    const variance = [1, 1, 1e-4, 1e-4, 1e4, 1e4];
    const forward = ops.reluMoments(matrix(mean, 1, 6), matrix(variance, 1, 6));
    const reference = reluReference({ rows: 1, columns: 6, mean: Float64Array.from(mean), var: Float64Array.from(variance) });
    const meanScale = mean.map((m, i) => Math.abs(m) + Math.sqrt(variance[i]));
    expectWithinScale(forward.mean.toArray(), reference.mean, meanScale, FORWARD_RTOL, 'E');
    expectWithinScale(forward.var.toArray(), reference.var, variance, FORWARD_RTOL, 'var');

    const partials = opReluPartials(mean, variance);
    const positive = mean.map((m) => (m > 0 ? 1 : 0));
    const zero = mean.map(() => 0);
    const ones = mean.map(() => 1);
    expectWithinScale(partials.meanByM, positive, ones, ZERO_GRADIENT, 'dE/dm');
    expectWithinScale(partials.meanByU, zero, ones, ZERO_GRADIENT, 'dE/du');
    expectWithinScale(partials.varByM, zero, ones, ZERO_GRADIENT, 'dvar/dm');
    expectWithinScale(partials.varByU, positive, ones, ZERO_GRADIENT, 'dvar/du');
  });

  it('relu at var = 1e-30: E to 1e-5 of |m| + sqrt(u) and var to 1e-5 of u, derivatives finite', () => {
    const mean = [1, -1, 0, 1e-15, -1e-15];
    const variance = new Array(mean.length).fill(1e-30);
    const forward = ops.reluMoments(matrix(mean, 1, 5), matrix(variance, 1, 5));
    const x: Moments = { rows: 1, columns: 5, mean: Float64Array.from(mean, Math.fround), var: Float64Array.from(variance, Math.fround) };
    const reference = reluReference(x);
    const meanScale = x.mean.map((m, i) => Math.abs(m) + Math.sqrt(x.var[i]));
    expectWithinScale(forward.mean.toArray(), reference.mean, meanScale, FORWARD_RTOL, 'E');
    expectWithinScale(forward.var.toArray(), reference.var, x.var, FORWARD_RTOL, 'var');

    for (const [name, values] of Object.entries(opReluPartials(mean, variance))) {
      expect(Array.from(values).every(Number.isFinite), `${name} finite: ${Array.from(values)}`).to.equal(true);
    }
  });

  it('relu keeps every moment and partial derivative to 1e-5 of its own value for t from -10 to 10', () => {
    // Far into either tail E, var and their derivatives are tiny differences of large terms.
    const t = Array.from({ length: 41 }, (_, i) => -10 + i / 2);
    const variance = t.map((_, i) => Math.fround(0.1 + (i % 7) / 2));
    const mean = t.map((value, i) => Math.fround(value * Math.sqrt(variance[i])));
    const forward = ops.reluMoments(matrix(mean, 1, t.length), matrix(variance, 1, t.length));
    const expected = mean.map((m, i) => reluMomentsOf(m, variance[i]));
    const expectedMean = expected.map((moments) => moments.mean);
    const expectedVar = expected.map((moments) => moments.var);
    expectWithinScale(forward.mean.toArray(), expectedMean, expectedMean, FORWARD_RTOL, 'E');
    expectWithinScale(forward.var.toArray(), expectedVar, expectedVar, FORWARD_RTOL, 'var');

    const partials = opReluPartials(mean, variance);
    mean.forEach((m, i) => {
      const actual = [partials.meanByM[i], partials.meanByU[i], partials.varByM[i], partials.varByU[i]];
      const exact = exactReluPartials(m, variance[i]);
      expectWithinScale(actual, exact, exact, FORWARD_RTOL, `t = ${t[i]}: dE/dm, dE/du, dvar/dm, dvar/du`);
    });
  });

  it('affine with weightSq = weight o weight given equals the default, and dWeight (default) = dWeight + 2 weight o dWeightSq (given)', () => {
    const c = makeAffineCase(9000, 2, 3, 4, { bias: true, noise: 'per column' });
    const squared: AffineSetup = { ...c, weightSq: c.weight.map((w) => Math.fround(w * w)) };
    const defaulted = affineOp(c);
    const given = affineOp(squared);
    assertClose(given.mean.toArray(), defaulted.mean.toArray(), 1e-6, 'mean');
    assertClose(given.var.toArray(), defaulted.var.toArray(), 1e-6, 'var');

    const upstream = upstreamTensors(c.upstream);
    const fromDefault = ops.affineMomentsBackward(...upstream, defaulted.saved);
    const fromGiven = ops.affineMomentsBackward(...upstream, given.saved);
    expect(fromDefault.dWeightSq, 'no dWeightSq when weightSq is defaulted').to.equal(undefined);
    const givenWeightSq = fromGiven.dWeightSq?.toArray() ?? [];
    const combined = Array.from(fromGiven.dWeight.toArray(), (dw, i) => dw + 2 * c.weight[i] * givenWeightSq[i]);
    assertClose(fromDefault.dWeight.toArray(), combined, 1e-6, 'dWeight');
    assertClose(fromDefault.dVar.toArray(), fromGiven.dVar.toArray(), 1e-6, 'dVar');
  });

  it('add places a narrower b in the middle columns [(Ca - Cb) / 2, (Ca + Cb) / 2) and gathers its gradient from there', () => {
    const rows = 2;
    const zeros = new Float32Array(rows * 6);
    const a = { mean: matrix(zeros, rows, 6), var: matrix(zeros, rows, 6) };
    const b = { mean: matrix([1, 2, 3, 4], rows, 2), var: matrix([5, 6, 7, 8], rows, 2) };
    const forward = ops.addMoments(a, b);
    expect(Array.from(forward.mean.toArray())).to.deep.equal([0, 0, 1, 2, 0, 0, 0, 0, 3, 4, 0, 0]);
    expect(Array.from(forward.var.toArray())).to.deep.equal([0, 0, 5, 6, 0, 0, 0, 0, 7, 8, 0, 0]);

    const columnIndex = matrix(Array.from({ length: rows * 6 }, (_, i) => i), rows, 6);
    const gradients = ops.addMomentsBackward(columnIndex, columnIndex, forward.saved);
    expect(Array.from(gradients.b.dMean.toArray())).to.deep.equal([2, 3, 8, 9]);
    expect(Array.from(gradients.b.dVar.toArray())).to.deep.equal([2, 3, 8, 9]);
  });

  it('a negative host variance is rejected naming variance (issue 12); NaN is data: affine maps it linearly', () => {
    const x: Moments = { rows: 1, columns: 2, mean: Float64Array.of(1, 2), var: Float64Array.of(-1, 3) };
    const weight = Float64Array.of(1, 2, -1, 0.5);
    expect(() => ops.affineMoments(tensorsOf(x).mean, tensorsOf(x).var, { weight: matrix(weight, 2, 2) })).to.throw(RangeError, /^variance: /);
    const nan: Moments = { ...x, var: Float64Array.of(NaN, 3) };
    const actual = ops.affineMoments(tensorsOf(nan).mean, tensorsOf(nan).var, { weight: matrix(weight, 2, 2) });
    expect(Array.from(actual.var.toArray()).every(Number.isNaN), 'NaN propagates to both outputs').to.equal(true);
  });
});

// ---- bad input ---------------------------------------------------------------------------------

describe('transition bad input: RangeError or TypeError naming the argument first', () => {
  const rows = 2;
  const inputs = 3;
  const outputs = 4;
  const filled = (shape: number[], value = 0.5) => Tensor.fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), shape);
  const mean = filled([rows, inputs]);
  const variance = filled([rows, inputs]);
  const weight = filled([outputs, inputs]);
  const moments = { mean, var: variance };
  const affine = () => ops.affineMoments(mean, variance, { weight });

  const cases: { what: string; kind: typeof RangeError | typeof TypeError; argument: RegExp; call: () => unknown }[] = [
    { what: 'affine: weight with the wrong Cin', kind: RangeError, argument: /^weight: /, call: () => ops.affineMoments(mean, variance, { weight: filled([outputs, inputs + 1]) }) },
    { what: 'affine: weight not a tensor', kind: TypeError, argument: /^weight: /, call: () => ops.affineMoments(mean, variance, { weight: new Float32Array(12) as never }) },
    { what: 'affine: variance of another shape than mean', kind: RangeError, argument: /^variance: /, call: () => ops.affineMoments(mean, filled([rows, inputs + 1]), { weight }) },
    { what: 'affine: weightSq of another shape than weight', kind: RangeError, argument: /^weightSq: /, call: () => ops.affineMoments(mean, variance, { weight, weightSq: filled([outputs, inputs + 1]) }) },
    { what: 'affine: bias of the wrong length', kind: RangeError, argument: /^bias: /, call: () => ops.affineMoments(mean, variance, { weight, bias: new Float32Array(outputs + 1) }) },
    { what: 'affine: noise of the wrong length', kind: RangeError, argument: /^noise: /, call: () => ops.affineMoments(mean, variance, { weight, noise: new Float32Array(outputs - 1) }) },
    { what: 'affine: negative noise', kind: RangeError, argument: /^noise: /, call: () => ops.affineMoments(mean, variance, { weight, noise: -0.1 }) },
    { what: 'affine backward: dMean of the input shape instead of the output shape', kind: RangeError, argument: /^dMean: /, call: () => ops.affineMomentsBackward(filled([rows, inputs]), null, affine().saved) },
    { what: 'affine backward: dVar of the wrong shape', kind: RangeError, argument: /^dVar: /, call: () => ops.affineMomentsBackward(null, filled([rows + 1, outputs]), affine().saved) },
    { what: 'conv: a kernel of rank 1', kind: RangeError, argument: /^kernel: /, call: () => ops.convTransition(filled([6])) },
    { what: 'conv backward: dWeight of the wrong shape', kind: RangeError, argument: /^dWeight: /, call: () => ops.convTransitionBackward(filled([inputs, outputs]), null, filled([outputs, inputs, 3, 3])) },
    { what: 'conv backward: dWeightSq of the wrong shape', kind: RangeError, argument: /^dWeightSq: /, call: () => ops.convTransitionBackward(null, filled([outputs, inputs + 1]), filled([outputs, inputs, 3, 3])) },
    { what: 'relu: variance of another shape than mean', kind: RangeError, argument: /^variance: /, call: () => ops.reluMoments(mean, filled([rows + 1, inputs])) },
    { what: 'relu backward: dMean of the wrong shape', kind: RangeError, argument: /^dMean: /, call: () => ops.reluMomentsBackward(filled([rows, inputs + 1]), null, ops.reluMoments(mean, variance).saved) },
    { what: 'add: a.var of another shape than a.mean', kind: RangeError, argument: /^a\.var: /, call: () => ops.addMoments({ mean, var: filled([rows, inputs + 1]) }, moments) },
    { what: 'add: b with other rows', kind: RangeError, argument: /^b(\.mean)?: /, call: () => ops.addMoments(moments, { mean: filled([rows + 1, inputs]), var: filled([rows + 1, inputs]) }) },
    { what: 'add: b with more columns than a', kind: RangeError, argument: /^b(\.mean)?: /, call: () => ops.addMoments(moments, { mean: filled([rows, inputs + 2]), var: filled([rows, inputs + 2]) }) },
    { what: 'add: b fewer columns by an odd number', kind: RangeError, argument: /^b(\.mean)?: /, call: () => ops.addMoments(moments, { mean: filled([rows, inputs - 1]), var: filled([rows, inputs - 1]) }) },
    { what: 'identity: noise of the wrong length', kind: RangeError, argument: /^noise: /, call: () => ops.identityMoments(mean, variance, { noise: new Float32Array(inputs + 1) }) },
    { what: 'identity: negative noise', kind: RangeError, argument: /^noise: /, call: () => ops.identityMoments(mean, variance, { noise: new Float32Array(inputs).fill(-1) }) },
    { what: 'identity: variance of another shape than mean', kind: RangeError, argument: /^variance: /, call: () => ops.identityMoments(mean, filled([rows, inputs + 1]), { noise: 0 }) },
    { what: 'normalize: x.var of another shape than x.mean', kind: RangeError, argument: /^x\.var: /, call: () => ops.normalizeMoments({ mean, var: filled([rows + 1, inputs]) }, moments) },
    { what: 'normalize: stats of another shape than x', kind: RangeError, argument: /^stats(\.mean)?: /, call: () => ops.normalizeMoments(moments, { mean: filled([rows, inputs + 1]), var: filled([rows, inputs + 1]) }) },
    { what: 'normalize: stats.var of another shape than x', kind: RangeError, argument: /^stats\.var: /, call: () => ops.normalizeMoments(moments, { mean, var: filled([rows, inputs + 1]) }) },
    { what: 'normalize: gamma of the wrong length', kind: RangeError, argument: /^gamma: /, call: () => ops.normalizeMoments(moments, moments, { gamma: new Float32Array(inputs + 1) }) },
    { what: 'normalize: beta of the wrong length', kind: RangeError, argument: /^beta: /, call: () => ops.normalizeMoments(moments, moments, { beta: new Float32Array(inputs - 1) }) },
    { what: 'normalize: eps = 0', kind: RangeError, argument: /^eps: /, call: () => ops.normalizeMoments(moments, moments, { eps: 0 }) },
  ];
  for (const c of cases) {
    it(`${c.what}: ${c.kind.name} ${c.argument.source}`, () => {
      expect(c.call).to.throw(c.kind, c.argument);
    });
  }
});
