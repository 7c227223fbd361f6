// The statistics graph's transitions (docs/LINKED-LAYERS.md) on tfjs tensors: each is this
// package's op and its backward, made differentiable in tfjs, so a prior computed from a model's
// own kernels sends its gradient into them (and into the layers before).
import * as tf from '@tensorflow/tfjs';
import * as transitions from '../ops/transitions';
import { quadraticMoments, quadraticMomentsBackward } from '../ops/covariance';
import { InputStatistics } from '../layers/input-statistics';
import { Tensor } from '../tensor';
import { HostOutput, differentiable } from './differentiable';

/** Statistic rows [R, C]: per unit means and variances. */
export interface Rows {
  mean: tf.Tensor;
  var: tf.Tensor;
}

/** A gradient with respect to rows, as the list transition() expects. */
const rowsGradient = (gradient: transitions.MomentRowsGradient) => [gradient.dMean, gradient.dVar];

/** One transition on this package's tensors: its output rows and their backward (a gradient per input, null for none). */
interface Step {
  mean: Tensor;
  var: Tensor;
  backward(dMean: Tensor, dVar: Tensor): (Tensor | null | undefined)[];
}

/** Output rows as differentiable() takes them. */
function outputsOf(rows: { mean: Tensor; var: Tensor }): HostOutput[] {
  return [{ values: rows.mean.toArray(), shape: rows.mean.shape }, { values: rows.var.toArray(), shape: rows.var.shape }];
}

/** rows (and parameters) -> rows, differentiable in every input. */
function transition(rows: Rows, parameters: [string, tf.Tensor][], forward: (mean: Tensor, variance: Tensor, parameters: Tensor[]) => Step): Rows {
  const inputs: [string, tf.Tensor][] = [['mean', rows.mean], ['var', rows.var], ...parameters];
  const [mean, variance] = differentiable(inputs, (values) => {
    const [inMean, inVar, ...rest] = values.map((value, i) => Tensor.fromArray(value, inputs[i][1].shape));
    const step = forward(inMean, inVar, rest);
    return {
      outputs: outputsOf(step),
      backward: ([dMean, dVar]) =>
        step.backward(Tensor.fromArray(dMean, step.mean.shape), Tensor.fromArray(dVar, step.var.shape)).map((gradient) => gradient?.toArray() ?? null),
    };
  });
  return { mean, var: variance };
}

/** The distribution of a layer's output gamma (x - mu) / sqrt(var + eps) + beta for x ~ its posterior (mu, var). */
export function normalizedRows(rows: Rows, eps: number, gamma: tf.Tensor | null, beta: tf.Tensor | null): Rows {
  const parameters: [string, tf.Tensor][] = [];
  if (gamma) parameters.push(['gamma', gamma]);
  if (beta) parameters.push(['beta', beta]);
  return transition(rows, parameters, (mean, variance, [first, second]) => {
    const posterior = { mean, var: variance };
    const result = transitions.normalizeMoments(posterior, posterior, {
      eps,
      gamma: gamma ? first : undefined,
      beta: beta ? (gamma ? second : first) : undefined,
    });
    return {
      ...result,
      backward: (dMean, dVar) => {
        // The rows are both the distribution and the statistics it is normalized with.
        const { x, stats, dGamma, dBeta } = transitions.normalizeMomentsBackward(dMean, dVar, result.saved);
        transitions.accumulateInto(x.dMean, stats.dMean);
        transitions.accumulateInto(x.dVar, stats.dVar);
        return [...rowsGradient(x), ...(gamma ? [dGamma] : []), ...(beta ? [dBeta] : [])];
      },
    };
  });
}

export function reluRows(rows: Rows): Rows {
  return transition(rows, [], (mean, variance) => {
    const result = transitions.reluMoments(mean, variance);
    return { ...result, backward: (dMean, dVar) => rowsGradient(transitions.reluMomentsBackward(dMean, dVar, result.saved)) };
  });
}

