// One KN or GKN forward on tfjs tensors, differentiable: the forward and the gradient are this
// package's ops (the layer's backward, not tfjs's autodiff of a formula). Linked layers also take
// a prior and give their posterior, both differentiable, so the statistics path's gradient flows.
import * as tf from '@tensorflow/tfjs';
import { NormBackwardOptions, NormGradients, NormOptions, NormResult } from '../ops/normalization';
import { SavedNormalization } from '../ops/saved-state';
import { Tensor } from '../tensor';
import { channelsFirstShape } from './channels-last';
import { HostOutput, differentiable } from './differentiable';
import { Rows } from './moment-rows';

/** A normalization op on this package's tensors: its forward (given the options beyond the parameters) and backward. */
export interface NormKernel {
  forward(x: Tensor, options: NormOptions): NormResult;
  backward(dy: Tensor, saved: SavedNormalization, options?: NormBackwardOptions): NormGradients;
}

/** The differentiable inputs: x channels-last, the gain per unit column, gamma and beta per channel, a prior per unit or column. */
export interface NormInputs {
  x: tf.Tensor;
  gain: tf.Tensor;
  gamma: tf.Tensor | null;
  beta: tf.Tensor | null;
  prior: Rows | null;
}

export interface NormOutputs {
  y: tf.Tensor;
  /** The posterior rows [units, columns], when asked for. */
  posterior: Rows | null;
}

const asArray = (gradient: Tensor | number | undefined): Float32Array | null => (gradient instanceof Tensor ? gradient.toArray() : null);

/**
 * y = op(x; gain, gamma, beta, prior, options), with the gradient with respect to every input.
 * `afterForward` runs once the op has (KN's running estimates are then updated). Asked for the
 * posterior, y and the posterior are copied once more (differentiable() packs them).
 */
export function normalize(kernel: NormKernel, inputs: NormInputs, options: NormOptions, withPosterior: boolean, afterForward: () => void): NormOutputs {
  const { x, gain, gamma, beta, prior } = inputs;
  const named: [string, tf.Tensor][] = [['x', x], ['gain', gain]];
  if (gamma) named.push(['gamma', gamma]);
  if (beta) named.push(['beta', beta]);
  if (prior) named.push(['prior.mean', prior.mean], ['prior.var', prior.var]);
  const shape = channelsFirstShape(x.shape);
  const [y, mean, variance] = differentiable(named, (values) => {
    const valueOf = (name: string) => values[named.findIndex(([known]) => known === name)];
    const result = kernel.forward(Tensor.fromArray(values[0], shape, { layout: 'NHWC' }), {
      ...options,
      gain: valueOf('gain'),
      gamma: gamma ? valueOf('gamma') : undefined,
      beta: beta ? valueOf('beta') : undefined,
      prior: prior ? { mean: valueOf('prior.mean'), var: valueOf('prior.var') } : undefined,
    });
    afterForward();
    const outputs: HostOutput[] = [{ values: result.y.toArray(), shape: x.shape }];
    if (withPosterior) outputs.push({ values: result.mean.toArray(), shape: result.mean.shape }, { values: result.var.toArray(), shape: result.var.shape });
    const backward = ([dy, dMean, dVar]: Float32Array[]) => {
      const gradients = kernel.backward(Tensor.fromArray(dy, shape, { layout: 'NHWC' }), result.saved, withPosterior ? { dMean, dVar } : {});
      const byName: Record<string, Tensor | number | undefined> = {
        x: gradients.dx,
        gain: gradients.dGain,
        gamma: gradients.dGamma,
        beta: gradients.dBeta,
        'prior.mean': gradients.dPriorMean,
        'prior.var': gradients.dPriorVar,
      };
      return named.map(([name]) => asArray(byName[name]));
    };
    return { outputs, backward };
  });
  return { y, posterior: withPosterior ? { mean, var: variance } : null };
}
