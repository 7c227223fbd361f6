// kalman-norm/tfjs linkModel: a linked KalmanNormalization layer's prior comes from an input node
// or from the layer before it through the model's own kernels, and the whole model's gradient
// (data path and statistics path) matches central differences of its loss.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { KalmanNormalization, linkModel } from '../lib/tfjs';
import { makeRandom } from './util/random';

function randomTf(seed: number, shape: number[]): tf.Tensor {
  const random = makeRandom(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.3 + random.normal()), shape);
}

const initializer = (seed: number) => tf.initializers.glorotNormal({ seed });
// No guard: a guard that flips between the two sides of a difference would make the loss jump.
const kn = () => new KalmanNormalization({ guard: Infinity, gain: 0.4 });

/** dense(5 -> 4) - KN - relu - dense(4 -> 3) - KN - dense(3 -> 2). */
function mlp(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [5], units: 4, kernelInitializer: initializer(1), biasInitializer: tf.initializers.constant({ value: 0.1 }) }));
  model.add(kn());
  model.add(tf.layers.reLU());
  model.add(tf.layers.dense({ units: 3, kernelInitializer: initializer(2), biasInitializer: tf.initializers.constant({ value: -0.2 }) }));
  model.add(kn());
  model.add(tf.layers.dense({ units: 2, kernelInitializer: initializer(3) }));
  return model;
}

/** conv(1 -> 2, 3x3) - KN - relu - maxPool 2x2 - conv(2 -> 3, 3x3) - KN - flatten - dense(-> 2). */
function convnet(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, padding: 'same', kernelInitializer: initializer(4) }));
  model.add(kn());
  model.add(tf.layers.activation({ activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: initializer(5) }));
  model.add(kn());
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 2, kernelInitializer: initializer(6) }));
  return model;
}

/** sum(output * weights) of a training call. */
function lossOf(model: tf.Sequential, x: tf.Tensor, weights: tf.Tensor): () => tf.Scalar {
  return () => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, weights)) as tf.Scalar;
}

/** Central differences of `loss` with respect to every entry of `variable`, in float64 arithmetic on the float32 losses. */
function centralDifferences(loss: () => tf.Scalar, variable: tf.Variable, step: number): Float64Array {
  const original = (variable.dataSync() as Float32Array).slice();
  const at = (values: Float32Array) => {
    variable.assign(tf.tensor(values, variable.shape));
    return tf.tidy(() => loss().dataSync()[0]);
  };
  const gradient = new Float64Array(original.length);
  for (let i = 0; i < original.length; ++i) {
    const moved = original.slice();
    moved[i] = original[i] + step;
    const above = at(moved);
    moved[i] = original[i] - step;
    const below = at(moved);
    gradient[i] = (above - below) / (2 * step);
  }
  variable.assign(tf.tensor(original, variable.shape));
  return gradient;
}

/**
 * The model's gradient with respect to every trainable variable against central differences. A
 * bias in front of a normalization has a gradient that is zero but for rounding: errors are
 * measured against max(|expected|, 0.05), so such noise is not compared relatively. The step is
 * small enough that the relu and max-pool kinks of the data path are rarely crossed.
 */
function checkGradients(model: tf.Sequential, inputShape: number[], outputs: number): void {
  const x = randomTf(7, inputShape);
  const loss = lossOf(model, x, randomTf(8, [inputShape[0], outputs]));
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const { grads } = tf.variableGrads(loss, variables);
  for (const variable of variables) {
    const expected = centralDifferences(loss, variable, 1e-3);
    const actual = grads[variable.name].dataSync();
    const scale = Math.max(0.05, ...expected.map(Math.abs));
    const largest = Math.max(...actual.map((value, i) => Math.abs(value - expected[i])));
    expect(largest / scale, `${variable.name}: ${Array.from(actual)} against ${Array.from(expected)}`).to.be.lessThan(2e-2);
  }
}