/** A pool window of `taps` activations (transitions.PoolOptions): Clark's max, or the average. */
export function poolRows(rows: Rows, kind: 'max' | 'avg', window: transitions.PoolOptions): Rows {
  return transition(rows, [], (mean, variance) => {
    if (kind === 'max') {
      const result = transitions.maxPoolMoments(mean, variance, window);
      return { ...result, backward: (dMean, dVar) => rowsGradient(transitions.maxPoolMomentsBackward(dMean, dVar, result.saved)) };
    }
    const result = transitions.avgPoolMoments(mean, variance, window);
    return { ...result, backward: (dMean, dVar) => rowsGradient(transitions.avgPoolMomentsBackward(dMean, dVar, result.saved)) };
  });
}

/** A dense layer's map of the rows: kernel [Cin, Cout] (tfjs's), bias [Cout] or null. */
export function denseRows(rows: Rows, kernel: tf.Tensor, bias: tf.Tensor | null): Rows {
  const parameters: [string, tf.Tensor][] = [['kernel', tf.transpose(kernel)]];
  if (bias) parameters.push(['bias', bias]);
  return transition(rows, parameters, (mean, variance, [weight, biasValues]) => {
    const result = transitions.affineMoments(mean, variance, { weight, bias: biasValues });
    return {
      ...result,
      backward: (dMean, dVar) => {
        const gradients = transitions.affineMomentsBackward(dMean, dVar, result.saved);
        return [gradients.dMean, gradients.dVar, gradients.dWeight, ...(bias ? [gradients.dBias] : [])];
      },
    };
  });
}

/** A conv2d layer's map of per-channel rows: kernel [kh, kw, Cin, Cout] (tfjs's), bias [Cout] or null. */
export function convRows(rows: Rows, kernel: tf.Tensor, bias: tf.Tensor | null): Rows {
  const parameters: [string, tf.Tensor][] = [['kernel', tf.transpose(kernel, [3, 2, 0, 1])]];
  if (bias) parameters.push(['bias', bias]);
  return transition(rows, parameters, (mean, variance, [oihw, biasValues]) => {
    const { weight, weightSq } = transitions.convTransition(oihw);
    const result = transitions.affineMoments(mean, variance, { weight, weightSq, bias: biasValues });
    return {
      ...result,
      backward: (dMean, dVar) => {
        const gradients = transitions.affineMomentsBackward(dMean, dVar, result.saved);
        const dKernel = transitions.convTransitionBackward(gradients.dWeight, gradients.dWeightSq ?? null, oihw);
        return [gradients.dMean, gradients.dVar, dKernel, ...(bias ? [gradients.dBias] : [])];
      },
    };
  });
}

/**
 * The rows [1, Cout] after the first dense layer, from an input node's running estimates of the
 * model's input (KN-SPEC 3a): m = W mu + bias, u_o = w_o^T Sigma w_o. The gradient flows into the
 * kernel and the bias, not into the estimates.
 */
export function inputRows(statistics: InputStatistics, kernel: tf.Tensor, bias: tf.Tensor | null): Rows {
  const inputs: [string, tf.Tensor][] = [['kernel', tf.transpose(kernel)]];
  if (bias) inputs.push(['bias', bias]);
  const [mean, variance] = differentiable(inputs, ([weight, biasValues]) => {
    const result = quadraticMoments(statistics.mean, statistics.covariance(), { weight: Tensor.fromArray(weight, inputs[0][1].shape), bias: biasValues });
    return {
      outputs: outputsOf(result),
      backward: ([dMean, dVar]) => {
        const gradients = quadraticMomentsBackward(Tensor.fromArray(dMean, result.mean.shape), Tensor.fromArray(dVar, result.var.shape), result.saved);
        return [gradients.dWeight.toArray(), ...(bias ? [gradients.dBias!.toArray()] : [])];
      },
    };
  });
  return { mean, var: variance };
}
