// kalman-norm/tfjs: the tfjs layers compute what the core ops compute (forward, gradients, running
// estimates), train inside model.fit, and survive model.save / tf.loadLayersModel.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { Tensor, ops } from '../lib';
import { GroupKalmanNormalization, KalmanNormalization } from '../lib/tfjs';
import { differentiable } from '../lib/tfjs/differentiable';
import { makeRandom } from './util/random';

const [N, H, W, C] = [4, 3, 2, 6];

function randomValues(seed: number, size: number): Float32Array {
  const random = makeRandom(seed);
  return Float32Array.from({ length: size }, () => 0.5 + 2 * random.normal());
}

function randomTf(seed: number, shape: number[]): tf.Tensor {
  return tf.tensor(randomValues(seed, shape.reduce((a, b) => a * b, 1)), shape);
}

/** The same values as this package's tensor [N, C, H, W] in NHWC memory order (a copy). */
function asCore(tensor: tf.Tensor): Tensor {
  const [samples, height, width, channels] = tensor.shape;
  return Tensor.fromArray((tensor.dataSync() as Float32Array).slice(), [samples, channels, height, width], { layout: 'NHWC' });
}

const values = (tensor: tf.Tensor | Tensor) => Array.from(tensor instanceof Tensor ? tensor.toArray() : tensor.dataSync());

/** Weights that are not the initial ones, in the layer's order: gamma, beta, gain (, moving mean, moving variance). */
function setNonTrivialWeights(layer: tf.layers.Layer, gains: number): void {
  const ramp = (length: number, start: number, step: number) => tf.tensor1d(Float32Array.from({ length }, (_, i) => start + step * i));
  const weights = [ramp(C, 0.5, 0.25), ramp(C, -0.2, 0.1), ramp(gains, 0.05, 0.1)];
  if (layer instanceof KalmanNormalization) weights.push(ramp(C, 0.3, -0.1), ramp(C, 0.5, 0.2));
  layer.setWeights(weights);
}

/** sum(y * dy) and its gradients with respect to x and to each trainable weight, by name. */
function gradientsThroughLayer(layer: tf.layers.Layer, x: tf.Tensor, dy: tf.Tensor) {
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, dy)) as tf.Scalar;
  const dx = tf.grad(loss)(x);
  const variables = layer.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => loss(x), variables);
  const [dGamma, dBeta, dGain] = variables.map((variable) => grads[variable.name]);
  return { dx, dGamma, dBeta, dGain };
}

