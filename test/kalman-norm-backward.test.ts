/**
 * The addon's backward pass (float32) against the exact gradient of the float64 reference:
 * central finite differences of referenceForward on small shapes, referenceBackward (the spec's
 * formulas, themselves checked against finite differences in reference.test.ts) on shapes large
 * enough for the chunked, multi-threaded reductions, and the API around backward: out tensors,
 * a wrong saved state or dy, determinism.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../lib';
import type { NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../lib';
import { Layout, ReferenceInput, geometryOf, guardRatio, referenceForward, unitStatistics } from './reference/kalman-norm-reference';
import { referenceBackward } from './reference/kalman-norm-gradients';
import { assertClose } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';

/** The issue's bound on the normwise relative error of every float32 gradient. */
const GRADIENT_RTOL = 1e-4;
/**
 * An analytically zero gradient comes out of finite differences as float64 rounding noise, where a
 * relative error means nothing: then both gradients must merely stay below this absolute level.
 */
const ZERO_GRADIENT = 1e-6;
/** Every relu pre-activation is kept at least this far from the kink at 0. */
const KINK_MARGIN = 1e-3;
/** A prior variance large enough to fire the default guard (tau = 100) by orders of magnitude. */
const HUGE_PRIOR_VAR = 1e6;

type GradientName = 'dx' | 'dGamma' | 'dBeta' | 'dPriorMean' | 'dPriorVar' | 'dGain' | 'dResidual';
type Gradients = Partial<Record<GradientName, ArrayLike<number>>>;

/** One way to set up a layer; the sweeps below pair it with an op and a layout. */
interface Variant {
  shape: number[];
  groups: number; // GKN's G
  virtualBatch?: number; // KN's v; default N
  prior: 'none' | 'per unit' | 'per column';
  gain: 0.1 | 1 | 'per column';
  relu: boolean; // the relu + residual epilogue
  affine: boolean; // gamma and beta
  statisticGradients: boolean; // dMean and dVar flow back as well as dy
}

interface CaseSpec extends Variant {
  kind: 'kn' | 'gkn';
  layout: Layout;
  seed: number;
  training?: boolean; // default true
  priorVar?: number; // fills the prior variance instead of drawing it
  xMean?: number;
  xStd?: number;
}

/** Gradients flowing into the outputs: the loss is sum(dy*y) + sum(dMean*mean) + sum(dVar*var). */
interface Upstream {
  dy: Float64Array;
  dMean?: Float64Array;
  dVar?: Float64Array;
}

/** Float64 arrays for the reference, every value exactly a float32, so the addon sees the same data. */
interface TestCase {
  input: ReferenceInput;
  upstream: Upstream;
}

function product(values: number[]): number {
  return values.reduce((result, value) => result * value, 1);
}

function normalArray(rng: Random, length: number, mean: number, std: number): Float64Array {
  return randomArray(rng, length, { mean, std }).map(Math.fround);
}

function uniformArray(rng: Random, length: number, low: number, high: number): Float64Array {
  const values = new Float64Array(length);
  for (let i = 0; i < length; i++) values[i] = Math.fround(low + (high - low) * rng.uniform());
  return values;
}

function maxAbs(values: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]));
  return largest;
}

/**
 * Moves residual entries whose relu pre-activation lies within KINK_MARGIN of 0 up by 10 margins.
 * The statistics depend on x alone, so this shifts exactly those pre-activations and nothing else.
 */
function keepAwayFromReluKink(input: ReferenceInput): void {
  const residual = input.residual;
  if (input.activation !== 'relu' || !residual) return;
  const preActivation = referenceForward({ ...input, activation: 'identity' }).y;
  preActivation.forEach((value, i) => {
    if (Math.abs(value) < KINK_MARGIN) residual[i] = Math.fround(residual[i] + 10 * KINK_MARGIN);
  });
}

/** The guard's statistic r for the input's data and prior (0 without a prior). */
function guardStatistic(input: ReferenceInput): number {
  const { priorVar, observedVar } = unitStatistics(input, geometryOf(input));
  return priorVar ? guardRatio(priorVar, observedVar, input) : 0;
}

