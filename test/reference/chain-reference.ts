/**
 * Plain float64 reference of a linked fully connected chain (KN-SPEC.md sections 1 and 3):
 * linear - KN - relu - linear - KN - relu - ... - linear - KN, no biases. Every KN layer after
 * the first takes its prior from the previous layer's posterior carried through that layer's
 * normalization, a relu and the next linear map, as lib/layers/links.ts (linkFeedForward) wires
 * it; the first layer has no prior (plain BN). The activations are [N, C] with one ghost batch,
 * so every prior and posterior is one row [1, C]. Built from the section 1 and section 3
 * references; it shares no code with lib/ or csrc/.
 */
import { ReferenceInput, geometryOf, referenceForward, unitStatistics } from './kalman-norm-reference';
import { quadraticReference } from './covariance-reference';
import { Moments, affineReference, normalizeReference, reluReference } from './transition-reference';

export interface ChainLayerParameters {
  weight: Float64Array; // [C, Cin] of the linear map before the KN layer, row-major
  gamma: Float64Array; // [C]
  beta: Float64Array; // [C]
  gain: Float64Array; // [C]
}

export interface ChainInput {
  batch: number; // N
  widths: number[]; // [D0, C1, ..., CL]: the input's features, then each layer's channels
  x: Float64Array; // [N, D0], row-major
  layers: ChainLayerParameters[];
  eps: number;
  guard: number;
  /** An input node's mean [D0] and covariance [D0 * D0]: the first layer's prior through its weight (KN-SPEC 3a, 3b). */
  inputStatistics?: { mean: Float64Array; covariance: Float64Array };
}

export interface ChainLayerOutput {
  h: Float64Array; // the KN layer's input [N, C]
  y: Float64Array; // its output [N, C]
  prior?: Moments; // absent for the first layer, unless the chain starts at input statistics
  posterior: Moments; // [1, C]
  guardFired: boolean;
  guardRatio: number; // r = mean over channels of u / (s2 + eps); 0 without a prior
}

/** out[n][o] = sum_i a[n][i] w[o][i]: a [N, I] times the transpose of w [O, I]. */
function linear(a: Float64Array, weight: Float64Array, batch: number, inputs: number, outputs: number): Float64Array {
  const out = new Float64Array(batch * outputs);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outputs; o++) {
      let sum = 0;
      for (let i = 0; i < inputs; i++) sum += a[n * inputs + i] * weight[o * inputs + i];
      out[n * outputs + o] = sum;
    }
  }
  return out;
}

/**
 * A layer's prior from the layer before it: the distribution of that layer's output under its own
 * posterior, through the relu, then through the linear map `weight` between the two.
 */
function linkedPrior(previous: ChainLayerOutput, previousParameters: ChainLayerParameters, weight: Float64Array, eps: number): Moments {
  const { gamma, beta } = previousParameters;
  const normalized = normalizeReference(previous.posterior, previous.posterior, { eps, gamma, beta });
  return affineReference(reluReference(normalized), { weight });
}

/** The first layer's prior: the input statistics through its weight, or none. */
function inputPrior(input: ChainInput, weight: Float64Array, channels: number): Moments | undefined {
  if (!input.inputStatistics) return undefined;
  const { mean, covariance } = input.inputStatistics;
  return { rows: 1, columns: channels, ...quadraticReference({ mean, covariance, weight }) };
}

function guardRatio(input: ReferenceInput): number {
  const statistics = unitStatistics(input, geometryOf(input));
  if (!statistics.priorVar) return 0;
  let sum = 0;
  for (let c = 0; c < statistics.priorVar.length; c++) sum += statistics.priorVar[c] / (statistics.observedVar[c] + input.eps);
  return sum / statistics.priorVar.length;
}

/** Every layer's input, output, prior and posterior. */
export function chainForward(input: ChainInput): ChainLayerOutput[] {
  const { batch, widths, eps } = input;
  const outputs: ChainLayerOutput[] = [];
  let activation = input.x;
  input.layers.forEach((parameters, k) => {
    const channels = widths[k + 1];
    const h = linear(activation, parameters.weight, batch, widths[k], channels);
    const prior = k > 0 ? linkedPrior(outputs[k - 1], input.layers[k - 1], parameters.weight, eps) : inputPrior(input, parameters.weight, channels);
    const layerInput: ReferenceInput = {
      kind: 'kn',
      x: h,
      shape: [batch, channels],
      layout: 'NCHW',
      training: true,
      eps,
      gain: parameters.gain,
      prior: prior && { mean: prior.mean, var: prior.var },
      guard: input.guard,
      gamma: parameters.gamma,
      beta: parameters.beta,
      activation: 'identity',
      momentum: 0.1,
    };
    const result = referenceForward(layerInput);
    outputs.push({
      h,
      y: result.y,
      prior,
      posterior: { rows: 1, columns: channels, mean: result.mean, var: result.var },
      guardFired: result.guardFired,
      guardRatio: guardRatio(layerInput),
    });
    activation = result.y.map((value) => Math.max(0, value));
  });
  return outputs;
}

/** sum(outputGradient o y_last): a loss whose gradient with respect to y_last is outputGradient. */
export function chainLoss(input: ChainInput, outputGradient: Float64Array): number {
  const outputs = chainForward(input);
  const y = outputs[outputs.length - 1].y;
  let loss = 0;
  for (let i = 0; i < y.length; i++) loss += outputGradient[i] * y[i];
  return loss;
}
