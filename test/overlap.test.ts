// Outputs that share memory with another buffer of the same KN call (the addon's check, in
// csrc/addon/kalman_norm_binding.cpp): a RangeError naming the user's argument, thrown before
// anything is written. Each case aliases memory in a way that a check of buffer objects misses.
import { expect } from 'chai';
import { MessageChannel, receiveMessageOnPort } from 'worker_threads';
import { Tensor, ops } from '../lib';

const [N, C, H, W] = [4, 3, 2, 2];
const SHAPE = [N, C, H, W];
const SIZE = N * C * H * W;
const SENTINEL = 7;

/** A second SharedArrayBuffer object over the memory of `buffer`, as a worker would receive it. */
function twinOf(buffer: SharedArrayBuffer): SharedArrayBuffer {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(buffer);
  const twin = receiveMessageOnPort(port2)!.message as SharedArrayBuffer;
  port1.close();
  return twin;
}

function input(): { x: Tensor; data: Float32Array } {
  const data = new Float32Array(new SharedArrayBuffer(SIZE * 4));
  data.forEach((_, i) => (data[i] = Math.sin(i)));
  return { x: Tensor.fromArray(data, SHAPE), data };
}

function filled(shape: number[], value = SENTINEL): Tensor {
  return Tensor.fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), shape);
}

/** Runs `call`, expects the RangeError, and that `watched` kept its values. */
function expectRejected(call: () => unknown, message: string, watched: Float32Array[]): void {
  const before = watched.map((values) => values.slice());
  expect(call).to.throw(RangeError, new RegExp(`^${message.replace(/\./g, '\\.')}`));
  watched.forEach((values, i) => expect(values, `watched buffer ${i}`).to.deep.equal(before[i]));
}

describe('KN: outputs that share memory with another buffer of the call', () => {
  it('out.y over x through a second SharedArrayBuffer object', () => {
    const { x, data } = input();
    const y = Tensor.fromArray(new Float32Array(twinOf(data.buffer as SharedArrayBuffer)), SHAPE);
    expectRejected(() => ops.kalmanNorm(x, { out: { y } }), 'out.y: must not share memory with x', [data]);
  });

  it('out.mean and out.var the same tensor', () => {
    const { x, data } = input();
    const stats = filled([1, C]);
    expectRejected(() => ops.kalmanNorm(x, { out: { mean: stats, var: stats } }), 'out.var: must not share memory with out.mean', [
      data,
      stats.toArray(),
    ]);
  });

  it('out.var inside x', () => {
    const { x, data } = input();
    const variance = Tensor.fromArray(new Float32Array(data.buffer, 8, C), [1, C]);
    expectRejected(() => ops.kalmanNorm(x, { out: { var: variance } }), 'out.var: must not share memory with x', [data]);
  });

  it('out.mean inside x in inference (runningMean / runningVar given)', () => {
    const { x, data } = input();
    const mean = Tensor.fromArray(new Float32Array(data.buffer, 4 * (SIZE - C), C), [C]);
    const runningMean = new Float32Array(C).fill(0);
    const runningVar = new Float32Array(C).fill(1);
    expectRejected(() => ops.kalmanNorm(x, { training: false, runningMean, runningVar, out: { mean } }), 'out.mean: must not share memory with x', [
      data,
    ]);
  });

  it('runningMean and runningVar the same array', () => {
    const { x, data } = input();
    const running = new Float32Array(C).fill(1);
    expectRejected(() => ops.kalmanNorm(x, { runningMean: running, runningVar: running }), 'runningVar: must not share memory with runningMean', [
      data,
      running,
    ]);
  });

  it('out.dx and out.dResidual the same tensor', () => {
    const { x, data } = input();
    const residual = filled(SHAPE, 0.5);
    const { saved } = ops.kalmanNorm(x, { residual });
    const dy = filled(SHAPE, 1);
    const gradient = filled(SHAPE);
    expectRejected(
      () => ops.kalmanNormBackward(dy, saved, { out: { dx: gradient, dResidual: gradient } }),
      'out.dResidual: must not share memory with out.dx',
      [data, gradient.toArray()],
    );
  });

  it('out.dx over dy through a second SharedArrayBuffer object', () => {
    const { x } = input();
    const { saved } = ops.kalmanNorm(x);
    const dyData = new Float32Array(new SharedArrayBuffer(SIZE * 4)).fill(1);
    const dx = Tensor.fromArray(new Float32Array(twinOf(dyData.buffer as SharedArrayBuffer)), SHAPE);
    expectRejected(() => ops.kalmanNormBackward(Tensor.fromArray(dyData, SHAPE), saved, { out: { dx } }), 'out.dx: must not share memory with dy', [
      dyData,
    ]);
  });

  it('still runs with separate buffers (the same fields, no sharing)', () => {
    const { x } = input();
    const running = [new Float32Array(C).fill(0), new Float32Array(C).fill(1)];
    const result = ops.kalmanNorm(x, { runningMean: running[0], runningVar: running[1], out: { y: filled(SHAPE), mean: filled([1, C]), var: filled([1, C]) } });
    const gradients = ops.kalmanNormBackward(filled(SHAPE, 1), result.saved, { out: { dx: filled(SHAPE) } });
    expect(Array.from(gradients.dx.toArray()).every(Number.isFinite)).to.equal(true);
  });
});