/** Seeded data for `spec`, away from the relu kink and from the guard's threshold. */
function makeCase(spec: CaseSpec): TestCase {
  const rng = makeRandom(spec.seed);
  const [batch, channels] = spec.shape;
  const size = product(spec.shape);
  const kn = spec.kind === 'kn';
  const training = spec.training ?? true;
  const virtualBatch = spec.virtualBatch ?? batch;
  const rows = kn ? batch / virtualBatch : batch;
  const columns = kn ? channels : spec.groups;
  const priorLength = spec.prior === 'per unit' ? rows * columns : columns;
  const input: ReferenceInput = {
    kind: spec.kind,
    x: normalArray(rng, size, spec.xMean ?? 0.5, spec.xStd ?? 2),
    shape: spec.shape,
    layout: spec.layout,
    training,
    eps: 1e-5,
    virtualBatch: kn ? virtualBatch : undefined,
    groups: kn ? undefined : spec.groups,
    gain: spec.gain === 'per column' ? uniformArray(rng, columns, 0.05, 0.95) : spec.gain,
    prior:
      spec.prior === 'none'
        ? undefined
        : {
            mean: normalArray(rng, priorLength, 0, 1),
            var: spec.priorVar === undefined ? uniformArray(rng, priorLength, 0.5, 2) : new Float64Array(priorLength).fill(spec.priorVar),
          },
    guard: 100,
    gamma: spec.affine ? normalArray(rng, channels, 1, 0.5) : undefined,
    beta: spec.affine ? normalArray(rng, channels, 0, 1) : undefined,
    residual: spec.relu ? normalArray(rng, size, 0, 1) : undefined,
    activation: spec.relu ? 'relu' : 'identity',
    runningMean: kn && !training ? normalArray(rng, channels, 0.5, 1) : undefined,
    runningVar: kn && !training ? uniformArray(rng, channels, 2, 6) : undefined,
    momentum: 0.1,
  };
  keepAwayFromReluKink(input);
  // Finite differences must not step across the guard's threshold: keep r a decade away from tau.
  if (input.prior) expect(Math.abs(Math.log10(guardStatistic(input) / input.guard)), 'log10(r / tau)').to.be.above(1);
  const units = rows * columns;
  const upstream: Upstream = { dy: normalArray(rng, size, 0, 1) };
  if (spec.statisticGradients) {
    upstream.dMean = normalArray(rng, units, 0, 1);
    upstream.dVar = normalArray(rng, units, 0, 1);
  }
  return { input, upstream };
}

function float32(values: Float64Array): Float32Array;
function float32(values: Float64Array | undefined): Float32Array | undefined;
function float32(values: Float64Array | undefined): Float32Array | undefined {
  return values && new Float32Array(values);
}

function tensorLike(input: ReferenceInput, values: Float64Array): Tensor {
  return Tensor.fromArray(new Float32Array(values), input.shape, { layout: input.layout });
}

/**
 * The addon's forward pass on float32 copies of the reference's input. The gain goes in as a
 * Float32Array, or as a Tensor when `gainAsTensor`.
 */
function addonForward(input: ReferenceInput, gainAsTensor = false): NormResult {
  const gain = input.gain;
  const common: NormOptions = {
    training: input.training,
    eps: input.eps,
    gain: typeof gain === 'number' ? gain : gainAsTensor ? Tensor.fromArray(float32(gain), [gain.length]) : float32(gain),
    prior: input.prior && { mean: float32(input.prior.mean), var: float32(input.prior.var) },
    guard: input.guard,
    gamma: float32(input.gamma),
    beta: float32(input.beta),
    residual: input.residual && tensorLike(input, input.residual),
    activation: input.activation,
  };
  const x = tensorLike(input, input.x);
  if (input.kind === 'gkn') return ops.groupKalmanNorm(x, { ...common, groups: input.groups ?? 0 });
  return ops.kalmanNorm(x, {
    ...common,
    virtualBatch: input.virtualBatch,
    runningMean: float32(input.runningMean),
    runningVar: float32(input.runningVar),
    momentum: input.momentum,
  });
}

