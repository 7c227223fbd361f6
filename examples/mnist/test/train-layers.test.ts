/**
 * The training loop's own layers (examples/mnist/src/nn): each float32 backward against central
 * differences of the same forward code run in float64 (the kernels take Float32Array or
 * Float64Array), so the difference quotients carry no float32 rounding; SGD with momentum by hand;
 * and a smoke test that 20 steps of the MLP, each of the four ways, lower the loss on a fixed batch.
 */
import { expect } from 'chai';
import { Conv2d, ConvShape, conv2dForward } from '../src/nn/conv2d';
import { Linear, linearForward } from '../src/nn/linear';
import { MaxPool2, maxPoolForward } from '../src/nn/max-pool';
import { Parameter } from '../src/nn/parameter';
import { Relu, reluForward } from '../src/nn/relu';
import { Sgd } from '../src/nn/sgd';
import { softmaxCrossEntropy } from '../src/nn/softmax-cross-entropy';
import { CLASSES, PIXELS, gather, loadDigits } from '../src/data';
import { METHODS } from '../src/methods';
import { Network, buildConvnet, buildMlp } from '../src/models';
import { backward, forward } from '../src/train';
import { assertClose } from '../../../test/util/assert-close';
import { centralDifference } from '../../../test/util/finite-difference';
import { makeRandom, randomArray } from '../../../test/util/random';

/** float32 gradients against float64 difference quotients: normwise relative error. */
const GRADIENT_RTOL = 1e-4;
const SEED = 31;

/** Values rounded to float32, so the float32 layer and the float64 forward see the same numbers. */
function values(seed: number, length: number, std = 1): Float64Array {
  return randomArray(makeRandom(seed), length, { std }).map(Math.fround);
}

/** L = sum(G o y): its gradient with respect to y is G. */
function weightedSum(y: ArrayLike<number>, weights: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < y.length; ++i) sum += y[i] * weights[i];
  return sum;
}

describe('training layers (examples/mnist/src/nn) against finite differences', () => {
  it('linear: dx, dW and db', () => {
    const [batch, inputs, outputs] = [3, 5, 4];
    const x = values(SEED, batch * inputs);
    const layer = new Linear(inputs, outputs, makeRandom(SEED + 1).normal, true);
    layer.bias!.value.set(values(SEED + 2, outputs));
    const weight = Float64Array.from(layer.weight.value);
    const bias = Float64Array.from(layer.bias!.value);
    const g = values(SEED + 3, batch * outputs);

    layer.forward(Float32Array.from(x), [batch, inputs]);
    const dx = layer.backward(Float32Array.from(g));
    const y = new Float64Array(batch * outputs);
    const loss = () => {
      linearForward(x, weight, bias, y, batch, inputs, outputs);
      return weightedSum(y, g);
    };
    assertClose(dx, centralDifference(loss, x), GRADIENT_RTOL, 'dx');
    assertClose(layer.weight.grad, centralDifference(loss, weight), GRADIENT_RTOL, 'dW');
    assertClose(layer.bias!.grad, centralDifference(loss, bias), GRADIENT_RTOL, 'db');
  });

  it('linear: parameter gradients accumulate (a linked KN layer adds its share first)', () => {
    const layer = new Linear(2, 2, makeRandom(SEED).normal, true);
    layer.weight.grad.fill(1);
    layer.forward(new Float32Array([1, 2]), [1, 2]);
    layer.backward(new Float32Array([1, 0]));
    expect(Array.from(layer.weight.grad)).to.deep.equal([2, 3, 1, 1]);
  });

  it('conv2d 3x3 (same padding): dx and dKernel', () => {
    const shape: ConvShape = { batch: 2, inChannels: 3, outChannels: 4, height: 6, width: 5, kernel: 3 };
    const x = values(SEED + 4, shape.batch * shape.inChannels * shape.height * shape.width);
    const layer = new Conv2d(shape.inChannels, shape.outChannels, shape.kernel, makeRandom(SEED + 5).normal);
    const kernel = Float64Array.from(layer.kernel.value);
    const outLength = shape.batch * shape.outChannels * shape.height * shape.width;
    const g = values(SEED + 6, outLength);

    layer.forward(Float32Array.from(x), [shape.batch, shape.inChannels, shape.height, shape.width]);
    const dx = layer.backward(Float32Array.from(g));
    const y = new Float64Array(outLength);
    const loss = () => {
      conv2dForward(x, kernel, y, shape);
      return weightedSum(y, g);
    };
    assertClose(dx, centralDifference(loss, x), GRADIENT_RTOL, 'dx');
    assertClose(layer.kernel.grad, centralDifference(loss, kernel), GRADIENT_RTOL, 'dKernel');
  });

  it('conv2d matches a direct sum at the corners (the padding)', () => {
    const shape: ConvShape = { batch: 1, inChannels: 1, outChannels: 1, height: 3, width: 3, kernel: 3 };
    const x = new Float64Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const kernel = new Float64Array([1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8]);
    const y = new Float64Array(9);
    conv2dForward(x, kernel, y, shape);
    // Output (0, 0) sees input (0, 0), (0, 1), (1, 0), (1, 1) under taps (1, 1), (1, 2), (2, 1), (2, 2).
    expect(y[0]).to.equal(1 * 1e4 + 2 * 1e5 + 4 * 1e7 + 5 * 1e8);
    // Output (2, 2) sees input (1, 1), (1, 2), (2, 1), (2, 2) under taps (0, 0), (0, 1), (1, 0), (1, 1).
    expect(y[8]).to.equal(5 * 1 + 6 * 10 + 8 * 1000 + 9 * 1e4);
  });

  it('max pool 2x2: dx', () => {
    const [batch, channels, height, width] = [2, 3, 4, 6];
    const x = values(SEED + 7, batch * channels * height * width);
    const g = values(SEED + 8, x.length / 4);
    const layer = new MaxPool2();
    layer.forward(Float32Array.from(x), [batch, channels, height, width]);
    const dx = layer.backward(Float32Array.from(g));
    const y = new Float64Array(x.length / 4);
    const argmax = new Int32Array(y.length);
    const loss = () => {
      maxPoolForward(x, y, argmax, batch * channels, height, width);
      return weightedSum(y, g);
    };
    // Random normal values: no two in a window within the step of each other, so no tie flips.
    assertClose(dx, centralDifference(loss, x), GRADIENT_RTOL, 'dx');
  });

  it('relu: dx', () => {
    // Away from the kink: |x| >= 0.05, far beyond the difference step.
    const x = values(SEED + 9, 40).map((v) => Math.fround(v + (v >= 0 ? 0.05 : -0.05)));
    const g = values(SEED + 10, 40);
    const layer = new Relu();
    layer.forward(Float32Array.from(x), [4, 10]);
    const dx = layer.backward(Float32Array.from(g));
    const y = new Float64Array(40);
    const loss = () => {
      reluForward(x, y);
      return weightedSum(y, g);
    };
    assertClose(dx, centralDifference(loss, x), GRADIENT_RTOL, 'dx');
  });

  it('softmax cross-entropy: the loss by hand, and dLogits', () => {
    const one = softmaxCrossEntropy(new Float64Array([0, Math.log(3)]), [1], 2);
    expect(one.loss).to.be.closeTo(Math.log(4 / 3), 1e-12);
    expect(one.correct).to.equal(1);

    const [batch, classes] = [3, 5];
    const logits = values(SEED + 11, batch * classes, 3);
    const labels = [4, 0, 2];
    const dLogits = new Float32Array(batch * classes);
    softmaxCrossEntropy(Float32Array.from(logits), labels, classes, dLogits);
    const expected = centralDifference(() => softmaxCrossEntropy(logits, labels, classes).loss, logits);
    assertClose(dLogits, expected, GRADIENT_RTOL, 'dLogits');
    // Large logits: shifted by the largest, so nothing overflows.
    const large = softmaxCrossEntropy(new Float32Array([1000, 0]), [1], 2);
    expect(large.loss).to.be.closeTo(1000, 1e-9);
  });
});

