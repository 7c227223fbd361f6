/**
 * Plain float64 reference of the group transition (docs/LINKED-LAYERS.md): per-channel rows
 * [R, C] to the moments of one GKN unit, rows [R, G], group g = channels [g K, (g + 1) K) with
 * K = C / G. Written from the definition, the moments of an equal mixture of the group's channels:
 * mean = mean_c m_c, second moment = mean_c (u_c + m_c^2), variance = second - mean^2 (the op
 * takes the spread of the means around the group mean instead). And a GKN chain that starts at an
 * input node: x - linear(W) - GKN, the prior from the input's statistics through W and the group
 * transition. It shares no code with lib/ or csrc/.
 */
import { quadraticReference } from './covariance-reference';
import { ReferenceInput, ReferenceOutput, referenceForward } from './kalman-norm-reference';
import { Moments } from './transition-reference';

function requireThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`group reference: ${message}`);
}

export function groupReference(x: Moments, groups: number): Moments {
  requireThat(x.mean.length === x.rows * x.columns && x.var.length === x.rows * x.columns, 'x must hold rows x columns values');
  requireThat(Number.isInteger(groups) && groups >= 1 && x.columns % groups === 0, `groups ${groups} must divide C = ${x.columns}`);
  const perGroup = x.columns / groups;
  const out: Moments = { rows: x.rows, columns: groups, mean: new Float64Array(x.rows * groups), var: new Float64Array(x.rows * groups) };
  for (let r = 0; r < x.rows; r++) {
    for (let g = 0; g < groups; g++) {
      let first = 0;
      let second = 0;
      for (let k = 0; k < perGroup; k++) {
        const at = r * x.columns + g * perGroup + k;
        first += x.mean[at];
        second += x.var[at] + x.mean[at] * x.mean[at];
      }
      const mean = first / perGroup;
      out.mean[r * groups + g] = mean;
      out.var[r * groups + g] = second / perGroup - mean * mean;
    }
  }
  return out;
}

export interface GroupChainInput {
  batch: number; // N
  features: number; // D: the input's features
  channels: number; // C: the GKN layer's channels
  groups: number; // G
  x: Float64Array; // [N, D]
  weight: Float64Array; // [C, D]
  gamma: Float64Array; // [C]
  beta: Float64Array; // [C]
  gain: Float64Array; // [G]
  statistics: { mean: Float64Array; covariance: Float64Array }; // the input node's [D], [D * D]
  eps: number;
  guard: number;
}

/** h = x W^T, the prior groups(W mean, w^T Sigma w) as one row [1, G], and the GKN layer on h. */
export function groupChainForward(input: GroupChainInput): { prior: Moments; layer: ReferenceInput; output: ReferenceOutput } {
  const { batch, features, channels, groups } = input;
  const h = new Float64Array(batch * channels);
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let i = 0; i < features; i++) sum += input.x[n * features + i] * input.weight[c * features + i];
      h[n * channels + c] = sum;
    }
  const perChannel = quadraticReference({ ...input.statistics, weight: input.weight });
  const prior = groupReference({ rows: 1, columns: channels, ...perChannel }, groups);
  const layer: ReferenceInput = {
    kind: 'gkn', x: h, shape: [batch, channels], layout: 'NCHW', training: true, eps: input.eps, groups,
    gain: input.gain, prior: { mean: prior.mean, var: prior.var }, guard: input.guard,
    gamma: input.gamma, beta: input.beta, activation: 'identity', momentum: 0.1,
  };
  return { prior, layer, output: referenceForward(layer) };
}

/** sum(outputGradient o y): a loss whose gradient with respect to y is outputGradient. */
export function groupChainLoss(input: GroupChainInput, outputGradient: Float64Array): number {
  const { y } = groupChainForward(input).output;
  let loss = 0;
  for (let i = 0; i < y.length; i++) loss += outputGradient[i] * y[i];
  return loss;
}