function addonBackward(
  input: ReferenceInput,
  forward: NormResult,
  upstream: Upstream,
  out?: NormBackwardOptions['out'],
): NormGradients {
  const dy = tensorLike(input, upstream.dy);
  const options = { dMean: float32(upstream.dMean), dVar: float32(upstream.dVar), out };
  return input.kind === 'kn'
    ? ops.kalmanNormBackward(dy, forward.saved, options)
    : ops.groupKalmanNormBackward(dy, forward.saved, options);
}

/** The addon's gradients as plain arrays; a scalar dGain becomes a one-element array. */
function gradientArrays(gradients: NormGradients): Gradients {
  const { dGain, ...tensors } = gradients;
  const arrays: Gradients = {};
  for (const [name, tensor] of Object.entries(tensors)) arrays[name as GradientName] = tensor.toArray();
  if (dGain !== undefined) arrays.dGain = typeof dGain === 'number' ? [dGain] : dGain.toArray();
  return arrays;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function lossOf(input: ReferenceInput, upstream: Upstream): number {
  const output = referenceForward(input);
  let loss = dot(upstream.dy, output.y);
  if (upstream.dMean) loss += dot(upstream.dMean, output.mean);
  if (upstream.dVar) loss += dot(upstream.dVar, output.var);
  return loss;
}

/**
 * Central differences of the loss with respect to every input it depends on. The prior and the
 * gain count only with a prior; a scalar gain is stepped through a one-element array.
 */
function numericGradients(input: ReferenceInput, upstream: Upstream): Map<GradientName, Float64Array> {
  const scalarGain = typeof input.gain === 'number' ? Float64Array.of(input.gain) : null;
  const loss = (): number => lossOf(scalarGain ? { ...input, gain: scalarGain[0] } : input, upstream);
  const inputs: [GradientName, Float64Array | undefined][] = [
    ['dx', input.x],
    ['dGamma', input.gamma],
    ['dBeta', input.beta],
    ['dResidual', input.residual],
    ['dPriorMean', input.prior?.mean],
    ['dPriorVar', input.prior?.var],
    ['dGain', input.prior && (scalarGain ?? (input.gain as Float64Array))],
  ];
  const gradients = new Map<GradientName, Float64Array>();
  for (const [name, values] of inputs) if (values) gradients.set(name, centralDifference(loss, values));
  return gradients;
}

function expectGradientClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  if (maxAbs(expected) <= ZERO_GRADIENT) {
    expect(actual.length, `${label} length`).to.equal(expected.length);
    expect(maxAbs(actual), `${label}: the gradient is zero`).to.be.at.most(ZERO_GRADIENT);
    return;
  }
  assertClose(actual, expected, GRADIENT_RTOL, label);
}

function expectAllZero(values: ArrayLike<number> | undefined, label: string): void {
  expect(values, label).to.not.equal(undefined);
  expect(maxAbs(values ?? []), label).to.equal(0);
}

/** The addon returns exactly the gradients the loss has, each matching finite differences. */
function checkAgainstFiniteDifferences({ input, upstream }: TestCase): NormGradients {
  const forward = addonForward(input);
  expect(forward.guardFired, 'guardFired').to.equal(referenceForward(input).guardFired);
  const gradients = addonBackward(input, forward, upstream);
  const expectedGainType = input.prior === undefined ? 'undefined' : typeof input.gain === 'number' ? 'number' : 'object';
  expect(typeof gradients.dGain, 'type of dGain').to.equal(expectedGainType);
  const actual = gradientArrays(gradients);
  const numeric = numericGradients(input, upstream);
  expect(Object.keys(actual).sort(), 'gradients returned').to.deep.equal([...numeric.keys()].sort());
  for (const [name, expected] of numeric) expectGradientClose(actual[name] ?? [], expected, name);
  return gradients;
}

/** The named addon gradients against referenceBackward. */
function checkAgainstReference({ input, upstream }: TestCase, names: GradientName[]): void {
  const expected: Gradients = referenceBackward(input, upstream.dy, upstream.dMean, upstream.dVar);
  const actual = gradientArrays(addonBackward(input, addonForward(input), upstream));
  for (const name of names) assertClose(actual[name] ?? [], expected[name] ?? [], GRADIENT_RTOL, name);
}

