// The MLP of the main job (examples/mnist), as a tf.layers model: 784 - 128 - norm - relu - 128 -
// norm - relu - 10, for one normalization method. Everything but the normalization layers is the
// same for every method: the same seeded initializers, the same layers in the same order. KN is
// linked with kn.linkModel: the first KN layer's prior from an input node through the first
// kernel, the second's from the first layer's posterior through relu and the second kernel.
import * as tf from '@tensorflow/tfjs';
import { KalmanNormalization, linkModel } from 'kalman-norm/tfjs';
import { CLASSES, PIXELS } from 'kalman-norm-example-mnist/dist/data';

export const METHODS = ['bn', 'kn'] as const;
export type Method = (typeof METHODS)[number];

export const METHOD_LABELS: Record<Method, string> = {
  bn: 'BN (tf.layers.batchNormalization)',
  kn: 'KN (KalmanNormalization + linkModel)',
};

const HIDDEN = 128;

/** The normalization layer of `method`, with tfjs's default momentum and epsilon for both. */
function normalization(method: Method): tf.layers.Layer {
  return method === 'bn' ? tf.layers.batchNormalization() : new KalmanNormalization();
}

export function buildMlp(method: Method, seed: number): tf.Sequential {
  const dense = (units: number, index: number, inputShape?: number[]) =>
    tf.layers.dense({ units, inputShape, kernelInitializer: tf.initializers.heNormal({ seed: seed * 10 + index }) });
  const model = tf.sequential();
  model.add(dense(HIDDEN, 0, [PIXELS]));
  model.add(normalization(method));
  model.add(tf.layers.reLU());
  model.add(dense(HIDDEN, 1));
  model.add(normalization(method));
  model.add(tf.layers.reLU());
  model.add(dense(CLASSES, 2));
  model.add(tf.layers.softmax());
  if (method === 'kn') linkModel(model);
  return model;
}
