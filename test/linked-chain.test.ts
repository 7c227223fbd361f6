/**
 * A linked three-layer chain, linear - KN - relu - linear - KN - relu - linear - KN, end to end:
 * the package's KalmanNorm layers wired by linkFeedForward, run forward and backward as a
 * training step runs them, against central differences of the float64 reference of the whole
 * chain (reference/chain-reference.ts). The weights between KN layers get gradients along two
 * paths, the data (h = a W^T) and the statistics (the next layer's prior is W applied to the
 * moments of relu of this layer's output), and each KN layer's gamma, beta and posterior get
 * gradients from the next layer's prior. A second suite starts the chain at an input node: the
 * first layer's prior is the input's running mean and covariance through W1 (u = w^T Sigma w), so
 * W1 gets a statistics-path gradient too.
 */
import { expect } from 'chai';
import { InputStatistics, KalmanNorm, Tensor, linkFeedForward, moments } from '../lib';
import type { CovarianceOption } from '../lib';
import { lowRankMatrix } from './reference/covariance-reference';
import { ChainInput, ChainLayerOutput, chainForward, chainLoss } from './reference/chain-reference';
import { assertClose, relativeError } from './util/assert-close';
import { centralDifference } from './util/finite-difference';
import { Random, makeRandom, randomArray } from './util/random';

const BATCH = 4;
/** D0, then the channels of the three KN layers. */
const WIDTHS = [3, 5, 4, 3];
const EPS = 1e-5;
const GUARD = 100;
const SEED = 12;
/** float32 forward against the float64 reference: normwise relative error. */
const FORWARD_RTOL = 1e-5;
/** float32 gradient against central differences of the float64 reference: normwise relative error. */
const GRADIENT_RTOL = 1e-4;
/** Largest guard ratio r allowed in the data: far below GUARD, so the guard never fires. */
const GUARD_RATIO_LIMIT = 10;
/** Smallest |y| allowed before a relu, so that no finite-difference step crosses its kink. */
const KINK_MARGIN = 1e-3;

// ---- data --------------------------------------------------------------------------------------

/** Values rounded to float32, so the package and the reference see exactly the same inputs. */
function float32Normal(rng: Random, length: number, std: number, mean = 0): Float64Array {
  return randomArray(rng, length, { mean, std }).map(Math.fround);
}

function float32Uniform(rng: Random, length: number, low: number, high: number): Float64Array {
  return Float64Array.from({ length }, () => Math.fround(low + (high - low) * rng.uniform()));
}

/**
 * x ~ N(0, 1) and weights scaled so that every KN layer's input has about `scale` as standard
 * deviation; gamma, beta and the gains away from 1, 0 and the default.
 */
function chainInput(seed: number, scale: number): ChainInput {
  const rng = makeRandom(seed);
  const layers = WIDTHS.slice(1).map((channels, k) => ({
    weight: float32Normal(rng, channels * WIDTHS[k], scale / Math.sqrt(WIDTHS[k])),
    gamma: float32Uniform(rng, channels, 0.6, 1.5),
    beta: float32Normal(rng, channels, 0.3, 0.2),
    gain: float32Uniform(rng, channels, 0.15, 0.85),
  }));
  return { batch: BATCH, widths: WIDTHS, x: float32Normal(rng, BATCH * WIDTHS[0], 1), layers, eps: EPS, guard: GUARD };
}

/** The gradient of the loss with respect to the last layer's output: the loss is sum(G o y3). */
function outputGradient(seed: number): Float64Array {
  return float32Normal(makeRandom(seed), BATCH * WIDTHS[WIDTHS.length - 1], 1);
}

/** Keeps finite differences honest: no guard near firing, no relu input near its kink. */
function expectSmoothAround(reference: ChainLayerOutput[]): void {
  reference.forEach((layer, k) => {
    expect(layer.guardFired, `guard of layer ${k + 1}`).to.equal(false);
    expect(layer.guardRatio, `guard ratio of layer ${k + 1}`).to.be.below(GUARD_RATIO_LIMIT);
  });
  for (const layer of reference.slice(0, -1)) {
    const closest = Math.min(...layer.y.map(Math.abs));
    expect(closest, 'smallest |y| before a relu').to.be.above(KINK_MARGIN);
  }
}

// ---- the chain in the package, with the linear maps and relus written here in float32 ---------