function columnName(kind: 'kn' | 'gkn'): string {
  return kind === 'kn' ? 'channel' : 'group';
}

function describeCase(spec: CaseSpec): string {
  const parts = [`${spec.kind} ${spec.layout} [${spec.shape.join(', ')}]`];
  if (spec.kind === 'kn') parts.push(`v = ${spec.virtualBatch ?? spec.shape[0]}`);
  else parts.push(`G = ${spec.groups}`);
  if (spec.training === false) parts.push('inference');
  const column = columnName(spec.kind);
  parts.push(spec.prior === 'none' ? 'no prior' : `prior ${spec.prior === 'per unit' ? 'per unit' : `per ${column}`}`);
  if (spec.prior !== 'none') parts.push(spec.gain === 'per column' ? `gain per ${column}` : `gain ${spec.gain}`);
  parts.push(spec.relu ? 'relu + residual' : 'identity');
  parts.push(spec.affine ? 'affine' : 'no affine');
  parts.push(spec.statisticGradients ? 'dy, dMean, dVar' : 'dy only');
  return parts.join(', ');
}

const KINDS = ['kn', 'gkn'] as const;
const LAYOUTS = ['NCHW', 'NHWC'] as const;

// S = 5 with 3 groups of 1 channel, S = 9 with 2 groups of 2, and a fully connected layer (S = 1).
// No unit holds fewer than 4 elements: with 2, BN's output barely depends on x and float32 dx is noise.
const SMALL = { shape: [2, 3, 5], groups: 3 };
const SQUARE = { shape: [4, 4, 3, 3], groups: 2 };
const DENSE = { shape: [4, 8], groups: 2 };
// KN ghost batches: v = N / 2 (ignored by GKN).
const SMALL_GHOSTS = { ...SMALL, virtualBatch: 1 };
const SQUARE_GHOSTS = { ...SQUARE, virtualBatch: 2 };

// Every factor value appears in some row; each row runs for both ops and both layouts.
const VARIANTS: Variant[] = [
  { ...SMALL_GHOSTS, prior: 'per unit', gain: 0.1, relu: false, affine: true, statisticGradients: true },
  { ...SQUARE_GHOSTS, prior: 'per column', gain: 'per column', relu: true, affine: true, statisticGradients: true },
  { ...SQUARE_GHOSTS, prior: 'none', gain: 0.1, relu: true, affine: false, statisticGradients: false },
  { ...DENSE, prior: 'per unit', gain: 1, relu: true, affine: false, statisticGradients: true },
  { ...SMALL, prior: 'per column', gain: 0.1, relu: false, affine: false, statisticGradients: false },
  { ...DENSE, prior: 'none', gain: 'per column', relu: false, affine: true, statisticGradients: true },
  { ...SQUARE_GHOSTS, prior: 'per unit', gain: 'per column', relu: true, affine: true, statisticGradients: false },
  { ...SMALL_GHOSTS, prior: 'per column', gain: 1, relu: false, affine: true, statisticGradients: true },
];

describe('backward: the addon matches finite differences of the float64 reference', () => {
  let seed = 100;
  for (const kind of KINDS) {
    for (const layout of LAYOUTS) {
      for (const variant of VARIANTS) {
        const spec: CaseSpec = { ...variant, kind, layout, seed: seed++ };
        it(describeCase(spec), () => {
          checkAgainstFiniteDifferences(makeCase(spec));
        });
      }
    }
  }
});