describe('SGD with momentum', () => {
  it('two steps by hand: v = mu v + g + decay w, w -= lr v; gains clamped into their range', () => {
    const weight = new Parameter('w', new Float32Array([1, -2]), [2], true);
    const gain = new Parameter('gain', new Float32Array([0.5]), [1], false, [0, 1]);
    const sgd = new Sgd([weight, gain], { momentum: 0.5, weightDecay: 0.1 });
    weight.grad.set([0.5, 1]);
    gain.grad.set([-4]);
    sgd.step(0.25);
    // v = [0.5 + 0.1, 1 - 0.2] = [0.6, 0.8]; w = [1 - 0.15, -2 - 0.2]; gain: v = -4, 0.5 + 1 = 1.5 -> 1.
    assertClose(weight.value, [0.85, -2.2], 1e-6, 'w after one step');
    expect(gain.value[0]).to.equal(1);
    sgd.zeroGrad();
    expect(Array.from(weight.grad)).to.deep.equal([0, 0]);
    weight.grad.set([1, 0]);
    sgd.step(0.25);
    // v = 0.5 [0.6, 0.8] + [1, 0] + 0.1 [0.85, -2.2] = [1.385, 0.18]; w -= 0.25 v.
    assertClose(weight.value, [0.85 - 0.25 * 1.385, -2.2 - 0.25 * 0.18], 1e-6, 'w after two steps');
  });
});

describe('training smoke test', () => {
  const data = loadDigits();
  const batch = 4;
  const images = new Float32Array(batch * PIXELS);
  const labels = new Uint8Array(batch);
  gather(data.train, [0, 900, 3000, 7000], images, labels);

  it('splits the digits into 8,000 for training and 2,000 held out, every class in both', () => {
    expect(data.train.count + data.test.count).to.equal(10000);
    expect(data.test.count).to.be.within(1900, 2100);
    for (const split of [data.train, data.test]) expect(new Set(split.labels).size).to.equal(CLASSES);
  });

  /** 20 SGD steps on the fixed batch; the losses. */
  function train(network: Network, rate: number): number[] {
    const sgd = new Sgd(network.parameters, { momentum: 0.9, weightDecay: 0 });
    const dLogits = new Float32Array(batch * CLASSES);
    const losses: number[] = [];
    for (let step = 0; step < 20; ++step) {
      sgd.zeroGrad();
      losses.push(softmaxCrossEntropy(forward(network, images, batch), labels, CLASSES, dLogits).loss);
      backward(network, dLogits);
      sgd.step(rate);
    }
    return losses;
  }

  for (const method of METHODS) {
    it(`20 steps of the ${method.label} MLP lower the loss on a fixed batch`, () => {
      const losses = train(buildMlp(method, SEED, { hidden: 32, groups: 4 }), 0.02);
      expect(losses.every(Number.isFinite), losses.join(', ')).to.equal(true);
      expect(losses[19], losses.map((l) => l.toFixed(3)).join(', ')).to.be.below(0.5 * losses[0]);
    });
    it(`20 steps of the ${method.label} convnet lower the loss on a fixed batch`, () => {
      const losses = train(buildConvnet(method, SEED), 0.02);
      expect(losses.every(Number.isFinite), losses.join(', ')).to.equal(true);
      expect(losses[19], losses.map((l) => l.toFixed(3)).join(', ')).to.be.below(0.5 * losses[0]);
    });
  }
});