/** a [N, I] times the transpose of weight [O, I]: [N, O]. */
function linearForward(a: Float32Array, weight: Tensor): Float32Array {
  const [outputs, inputs] = weight.shape;
  const w = weight.toArray();
  const out = new Float32Array(BATCH * outputs);
  for (let n = 0; n < BATCH; n++)
    for (let o = 0; o < outputs; o++) {
      let sum = 0;
      for (let i = 0; i < inputs; i++) sum += a[n * inputs + i] * w[o * inputs + i];
      out[n * outputs + o] = sum;
    }
  return out;
}

/** The gradient with respect to a of linearForward(a, weight): dOut [N, O] times weight [O, I]. */
function linearInputGradient(dOut: Float32Array, weight: Tensor): Float32Array {
  const [outputs, inputs] = weight.shape;
  const w = weight.toArray();
  const dA = new Float32Array(BATCH * inputs);
  for (let n = 0; n < BATCH; n++)
    for (let i = 0; i < inputs; i++) {
      let sum = 0;
      for (let o = 0; o < outputs; o++) sum += dOut[n * outputs + o] * w[o * inputs + i];
      dA[n * inputs + i] = sum;
    }
  return dA;
}

/** grad += dOut^T a: the data path's share of the weight gradient, added to what the link left. */
function accumulateWeightGradient(grad: Tensor, dOut: Float32Array, a: Float32Array): void {
  const [outputs, inputs] = grad.shape;
  const g = grad.toArray();
  for (let o = 0; o < outputs; o++)
    for (let i = 0; i < inputs; i++) {
      let sum = 0;
      for (let n = 0; n < BATCH; n++) sum += dOut[n * outputs + o] * a[n * inputs + i];
      g[o * inputs + i] += sum;
    }
}

interface PackageChain {
  layers: KalmanNorm[];
  /** W1, W2, W3 as [Cout, Cin]; W2 and W3 are tied to the links. */
  weights: Tensor[];
  /** Their gradients: the links accumulate the statistics path into W2's and W3's. */
  weightGrads: Tensor[];
}

function buildPackageChain(input: ChainInput): PackageChain {
  const layers = input.layers.map((parameters, k) => {
    const layer = new KalmanNorm(input.widths[k + 1], { eps: input.eps, guard: input.guard });
    layer.gamma!.toArray().set(parameters.gamma);
    layer.beta!.toArray().set(parameters.beta);
    layer.gain.toArray().set(parameters.gain);
    return layer;
  });
  const weights = input.layers.map((parameters, k) => Tensor.fromArray(Float32Array.from(parameters.weight), [input.widths[k + 1], input.widths[k]]));
  const weightGrads = weights.map((weight) => Tensor.zeros(weight.shape));
  linkFeedForward(layers, weights.slice(1).map((value, k) => ({ value, grad: weightGrads[k + 1] })));
  return { layers, weights, weightGrads };
}

interface ForwardRecord {
  /** What each linear map read: x, relu(y1), relu(y2). */
  activations: Float32Array[];
  /** Each KN layer's input and output. */
  h: Float32Array[];
  y: Float32Array[];
  guardFired: boolean[];
}

function forwardChain(chain: PackageChain, x: Float64Array): ForwardRecord {
  const record: ForwardRecord = { activations: [], h: [], y: [], guardFired: [] };
  let activation = Float32Array.from(x);
  chain.layers.forEach((layer, k) => {
    const h = linearForward(activation, chain.weights[k]);
    const result = layer.forward(Tensor.fromArray(h, [BATCH, layer.channels]));
    const y = result.y.toArray().slice(); // the layer reuses its output tensor
    record.activations.push(activation);
    record.h.push(h);
    record.y.push(y);
    record.guardFired.push(result.guardFired);
    activation = y.map((value) => Math.max(0, value));
  });
  return record;
}

/** The gradient that reaches layer k's output: the input gradient of relu(y_k), masked. */
function throughRelu(dActivation: Float32Array, y: Float32Array): Float32Array {
  return dActivation.map((value, i) => (y[i] > 0 ? value : 0));
}

/**
 * Backward in reverse layer order, as a training step runs it: each KN layer's backward sends its
 * prior's gradient into the statistics graph before the layer before it runs its own. Returns dx
 * and the gradient each KN layer received for its output.
 */
function backwardChain(chain: PackageChain, record: ForwardRecord, dOutput: Float64Array): { dx: Float32Array; dy: Float32Array[] } {
  const last = chain.layers.length - 1;
  const dy: Float32Array[] = [];
  let dActivation: Float32Array = Float32Array.from(dOutput); // the last layer has no relu after it
  for (let k = last; k >= 0; k--) {
    dy[k] = k === last ? dActivation : throughRelu(dActivation, record.y[k]);
    const layer = chain.layers[k];
    const dh = layer.backward(Tensor.fromArray(dy[k], [BATCH, layer.channels])).dx.toArray();
    accumulateWeightGradient(chain.weightGrads[k], dh, record.activations[k]);
    dActivation = linearInputGradient(dh, chain.weights[k]);
  }
  return { dx: dActivation, dy };
}