describe('backward: the guard', () => {
  let seed = 200;
  for (const kind of KINDS) {
    for (const layout of LAYOUTS) {
      const spec: CaseSpec = {
        ...SQUARE_GHOSTS, kind, layout, seed: seed++, prior: 'per unit', gain: 'per column',
        relu: true, affine: true, statisticGradients: true, priorVar: HUGE_PRIOR_VAR,
      };
      it(`${kind} ${layout}: when it fires the prior and gain get zero gradients and the rest is the no-prior gradient`, () => {
        const testCase = makeCase(spec);
        const { input, upstream } = testCase;
        expect(referenceForward(input).guardFired, 'the guard fired').to.equal(true);
        const fired = gradientArrays(checkAgainstFiniteDifferences(testCase));
        for (const name of ['dPriorMean', 'dPriorVar', 'dGain'] as const) expectAllZero(fired[name], name);

        const withoutPrior = { ...input, prior: undefined };
        const noPrior = gradientArrays(addonBackward(withoutPrior, addonForward(withoutPrior), upstream));
        for (const name of ['dx', 'dGamma', 'dBeta', 'dResidual'] as const) assertClose(fired[name] ?? [], noPrior[name] ?? [], 0, name);
      });
    }
  }
});

describe('backward: inference mode', () => {
  let seed = 300;
  for (const layout of LAYOUTS) {
    const knSpec: CaseSpec = {
      ...SQUARE, kind: 'kn', layout, seed: seed++, training: false, prior: 'none', gain: 0.1,
      relu: true, affine: true, statisticGradients: false,
    };
    it(`${describeCase(knSpec)}: the running estimates are constants`, () => {
      checkAgainstFiniteDifferences(makeCase(knSpec));
    });

    it(`kn ${layout} inference rejects dMean and dVar: its statistics are constants`, () => {
      const { input, upstream } = makeCase(knSpec);
      const forward = addonForward(input);
      const units = input.shape[1];
      const withDMean = { ...upstream, dMean: new Float64Array(units), dVar: new Float64Array(units) };
      expect(() => addonBackward(input, forward, withDMean)).to.throw(RangeError, /^dMean: /);
      expect(() => addonBackward(input, forward, { ...upstream, dVar: new Float64Array(units) })).to.throw(RangeError, /^dVar: /);
    });

    // GKN inference is its training computation (per-sample statistics), so dMean and dVar still flow.
    const gknSpec: CaseSpec = {
      ...SQUARE, kind: 'gkn', layout, seed: seed++, training: false, prior: 'per unit', gain: 'per column',
      relu: true, affine: true, statisticGradients: true,
    };
    it(describeCase(gknSpec), () => {
      checkAgainstFiniteDifferences(makeCase(gknSpec));
    });
  }
});

describe('backward: large shapes (chunked, multi-threaded reductions) match referenceBackward', () => {
  const ALL_GRADIENTS: GradientName[] = ['dx', 'dGamma', 'dBeta', 'dPriorMean', 'dPriorVar', 'dGain', 'dResidual'];
  const SHAPES = [[2, 64, 56, 56], [8, 32, 7, 7]];
  let seed = 400;
  for (const shape of SHAPES) {
    // KN with v = N and v = 2 (one case when N = 2), and GKN with 8 groups.
    const layers: Pick<CaseSpec, 'kind' | 'virtualBatch'>[] = [{ kind: 'kn' }, { kind: 'gkn' }];
    if (shape[0] > 2) layers.push({ kind: 'kn', virtualBatch: 2 });
    for (const layout of LAYOUTS) {
      for (const layer of layers) {
        const spec: CaseSpec = {
          ...layer, shape, groups: 8, layout, seed: seed++, prior: 'per unit', gain: 'per column',
          relu: true, affine: true, statisticGradients: true,
        };
        it(describeCase(spec), () => checkAgainstReference(makeCase(spec), ALL_GRADIENTS));
      }
    }
  }
});

describe('backward: shifted data (x = 1e4 + N(0, 1), S = 3136, no prior)', () => {
  let seed = 500;
  for (const kind of KINDS) {
    for (const layout of LAYOUTS) {
      const spec: CaseSpec = {
        kind, layout, seed: seed++, shape: [2, 4, 56, 56], groups: 2, prior: 'none', gain: 0.1,
        relu: false, affine: true, statisticGradients: false, xMean: 1e4, xStd: 1,
      };
      it(`${kind} ${layout}: dx matches referenceBackward`, () => checkAgainstReference(makeCase(spec), ['dx']));
    }
  }
});

