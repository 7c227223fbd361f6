/**
 * The full text of the vector checks' messages: the ops build the "expected ..." part only when
 * they throw (lib/ops/arguments.ts, Expected), and the element checks loop without a test
 * function; the texts stay what they were when both were built on every call.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../lib';

const [N, C, H, W] = [4, 6, 2, 2];
const x = Tensor.fromArray(new Float32Array(N * C * H * W).map((_, i) => Math.sin(i)), [N, C, H, W]);
const filled = (length: number, value = 1) => new Float32Array(length).fill(value);

const cases: { call: () => unknown; message: string }[] = [
  { call: () => ops.kalmanNorm(x, { gamma: filled(8) }), message: 'gamma: expected one value per channel [6] (6 values), got 8' },
  { call: () => ops.kalmanNorm(x, { beta: Tensor.fromArray(filled(8), [2, 4]) }), message: 'beta: expected one value per channel [6] (6 values), got shape [2, 4]' },
  { call: () => ops.kalmanNorm(x, { gain: filled(3, 0.1) }), message: 'gain: expected one gain per channel [6] (6 values), got 3' },
  { call: () => ops.groupKalmanNorm(x, { groups: 3, gain: filled(6, 0.1) }), message: 'gain: expected one gain per group [3] (3 values), got 6' },
  { call: () => ops.kalmanNorm(x, { gain: Float32Array.from([0.1, 2, 0.1, 0.1, 0.1, 0.1]) }), message: 'gain: expected values in [0, 1], got 2 at index 1' },
  { call: () => ops.kalmanNorm(x, { gain: Float32Array.from([0.1, 0.1, NaN, 0.1, 0.1, 0.1]) }), message: 'gain: expected values in [0, 1], got NaN at index 2' },
  { call: () => ops.kalmanNorm(x, { virtualBatch: 2, prior: { mean: filled(5), var: filled(6) } }), message: 'prior.mean: expected per unit [2, 6] or per channel [6] (12 values), got 5' },
  { call: () => ops.groupKalmanNorm(x, { groups: 3, prior: { mean: filled(3), var: filled(7) } }), message: 'prior.var: expected per unit [4, 3] or per group [3] (12 values), got 7' },
  { call: () => ops.kalmanNorm(x, { prior: { mean: filled(6), var: Float32Array.from([1, 1, -1, 1, 1, 1]) } }), message: 'prior.var: expected non-negative variances, got -1 at index 2' },
  { call: () => ops.kalmanNorm(x, { runningMean: filled(6), runningVar: filled(2) }), message: 'runningVar: expected one value per channel [6] (6 values), got 2' },
  { call: () => ops.kalmanNorm(x, { runningMean: filled(6), runningVar: Float32Array.from([1, -2, 1, 1, 1, 1]) }), message: 'runningVar: expected non-negative variances, got -2 at index 1' },
  { call: () => ops.kalmanNormBackward(x, ops.kalmanNorm(x, { virtualBatch: 2 }).saved, { dMean: filled(4) }), message: 'dMean: expected one value per unit [2, 6] (12 values), got 4' },
  {
    call: () => ops.groupKalmanNormBackward(x, ops.groupKalmanNorm(x, { groups: 3 }).saved, { dVar: Tensor.fromArray(filled(4), [2, 2]) }),
    message: 'dVar: expected one value per unit [4, 3] (12 values), got shape [2, 2]',
  },
];

describe('vector checks: the full messages', () => {
  for (const { call, message } of cases)
    it(message, () => {
      expect(call).to.throw(RangeError).with.property('message', message);
    });
});