describe('kalman-norm/tfjs linkModel', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  /** The gradient of each KN layer's gain in one training call of `model`. */
  function gainGradients(model: tf.Sequential, layers: number[]): number[][] {
    const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const { grads } = tf.variableGrads(lossOf(model, randomTf(1, [4, 5]), randomTf(2, [4, 2])), variables);
    return layers.map((layer) => Array.from(grads[(model.layers[layer].trainableWeights[2].read() as tf.Variable).name].dataSync()));
  }

  it('links the KN layer after the first dense layer to an input node and the next through relu and a dense layer: both gains learn', () => {
    const model = mlp();
    expect(linkModel(model)).to.deep.equal([model.layers[1], model.layers[4]]);
    for (const gain of gainGradients(model, [1, 4])) expect(gain.some((value) => value !== 0)).to.equal(true);
  });

  it('without the input node ({ input: false }) the first KN layer has no prior', () => {
    const model = mlp();
    expect(linkModel(model, { input: false })).to.deep.equal([model.layers[4]]);
    const [first, second] = gainGradients(model, [1, 4]);
    expect(first).to.deep.equal([0, 0, 0, 0]);
    expect(second.some((value) => value !== 0)).to.equal(true);
  });

  it('an MLP\'s gradient (input node and link), with respect to every kernel, bias, gamma, beta and gain, matches central differences', () => {
    const model = mlp();
    linkModel(model);
    checkGradients(model, [4, 5], 2);
  });

  it('a convnet linked through relu, a 2x2 max pool and the conv kernel: the gradient matches central differences', () => {
    const model = convnet();
    expect(linkModel(model)).to.deep.equal([model.layers[5]]);
    checkGradients(model, [2, 4, 4, 1], 2);
  });

  it('links a functional model\'s chain the same way, and a branch ends the chain', () => {
    const input = tf.input({ shape: [5] });
    const [kn1, kn2, kn3] = [kn(), kn(), kn()];
    const dense = (units: number) => tf.layers.dense({ units, kernelInitializer: initializer(units) });
    const first = kn1.apply(dense(4).apply(input)) as tf.SymbolicTensor;
    const second = kn2.apply(dense(4).apply(tf.layers.reLU().apply(first))) as tf.SymbolicTensor;
    // kn3's dense takes the concatenation of kn2's and kn1's outputs: no transition describes that.
    const joined = tf.layers.concatenate().apply([tf.layers.reLU().apply(second) as tf.SymbolicTensor, first]);
    const output = dense(2).apply(kn3.apply(dense(3).apply(joined))) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    expect(linkModel(model)).to.deep.equal([kn1, kn2]);
    const loss = () => tf.sum(tf.mul(model.apply(randomTf(1, [4, 5]), { training: true }) as tf.Tensor, randomTf(2, [4, 2]))) as tf.Scalar;
    const { grads } = tf.variableGrads(loss);
    const gain = (layer: KalmanNormalization) => Array.from(grads[(layer.trainableWeights[2].read() as tf.Variable).name]?.dataSync() ?? []);
    expect(gain(kn2).some((value) => value !== 0)).to.equal(true);
    expect(gain(kn3).every((value) => value === 0)).to.equal(true);
  });

  it('model.fit at batch 2 trains a linked model', async () => {
    const model = mlp();
    linkModel(model);
    model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
    const history = await model.fit(randomTf(3, [16, 5]), randomTf(4, [16, 2]), { batchSize: 2, epochs: 4, shuffle: false, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses.every(Number.isFinite)).to.equal(true);
    expect(losses[losses.length - 1]).to.be.lessThan(losses[0]);
  });

  it('rejects what it cannot link, and bad options, naming them', () => {
    expect(() => linkModel({} as tf.Sequential)).to.throw(TypeError, /^model: expected a tf.LayersModel \(tf.sequential\(\) or tf.model\(\)\), got Object/);
    expect(() => linkModel(tf.sequential())).to.throw(RangeError, /^model: no KalmanNormalization layer/);
    expect(() => linkModel(mlp(), { input: 'yes' as unknown as boolean })).to.throw(TypeError, /^options.input: expected a boolean, got 'yes'/);
    expect(() => linkModel(mlp(), { inputs: true } as object)).to.throw(TypeError, /^options.inputs: not an option here/);
    const unlinkable = tf.sequential();
    unlinkable.add(tf.layers.dense({ inputShape: [3], units: 2, activation: 'tanh' }));
    unlinkable.add(kn());
    unlinkable.add(tf.layers.dense({ units: 2, activation: 'tanh' }));
    unlinkable.add(kn());
    expect(() => linkModel(unlinkable)).to.throw(RangeError, /^model: no KalmanNormalization layer follows a first dense layer/);
  });
});