describe('backward: out tensors', () => {
  for (const kind of KINDS) {
    it(`${kind}: every gradient is written into the caller's tensor, which is returned`, () => {
      const spec: CaseSpec = {
        ...SQUARE_GHOSTS, kind, layout: 'NHWC', seed: 600, prior: 'per unit', gain: 'per column',
        relu: true, affine: true, statisticGradients: true,
      };
      const { input, upstream } = makeCase(spec);
      const forward = addonForward(input, true);
      const fresh = addonBackward(input, forward, upstream);

      // NaN everywhere, so a gradient accumulated into the tensor instead of written would show.
      const filled = (shape: number[], layout?: Layout): Tensor =>
        Tensor.fromArray(new Float32Array(product(shape)).fill(NaN), shape, { layout });
      const priorLength = input.prior?.mean.length ?? 0;
      const gainLength = (input.gain as Float64Array).length;
      const out = {
        dx: filled(input.shape, input.layout),
        dResidual: filled(input.shape, input.layout),
        dGamma: filled([input.shape[1]]),
        dBeta: filled([input.shape[1]]),
        dPriorMean: filled([priorLength]),
        dPriorVar: filled([priorLength]),
        dGain: filled([gainLength]),
      };
      const written = addonBackward(input, forward, upstream, out);
      const freshArrays = gradientArrays(fresh);
      for (const name of Object.keys(out) as (keyof typeof out)[]) {
        expect(written[name], name).to.equal(out[name]);
        assertClose(out[name].toArray(), freshArrays[name] ?? [], 0, name);
      }
    });
  }
});

describe('backward: bad calls', () => {
  const spec = (kind: 'kn' | 'gkn'): CaseSpec => ({
    ...SMALL, kind, layout: 'NCHW', seed: 700, prior: 'per column', gain: 0.1,
    relu: false, affine: true, statisticGradients: false,
  });

  it('the saved state of the other op is a RangeError naming saved', () => {
    const gkn = makeCase(spec('gkn'));
    const gknSaved = addonForward(gkn.input).saved;
    const dy = tensorLike(gkn.input, gkn.upstream.dy);
    expect(() => ops.kalmanNormBackward(dy, gknSaved)).to.throw(RangeError, /^saved: /);
    const knSaved = addonForward(makeCase(spec('kn')).input).saved;
    expect(() => ops.groupKalmanNormBackward(dy, knSaved)).to.throw(RangeError, /^saved: /);
  });

  it('dy of the wrong shape is a RangeError naming dy, and nothing is written', () => {
    const { input } = makeCase(spec('kn'));
    const forward = addonForward(input);
    const [batch, channels, spatial] = input.shape;
    const dy = Tensor.zeros([batch, channels, spatial + 1]);
    const dx = Tensor.fromArray(new Float32Array(product(input.shape)).fill(7), input.shape);
    expect(() => ops.kalmanNormBackward(dy, forward.saved, { out: { dx } })).to.throw(RangeError, /^dy: /);
    assertClose(dx.toArray(), new Float32Array(dx.size).fill(7), 0, 'out.dx');
  });
});

function sameBits(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined): boolean {
  const bytes = (values: ArrayLike<number> | undefined): Buffer => Buffer.from(new Float32Array(values ?? []).buffer);
  return bytes(a).equals(bytes(b));
}

describe('backward: determinism', () => {
  for (const layout of LAYOUTS) {
    it(`kn ${layout} [2, 64, 56, 56]: two calls give bitwise identical gradients`, () => {
      const spec: CaseSpec = {
        kind: 'kn', layout, seed: 800, shape: [2, 64, 56, 56], groups: 8, virtualBatch: 1, prior: 'per unit',
        gain: 'per column', relu: true, affine: true, statisticGradients: true,
      };
      const { input, upstream } = makeCase(spec);
      const forward = addonForward(input);
      const first = gradientArrays(addonBackward(input, forward, upstream));
      const second = gradientArrays(addonBackward(input, forward, upstream));
      for (const name of Object.keys(first) as GradientName[]) expect(sameBits(first[name], second[name]), name).to.equal(true);
    });
  }
});
