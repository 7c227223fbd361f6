// CUDA: an output sharing device memory with another buffer of the KN call is a RangeError naming
// the user's argument, raised before anything is queued (test/overlap.test.ts has the CPU cases).
import { expect } from 'chai';
import { Tensor, ops } from '../../lib';
import { describeGpu } from './gpu-suite';

const [N, C, S] = [4, 3, 4];
const SHAPE = [N, C, S];
const SENTINEL = 7;

function onDevice(shape: number[], value: (i: number) => number): Tensor {
  return Tensor.fromArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => value(i)), shape, { device: 'cuda' });
}

/** Expects the RangeError, then that each watched tensor still holds what it held. */
async function expectRejected(call: () => unknown, message: string, watched: Tensor[]): Promise<void> {
  const before = await Promise.all(watched.map((tensor) => tensor.toArrayAsync()));
  expect(call).to.throw(RangeError, new RegExp(`^${message.replace(/\./g, '\\.')}`));
  const after = await Promise.all(watched.map((tensor) => tensor.toArrayAsync()));
  after.forEach((values, i) => expect(values, `watched tensor ${i}`).to.deep.equal(before[i]));
}

describeGpu('CUDA KN: outputs that share device memory with another buffer of the call', () => {
  it('out.mean and out.var the same tensor', async () => {
    const x = onDevice(SHAPE, Math.sin);
    const stats = onDevice([1, C], () => SENTINEL);
    await expectRejected(() => ops.kalmanNorm(x, { out: { mean: stats, var: stats } }), 'out.var: must not share memory with out.mean', [x, stats]);
  });

  it('runningMean and runningVar the same tensor', async () => {
    const x = onDevice(SHAPE, Math.sin);
    const running = onDevice([C], () => 1);
    await expectRejected(() => ops.kalmanNorm(x, { runningMean: running, runningVar: running }), 'runningVar: must not share memory with runningMean', [
      x,
      running,
    ]);
  });

  it('out.dx and out.dResidual the same tensor', async () => {
    const x = onDevice(SHAPE, Math.sin);
    const { saved } = ops.kalmanNorm(x, { residual: onDevice(SHAPE, () => 0.5) });
    const gradient = onDevice(SHAPE, () => SENTINEL);
    await expectRejected(
      () => ops.kalmanNormBackward(onDevice(SHAPE, () => 1), saved, { out: { dx: gradient, dResidual: gradient } }),
      'out.dResidual: must not share memory with out.dx',
      [gradient],
    );
  });
});
