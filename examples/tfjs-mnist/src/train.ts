// One run: model.fit at a micro-batch on the training digits in a seeded order, then the accuracy
// on the held-out digits (model.predict, so the normalization layers use their running estimates).
import * as tf from '@tensorflow/tfjs';
import { CLASSES, PIXELS, Split } from 'kalman-norm-example-mnist/dist/data';
import { makeRandom, shuffle } from 'kalman-norm-example-mnist/dist/random';
import { Method, buildMlp } from './model';

export interface RunConfig {
  method: Method;
  seed: number;
  batch: number;
  /** Training samples seen (one pass over that many digits, in a seeded order). */
  samples: number;
  learningRate: number;
}

/** The first `count` rows of a seeded permutation of the split, as tfjs tensors. */
function trainingSamples(split: Split, count: number, seed: number): { images: tf.Tensor2D; labels: tf.Tensor2D } {
  const order = Int32Array.from({ length: split.count }, (_, i) => i);
  shuffle(order, makeRandom(seed));
  const images = new Float32Array(count * PIXELS);
  const labels = new Int32Array(count);
  for (let row = 0; row < count; ++row) {
    images.set(split.images.subarray(order[row] * PIXELS, (order[row] + 1) * PIXELS), row * PIXELS);
    labels[row] = split.labels[order[row]];
  }
  return { images: tf.tensor2d(images, [count, PIXELS]), labels: tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES) as tf.Tensor2D };
}

/** Final test accuracy (0..1) and the final training loss, or NaN when the run diverged. */
export async function run(config: RunConfig, data: { train: Split; test: Split }): Promise<{ accuracy: number; loss: number }> {
  const model = buildMlp(config.method, config.seed);
  model.compile({ optimizer: tf.train.momentum(config.learningRate, 0.9), loss: 'categoricalCrossentropy' });
  const { images, labels } = trainingSamples(data.train, config.samples, config.seed);
  const history = await model.fit(images, labels, { batchSize: config.batch, epochs: 1, shuffle: false, verbose: 0 });
  const loss = history.history.loss[0] as number;
  const testImages = tf.tensor2d(data.test.images, [data.test.count, PIXELS]);
  const predicted = (model.predict(testImages, { batchSize: 500 }) as tf.Tensor).argMax(1).dataSync();
  let correct = 0;
  predicted.forEach((label, i) => (correct += label === data.test.labels[i] ? 1 : 0));
  tf.dispose([images, labels, testImages]);
  model.dispose();
  return { accuracy: correct / data.test.count, loss };
}
