// One KN or GKN forward on tfjs tensors, differentiable through tf.customGrad: the forward and the
// gradient are this package's ops (the layer's backward, not tfjs's autodiff of a formula).
import * as tf from '@tensorflow/tfjs';
import { NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../ops/normalization';
import { SavedNormalization } from '../ops/saved-state';
import { Tensor } from '../tensor';
import { fromChannelsLast, hostValues, toTf } from './channels-last';

/** A normalization op on this package's tensors: its forward (given the options beyond the parameters) and backward. */
export interface NormKernel {
  forward(x: Tensor, options: NormOptions): NormResult;
  backward(dy: Tensor, saved: SavedNormalization, options?: NormBackwardOptions): NormGradients;
}

/** The differentiable inputs: x channels-last, the gain per unit column, gamma and beta per channel. */
export interface NormInputs {
  x: tf.Tensor;
  gain: tf.Tensor;
  gamma: tf.Tensor | null;
  beta: tf.Tensor | null;
}

/** A gradient the op may leave out (dGain without a prior) is zero in the input's shape. */
function gradientOf(computed: Tensor | number | undefined, like: tf.Tensor): tf.Tensor {
  return computed instanceof Tensor ? toTf(computed, like.shape) : tf.zerosLike(like);
}

/**
 * y = op(x; gain, gamma, beta, options), with the gradient with respect to every input of `inputs`.
 * `afterForward` runs once the op has (KN's running estimates are then updated).
 */
export function normalize(kernel: NormKernel, inputs: NormInputs, options: NormOptions, afterForward: () => void): tf.Tensor {
  const { x, gain, gamma, beta } = inputs;
  const tensors = [x, gain, gamma, beta].filter((tensor): tensor is tf.Tensor => tensor !== null);
  const run = tf.customGrad((() => {
    const result = kernel.forward(fromChannelsLast('x', x), {
      ...options,
      gain: hostValues('gain', gain),
      gamma: gamma ? hostValues('gamma', gamma) : undefined,
      beta: beta ? hostValues('beta', beta) : undefined,
    });
    afterForward();
    const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
      const gradients = kernel.backward(fromChannelsLast('dy', dy), result.saved);
      const parameters = [gradientOf(gradients.dGain, gain)];
      if (gamma) parameters.push(gradientOf(gradients.dGamma, gamma));
      if (beta) parameters.push(gradientOf(gradients.dBeta, beta));
      return [toTf(gradients.dx, x.shape), ...parameters];
    };
    return { value: toTf(result.y, x.shape), gradFunc };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(...tensors);
}