// ---- tests -------------------------------------------------------------------------------------

describe('linked chain: linear - KN - relu - linear - KN - relu - linear - KN', () => {
  const cases = [
    { name: 'KN inputs of unit scale', scale: 1 },
    // Posterior variances near eps = 1e-5 make the normalized output's variance gamma^2 var / (var + eps)
    // depend on them, so the gradient along that path is large enough to check. (At unit scale it is
    // ~1e-5 of the rest, and the normalized mean, beta, does not depend on the posterior at all.)
    { name: 'KN inputs of scale 1e-2, where eps exposes the posterior-variance path', scale: 1e-2 },
  ];
  for (const { name, scale } of cases) {
    it(`gradients for x, every weight, gamma, beta and gain match finite differences of the float64 chain (${name})`, () => {
      const input = chainInput(SEED, scale);
      const dOutput = outputGradient(SEED + 1);
      const reference = chainForward(input);
      expectSmoothAround(reference);

      const chain = buildPackageChain(input);
      const record = forwardChain(chain, input.x);
      expect(record.guardFired).to.deep.equal([false, false, false]);
      reference.forEach((layer, k) => assertClose(record.y[k], layer.y, FORWARD_RTOL, `y${k + 1}`));
      const { dx } = backwardChain(chain, record, dOutput);

      const checks: Array<{ label: string; actual: Float32Array; values: Float64Array }> = [{ label: 'dx', actual: dx, values: input.x }];
      input.layers.forEach((parameters, k) => {
        const layer = chain.layers[k];
        checks.push(
          { label: `dW${k + 1}`, actual: chain.weightGrads[k].toArray(), values: parameters.weight },
          { label: `dGamma${k + 1}`, actual: layer.grad.gamma!.toArray(), values: parameters.gamma },
          { label: `dBeta${k + 1}`, actual: layer.grad.beta!.toArray(), values: parameters.beta },
        );
        if (k > 0) checks.push({ label: `dGain${k + 1}`, actual: layer.grad.gain.toArray(), values: parameters.gain });
      });
      for (const { label, actual, values } of checks) {
        const expected = centralDifference(() => chainLoss(input, dOutput), values);
        assertClose(actual, expected, GRADIENT_RTOL, label);
      }
      // Layer 1 has no prior, so its gain takes no part in the loss.
      expect(Array.from(chain.layers[0].grad.gain.toArray())).to.deep.equal(new Array(WIDTHS[1]).fill(0));
    });
  }

  it('kn2 takes its prior from the link: unlinked, the same input normalizes differently', () => {
    const input = chainInput(SEED, 1);
    const chain = buildPackageChain(input);
    const record = forwardChain(chain, input.x);
    assertClose(record.y[1], chainForward(input)[1].y, FORWARD_RTOL, 'y2 with the link');
    chain.layers[1].linkPrior(null);
    const unlinked = chain.layers[1].forward(Tensor.fromArray(record.h[1], [BATCH, WIDTHS[2]])).y.toArray();
    expect(relativeError(unlinked, record.y[1])).to.be.above(1e-2);
  });

  it('backward out of order (kn1 before kn2) misses what kn2 sends kn1 through the statistics graph', () => {
    // Scale 1e-2, so that the missing posterior gradient shows in dx too (see the cases above).
    const input = chainInput(SEED, 1e-2);
    const dOutput = outputGradient(SEED + 1);
    const inOrder = buildPackageChain(input);
    const { dx, dy } = backwardChain(inOrder, forwardChain(inOrder, input.x), dOutput);

    // The same step with the same output gradients per layer, but kn1's backward runs before
    // kn2's has delivered the gradient of kn2's prior with respect to kn1's gamma, beta and posterior.
    const outOfOrder = buildPackageChain(input);
    forwardChain(outOfOrder, input.x);
    const [kn1, kn2, kn3] = outOfOrder.layers;
    kn3.backward(Tensor.fromArray(dy[2], [BATCH, WIDTHS[3]]));
    const dh1 = kn1.backward(Tensor.fromArray(dy[0], [BATCH, WIDTHS[1]])).dx.toArray();
    kn2.backward(Tensor.fromArray(dy[1], [BATCH, WIDTHS[2]]));

    const [right] = inOrder.layers;
    expect(relativeError(kn1.grad.gamma!.toArray(), right.grad.gamma!.toArray()), 'dGamma1').to.be.above(1e-2);
    expect(relativeError(kn1.grad.beta!.toArray(), right.grad.beta!.toArray()), 'dBeta1').to.be.above(1e-2);
    expect(relativeError(linearInputGradient(dh1, outOfOrder.weights[0]), dx), 'dx').to.be.above(1e-2);
  });
});