describe('kalman-norm/tfjs', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('KalmanNormalization', () => {
    it('a training call equals ops.kalmanNorm, and updates moving_mean / moving_variance as the op updates its running estimates', () => {
      const layer = new KalmanNormalization({ virtualBatch: 2, momentum: 0.9, epsilon: 1e-4 });
      layer.build([N, H, W, C]);
      setNonTrivialWeights(layer, C);
      const [gamma, beta, gain, movingMean, movingVariance] = layer.getWeights().map((weight) => (weight.dataSync() as Float32Array).slice());
      const x = randomTf(1, [N, H, W, C]);
      const y = layer.apply(x, { training: true }) as tf.Tensor;
      const expected = ops.kalmanNorm(asCore(x), { virtualBatch: 2, momentum: 0.1, eps: 1e-4, gamma, beta, gain, runningMean: movingMean, runningVar: movingVariance });
      expect(y.shape).to.deep.equal([N, H, W, C]);
      expect(values(y)).to.deep.equal(values(expected.y));
      const [, , , newMean, newVariance] = layer.getWeights();
      expect(values(newMean)).to.deep.equal(Array.from(movingMean));
      expect(values(newVariance)).to.deep.equal(Array.from(movingVariance));
    });

    it('without training (model.predict) normalizes with the moving estimates and leaves them unchanged', () => {
      const layer = new KalmanNormalization();
      layer.build([N, H, W, C]);
      setNonTrivialWeights(layer, C);
      const [gamma, beta, , movingMean, movingVariance] = layer.getWeights().map((weight) => (weight.dataSync() as Float32Array).slice());
      const x = randomTf(2, [N, H, W, C]);
      const y = layer.apply(x) as tf.Tensor;
      const expected = ops.kalmanNorm(asCore(x), { training: false, eps: 1e-3, gamma, beta, runningMean: movingMean, runningVar: movingVariance });
      expect(values(y)).to.deep.equal(values(expected.y));
      expect(values(layer.getWeights()[3])).to.deep.equal(Array.from(movingMean));
    });

    it('the gradients of x, gamma and beta are ops.kalmanNormBackward\'s; the gain\'s is zero without a prior', () => {
      const layer = new KalmanNormalization({ virtualBatch: 2 });
      layer.build([N, H, W, C]);
      setNonTrivialWeights(layer, C);
      const [gamma, beta, gain, movingMean, movingVariance] = layer.getWeights().map((weight) => (weight.dataSync() as Float32Array).slice());
      const x = randomTf(3, [N, H, W, C]);
      const dy = randomTf(4, [N, H, W, C]);
      const gradients = gradientsThroughLayer(layer, x, dy);
      const forward = ops.kalmanNorm(asCore(x), { virtualBatch: 2, momentum: 0.01, eps: 1e-3, gamma, beta, gain, runningMean: movingMean, runningVar: movingVariance });
      const expected = ops.kalmanNormBackward(asCore(dy), forward.saved);
      expect(values(gradients.dx)).to.deep.equal(values(expected.dx));
      expect(values(gradients.dGamma)).to.deep.equal(values(expected.dGamma!));
      expect(values(gradients.dBeta)).to.deep.equal(values(expected.dBeta!));
      expect(values(gradients.dGain)).to.deep.equal(new Array(C).fill(0));
    });

    it('a gain the optimizer stepped outside [0, 1] is used clipped', () => {
      const layer = new KalmanNormalization();
      layer.build([N, C]);
      const [gamma, beta, , mean, variance] = layer.getWeights();
      layer.setWeights([gamma, beta, tf.fill([C], 1.5), mean, variance]);
      const y = layer.apply(randomTf(5, [N, C]), { training: true }) as tf.Tensor;
      expect(values(y).every(Number.isFinite)).to.equal(true);
    });

    it('rejects bad options, naming them', () => {
      expect(() => new KalmanNormalization({ epsilon: 0 })).to.throw(RangeError, /^epsilon: expected a finite number >= 2\^-126/);
      expect(() => new KalmanNormalization({ momentum: 2 })).to.throw(RangeError, /^momentum: expected a number in \[0, 1\], got 2/);
      expect(() => new KalmanNormalization({ gain: -0.5 })).to.throw(RangeError, /^gain: expected a number in \[0, 1\], got -0.5/);
      expect(() => new KalmanNormalization({ virtualBatch: 1.5 })).to.throw(RangeError, /^virtualBatch: expected a positive integer, got 1.5/);
      expect(() => new KalmanNormalization({ center: 'yes' as unknown as boolean })).to.throw(TypeError, /^center: expected a boolean/);
      expect(() => new KalmanNormalization({ guardStatistic: 'median' as 'mean' })).to.throw(RangeError, /^guardStatistic: expected one of 'geometric', 'mean', got 'median'/);
      const layer = new KalmanNormalization({ virtualBatch: 3 });
      expect(() => layer.apply(randomTf(6, [N, C]), { training: true })).to.throw(RangeError, /^virtualBatch: must divide the batch size N = 4, got 3/);
      expect(() => layer.apply(tf.ones([N, C], 'int32'), { training: true })).to.throw(TypeError, /^x: expected a float32 tensor, got int32/);
      expect(() => layer.apply(randomTf(6, [N, C]), { training: 'yes' })).to.throw(TypeError, /^training: expected a boolean, got 'yes'/);
      expect(() => new KalmanNormalization().build([C])).to.throw(RangeError, /^inputShape: expected \[batch, \.\.\.spatial, channels\] with known channels, got \[6\]/);
      expect(() => new KalmanNormalization(null as unknown as {})).to.throw(TypeError, /^args: expected an object, got null/);
    });
  });

  describe('GroupKalmanNormalization', () => {
    it('forward and gradients equal ops.groupKalmanNorm and its backward', () => {
      const layer = new GroupKalmanNormalization({ groups: 3, epsilon: 1e-5 });
      layer.build([N, H, W, C]);
      setNonTrivialWeights(layer, 3);
      const [gamma, beta, gain] = layer.getWeights().map((weight) => (weight.dataSync() as Float32Array).slice());
      const x = randomTf(7, [N, H, W, C]);
      const dy = randomTf(8, [N, H, W, C]);
      const forward = ops.groupKalmanNorm(asCore(x), { groups: 3, eps: 1e-5, gamma, beta, gain });
      expect(values(layer.apply(x) as tf.Tensor)).to.deep.equal(values(forward.y));
      const gradients = gradientsThroughLayer(layer, x, dy);
      const expected = ops.groupKalmanNormBackward(asCore(dy), forward.saved);
      expect(values(gradients.dx)).to.deep.equal(values(expected.dx));
      expect(values(gradients.dGamma)).to.deep.equal(values(expected.dGamma!));
      expect(values(gradients.dBeta)).to.deep.equal(values(expected.dBeta!));
    });

    it('rejects a group count that does not divide the channels, naming groups', () => {
      expect(() => new GroupKalmanNormalization({ groups: 0 })).to.throw(RangeError, /^groups: expected an integer in \[1, 16777216\]/);
      const layer = new GroupKalmanNormalization({ groups: 4 });
      expect(() => layer.build([N, C])).to.throw(RangeError, /^groups: must divide the channel count 6, got 4/);
    });
  });

  describe('on tfjs\'s cpu backend', () => {
    it('the op reads the input\'s own storage and its one output becomes the result\'s storage: no copy', () => {
      const x = randomTf(9, [N, H, W, C]);
      const output = new Float32Array(x.size);
      let seen: Float32Array | undefined;
      const [y] = differentiable([['x', x]], ([values]) => {
        seen = values;
        return { outputs: [{ values: output, shape: x.shape }], backward: () => [null] };
      });
      expect(seen).to.equal(x.dataSync());
      expect(y.dataSync()).to.equal(output);
    });
  });

  describe('in a model', () => {
    function model(): tf.Sequential {
      const network = tf.sequential();
      network.add(tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
      network.add(new KalmanNormalization({ virtualBatch: 1 }));
      network.add(tf.layers.reLU());
      network.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
      network.add(new GroupKalmanNormalization({ groups: 2, gain: 0.5 }));
      network.add(tf.layers.flatten());
      network.add(tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
      network.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
      return network;
    }
    const images = () => randomTf(10, [8, 4, 4, 1]);
    const labels = () => tf.oneHot(tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1], 'int32'), 2);

    it('model.fit at batch 2 lowers the loss', async () => {
      const network = model();
      const history = await network.fit(images(), labels(), { batchSize: 2, epochs: 8, shuffle: false, verbose: 0 });
      const losses = history.history.loss as number[];
      expect(losses[losses.length - 1]).to.be.lessThan(losses[0]);
    });

    it('model.save and tf.loadLayersModel round-trip every weight, the config and the predictions', async () => {
      const network = model();
      await network.fit(images(), labels(), { batchSize: 2, epochs: 1, shuffle: false, verbose: 0 });
      let saved: tf.io.ModelArtifacts | undefined;
      await network.save(tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
      expect(loaded.layers[1]).to.be.instanceOf(KalmanNormalization);
      expect(loaded.layers[4]).to.be.instanceOf(GroupKalmanNormalization);
      expect(loaded.layers[1].getConfig()).to.deep.equal(network.layers[1].getConfig());
      expect(loaded.layers[4].getConfig()).to.deep.equal(network.layers[4].getConfig());
      const names = (m: tf.LayersModel) => m.weights.map((weight) => weight.originalName);
      expect(names(loaded)).to.deep.equal(names(network));
      expect(names(loaded)).to.include.members([`${network.layers[1].name}/moving_mean`, `${network.layers[4].name}/gain`]);
      network.getWeights().forEach((weight, i) => expect(values(loaded.getWeights()[i]), names(network)[i]).to.deep.equal(values(weight)));
      expect(values(loaded.predict(images()) as tf.Tensor)).to.deep.equal(values(network.predict(images()) as tf.Tensor));
    });
  });
});
