// The layer classes own their parameters and state, and compute exactly what the functional ops do.
import { expect } from 'chai';
import { GroupKalmanNorm, KalmanNorm, Tensor, ops } from '../lib';
import { assertClose } from './util/assert-close';
import { makeRandom } from './util/random';

const [N, C, H, W] = [4, 6, 5, 5];
const SHAPE = [N, C, H, W];

function randomTensor(seed: number, shape = SHAPE): Tensor {
  const random = makeRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(Float32Array.from({ length: size }, () => 1 + 2 * random.normal()), shape);
}

function nonTrivialParameters(layer: KalmanNorm | GroupKalmanNorm): void {
  layer.gamma!.toArray().forEach((_, c, a) => (a[c] = 0.5 + 0.25 * c));
  layer.beta!.toArray().forEach((_, c, a) => (a[c] = 0.1 * c - 0.2));
  layer.gain.toArray().forEach((_, i, a) => (a[i] = 0.05 + 0.1 * i));
}

describe('KalmanNorm layer', () => {
  const prior = { mean: new Float32Array(C).fill(0.5), var: new Float32Array(C).fill(2) };

  it('forward and backward match the functional ops with the same parameters', () => {
    const layer = new KalmanNorm(C, { virtualBatch: 2, activation: 'relu' });
    nonTrivialParameters(layer);
    const x = randomTensor(1);
    const dy = randomTensor(2);
    const result = layer.forward(x, { prior });
    const gradients = layer.backward(dy);
    const options = {
      virtualBatch: 2,
      activation: 'relu' as const,
      gamma: layer.gamma!.toArray().slice(),
      beta: layer.beta!.toArray().slice(),
      gain: layer.gain.toArray().slice(),
      prior,
    };
    const expected = ops.kalmanNorm(x, options);
    const expectedGradients = ops.kalmanNormBackward(dy, expected.saved);
    assertClose(result.y.toArray(), expected.y.toArray(), 0, 'y');
    assertClose(gradients.dx.toArray(), expectedGradients.dx.toArray(), 0, 'dx');
    assertClose(layer.grad.gamma!.toArray(), expectedGradients.dGamma!.toArray(), 0, 'grad.gamma');
    assertClose(layer.grad.beta!.toArray(), expectedGradients.dBeta!.toArray(), 0, 'grad.beta');
    assertClose(layer.grad.gain.toArray(), (expectedGradients.dGain as Tensor).toArray(), 0, 'grad.gain');
    expect(Math.max(...layer.grad.gain.toArray().map(Math.abs))).to.be.greaterThan(0);
  });

  it('without a prior the gain gradient is zero', () => {
    const layer = new KalmanNorm(C);
    layer.grad.gain.toArray().fill(5);
    layer.forward(randomTensor(3));
    layer.backward(randomTensor(4));
    expect(Array.from(layer.grad.gain.toArray())).to.deep.equal(new Array(C).fill(0));
  });

  it('training updates the running estimates; eval() normalizes with them', () => {
    const layer = new KalmanNorm(C, { momentum: 0.5 });
    const x = randomTensor(5);
    layer.forward(x);
    const batch = ops.kalmanNorm(x);
    const expectedMean = batch.mean.toArray().map((m) => 0.5 * m);
    const expectedVar = batch.var.toArray().map((v) => 0.5 + 0.5 * v);
    assertClose(layer.runningMean.toArray(), expectedMean, 1e-6, 'runningMean');
    assertClose(layer.runningVar.toArray(), expectedVar, 1e-6, 'runningVar');
    const y = layer.eval().forward(x).y;
    const expected = ops.kalmanNorm(x, {
      training: false,
      runningMean: layer.runningMean,
      runningVar: layer.runningVar,
      gamma: layer.gamma!,
      beta: layer.beta!,
    });
    assertClose(y.toArray(), expected.y.toArray(), 0, 'eval y');
    assertClose(layer.runningMean.toArray(), expectedMean, 0, 'eval leaves runningMean alone');
  });

  it('stateDict / loadStateDict carry the layer over to a new one', () => {
    const layer = new KalmanNorm(C);
    nonTrivialParameters(layer);
    layer.forward(randomTensor(6));
    const copy = new KalmanNorm(C);
    copy.loadStateDict(layer.stateDict());
    expect(Object.keys(layer.stateDict()).sort()).to.deep.equal(['beta', 'gain', 'gamma', 'runningMean', 'runningVar']);
    const x = randomTensor(7);
    assertClose(copy.eval().forward(x).y.toArray().slice(), layer.eval().forward(x).y.toArray(), 0, 'y after load');
  });

  it('reuses its output tensors from step to step (no allocation in a training loop)', () => {
    const layer = new KalmanNorm(C);
    const first = layer.forward(randomTensor(8));
    const firstDx = layer.backward(randomTensor(9)).dx;
    const second = layer.forward(randomTensor(10));
    const secondDx = layer.backward(randomTensor(11)).dx;
    expect(second.y).to.equal(first.y);
    expect(secondDx).to.equal(firstDx);
  });

  it('affine: false has no gamma or beta', () => {
    const layer = new KalmanNorm(C, { affine: false });
    expect(layer.gamma).to.equal(null);
    expect(Object.keys(layer.stateDict()).sort()).to.deep.equal(['gain', 'runningMean', 'runningVar']);
    const x = randomTensor(12);
    assertClose(layer.forward(x).y.toArray(), ops.kalmanNorm(x).y.toArray(), 0, 'y');
  });
});

describe('GroupKalmanNorm layer', () => {
  it('forward and backward match the functional ops; the gain is per group', () => {
    const groups = 3;
    const layer = new GroupKalmanNorm(C, groups);
    nonTrivialParameters(layer);
    expect(layer.gain.shape).to.deep.equal([groups]);
    const prior = { mean: new Float32Array(N * groups).fill(1), var: new Float32Array(N * groups).fill(3) };
    const x = randomTensor(13);
    const dy = randomTensor(14);
    const y = layer.forward(x, { prior }).y;
    layer.backward(dy);
    const options = { groups, gamma: layer.gamma!, beta: layer.beta!, gain: layer.gain.toArray().slice(), prior };
    const expected = ops.groupKalmanNorm(x, options);
    const expectedGradients = ops.groupKalmanNormBackward(dy, expected.saved);
    assertClose(y.toArray(), expected.y.toArray(), 0, 'y');
    assertClose(layer.grad.gain.toArray(), (expectedGradients.dGain as Tensor).toArray(), 0, 'grad.gain');
    expect(Object.keys(layer.stateDict()).sort()).to.deep.equal(['beta', 'gain', 'gamma']);
  });

  it('eval() computes the same as training (per-sample statistics)', () => {
    const layer = new GroupKalmanNorm(C, 2);
    const x = randomTensor(15);
    const trained = layer.forward(x).y.toArray().slice();
    assertClose(layer.eval().forward(x).y.toArray(), trained, 0, 'y');
  });
});