// ---- a chain that starts at an input node ----------------------------------------------------------

/** Statistics of inputs with correlated features, observed over a few batches. */
function observedStatistics(covariance: CovarianceOption, seed: number): InputStatistics {
  const rng = makeRandom(seed);
  const statistics = new InputStatistics([WIDTHS[0]], { covariance, momentum: 0.2 });
  for (let batch = 0; batch < 3; batch++) {
    const values = new Float32Array(6 * WIDTHS[0]);
    for (let n = 0; n < 6; n++) {
      const common = rng.normal();
      for (let i = 0; i < WIDTHS[0]; i++) values[n * WIDTHS[0] + i] = 0.4 * common + 0.9 * rng.normal();
    }
    statistics.observe(Tensor.fromArray(values, [6, WIDTHS[0]]));
  }
  return statistics;
}

/** The statistics' covariance as the dense matrix the reference uses. */
function denseCovariance(statistics: InputStatistics): Float64Array {
  const form = statistics.covariance();
  const features = statistics.features;
  if (form.kind === 'full') return Float64Array.from(form.matrix.toArray());
  if (form.kind === 'lowRank') return lowRankMatrix(form.factor.toArray(), form.diagonal.toArray(), features);
  return lowRankMatrix(new Float64Array(0), form.diagonal.toArray(), features);
}

describe('linked chain from an input node: input - linear - KN - relu - linear - KN - relu - linear - KN', () => {
  const covariances: CovarianceOption[] = ['full', 'diagonal', { rank: 2 }];
  for (const covariance of covariances) {
    it(`the first weight's gradient (data path plus w^T Sigma w) and every other match finite differences (${JSON.stringify(covariance)})`, () => {
      const statistics = observedStatistics(covariance, SEED + 5);
      const input: ChainInput = {
        ...chainInput(SEED, 1),
        inputStatistics: { mean: Float64Array.from(statistics.mean.toArray()), covariance: denseCovariance(statistics) },
      };
      const dOutput = outputGradient(SEED + 1);
      const reference = chainForward(input);
      expectSmoothAround(reference);
      expect(reference[0].prior, 'the first layer has a prior').to.not.equal(undefined);

      const chain = buildPackageChain(input);
      chain.layers[0].linkPrior(moments.affine(moments.input(statistics), { value: chain.weights[0], grad: chain.weightGrads[0] }));
      const record = forwardChain(chain, input.x);
      reference.forEach((layer, k) => assertClose(record.y[k], layer.y, FORWARD_RTOL, `y${k + 1}`));
      backwardChain(chain, record, dOutput);

      input.layers.forEach((parameters, k) => {
        const expected = centralDifference(() => chainLoss(input, dOutput), parameters.weight);
        assertClose(chain.weightGrads[k].toArray(), expected, GRADIENT_RTOL, `dW${k + 1}`);
      });
      const expectedGain = centralDifference(() => chainLoss(input, dOutput), input.layers[0].gain);
      assertClose(chain.layers[0].grad.gain.toArray(), expectedGain, GRADIENT_RTOL, 'dGain1');
    });
  }

  it('one row from the input node is a per-channel prior over several ghost batches', () => {
    const statistics = observedStatistics('full', SEED + 6);
    const layer = new KalmanNorm(WIDTHS[1], { virtualBatch: 2 });
    const weight = Tensor.fromArray(Float32Array.from(float32Normal(makeRandom(3), WIDTHS[1] * WIDTHS[0], 0.5)), [WIDTHS[1], WIDTHS[0]]);
    const node = moments.affine(moments.input(statistics), { value: weight });
    layer.linkPrior(node);
    const h = Tensor.fromArray(Float32Array.from(float32Normal(makeRandom(4), BATCH * WIDTHS[1], 1)), [BATCH, WIDTHS[1]]);
    const linked = layer.forward(h).y.toArray().slice();
    const prior = node.evaluate();
    layer.linkPrior(null);
    const given = layer.forward(h, { prior: { mean: prior.mean.toArray(), var: prior.var.toArray() } }).y.toArray();
    assertClose(linked, given, 0, 'y');
  });
});
