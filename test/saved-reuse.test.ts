/**
 * A forward that reuses a saved state (out.saved) on the CPU copies its gamma, gain and prior into
 * the copies that state kept, instead of allocating new ones: the backward must still read this
 * call's values, as they were at the forward, whatever the caller writes afterwards, and whatever
 * the earlier call's parameters were (other values, other lengths, none). And the native
 * call's argument has one set of keys whatever options are given (a stable hidden class).
 */
import { expect } from 'chai';
import { Tensor, ops } from '../lib';
import { parseGroupKalmanNormCall } from '../lib/ops/group-kalman-norm';
import { parseKalmanNormCall } from '../lib/ops/kalman-norm';
import { readyForward } from '../lib/ops/norm-ready';
import { gradientArrays } from './util/gradient-arrays';
import { makeRandom } from './util/random';

const random = makeRandom(3131);
const [N, C, H, W] = [4, 6, 2, 2];
const values = (length: number, scale = 1, offset = 0) => Float32Array.from({ length }, () => offset + scale * random.normal());
const gains = (length: number) => Float32Array.from({ length }, (_, i) => 0.1 + (0.8 * i) / length);

describe('a forward reusing out.saved keeps its own copies of the parameters (CPU)', () => {
  const x1 = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
  const x2 = Tensor.fromArray(values(N * C * H * W, 2, 1), [N, C, H, W]);
  const dy = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);

  it('kalmanNorm: the backward reads the second call\'s Float32Array parameters as they were at its forward', () => {
    const first = ops.kalmanNorm(x1, { gamma: values(C, 0.2, 1), gain: gains(C), prior: { mean: values(C), var: values(C, 0.1, 1) } });
    const given = { gamma: values(C, 0.3, 1), beta: values(C), gain: gains(C).reverse(), prior: { mean: values(C), var: values(C, 0.1, 2) } };
    const copy = {
      gamma: given.gamma.slice(), beta: given.beta.slice(), gain: given.gain.slice(),
      prior: { mean: given.prior.mean.slice(), var: given.prior.var.slice() },
    };
    const second = ops.kalmanNorm(x2, { ...given, out: { saved: first.saved } });
    expect(first.saved.reused, 'first.saved reused').to.equal(true);
    given.gamma.fill(-3);
    given.gain.fill(1);
    given.prior.mean.fill(5);
    given.prior.var.fill(9);
    const expected = gradientArrays(ops.kalmanNormBackward(dy, ops.kalmanNorm(x2, copy).saved));
    expect(gradientArrays(ops.kalmanNormBackward(dy, second.saved))).to.deep.equal(expected);
  });

  it('groupKalmanNorm: CPU tensors as gamma, gain and prior, overwritten after the forward', () => {
    const groups = 3;
    const vector = (data: Float32Array) => Tensor.fromArray(data, [data.length]);
    const first = ops.groupKalmanNorm(x1, { groups, gamma: vector(values(C, 0.2, 1)), gain: vector(gains(groups)), prior: { mean: vector(values(groups)), var: vector(values(groups, 0.1, 1)) } });
    const data = { gamma: values(C, 0.3, 1), gain: gains(groups).reverse(), mean: values(groups), var: values(groups, 0.1, 2) };
    const tensors = { gamma: vector(data.gamma.slice()), gain: vector(data.gain.slice()), mean: vector(data.mean.slice()), var: vector(data.var.slice()) };
    const second = ops.groupKalmanNorm(x2, { groups, gamma: tensors.gamma, gain: tensors.gain, prior: { mean: tensors.mean, var: tensors.var }, out: { saved: first.saved } });
    for (const tensor of Object.values(tensors)) tensor.writeSync(new Float32Array(tensor.size).fill(0.5));
    const fresh = ops.groupKalmanNorm(x2, { groups, gamma: vector(data.gamma), gain: vector(data.gain), prior: { mean: vector(data.mean), var: vector(data.var) } });
    expect(gradientArrays(ops.groupKalmanNormBackward(dy, second.saved))).to.deep.equal(gradientArrays(ops.groupKalmanNormBackward(dy, fresh.saved)));
  });

  it('kalmanNorm: parameters of other lengths or kinds than the reused call\'s (a per-unit prior after a per-channel one, gamma after none, a number gain after a vector)', () => {
    const virtualBatch = 2;
    const rows = N / virtualBatch;
    const first = ops.kalmanNorm(x1, { virtualBatch, gain: gains(C), prior: { mean: values(C), var: values(C, 0.1, 1) } });
    const given = { virtualBatch, gamma: values(C, 0.3, 1), gain: 0.4, prior: { mean: values(rows * C), var: values(rows * C, 0.1, 2) } };
    const copy = { ...given, gamma: given.gamma.slice(), prior: { mean: given.prior.mean.slice(), var: given.prior.var.slice() } };
    const second = ops.kalmanNorm(x2, { ...given, out: { saved: first.saved } });
    given.gamma.fill(2);
    given.prior.mean.fill(-1);
    given.prior.var.fill(3);
    const expected = gradientArrays(ops.kalmanNormBackward(dy, ops.kalmanNorm(x2, copy).saved));
    expect(gradientArrays(ops.kalmanNormBackward(dy, second.saved))).to.deep.equal(expected);
  });

  it('a chain of forwards, each reusing the one before, with new values each step: every step\'s backward is its own', () => {
    let saved = ops.kalmanNorm(x1, { gamma: values(C), gain: 0.2 }).saved;
    for (let step = 0; step < 3; step++) {
      const options = { gamma: values(C, 0.5, 1), gain: 0.1 * (step + 1), prior: { mean: values(C), var: values(C, 0.1, 1) } };
      const expected = gradientArrays(ops.kalmanNormBackward(dy, ops.kalmanNorm(x2, options).saved));
      saved = ops.kalmanNorm(x2, { ...options, out: { saved } }).saved;
      options.gamma.fill(0);
      expect(gradientArrays(ops.kalmanNormBackward(dy, saved)), `step ${step}`).to.deep.equal(expected);
    }
  });
});

describe('the native forward argument has one set of keys', () => {
  const x = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
  const keys = (value: object): string[] => Object.keys(value);

  it('KN training with and without gamma, beta, prior, running estimates and residual; GKN', () => {
    const running = () => ({ runningMean: new Float32Array(C), runningVar: new Float32Array(C).fill(1) });
    const calls = [
      readyForward(parseKalmanNormCall(x, {})),
      readyForward(parseKalmanNormCall(x, { gamma: values(C), beta: values(C), gain: gains(C), prior: { mean: values(C), var: values(C, 0.1, 1) }, ...running() })),
      readyForward(parseKalmanNormCall(x, { residual: Tensor.zeros([N, C, H, W]), activation: 'relu', ...running() })),
      readyForward(parseGroupKalmanNormCall(x, { groups: 2, prior: { mean: values(N * 2), var: values(N * 2, 0.1, 1) } })),
    ];
    const [first, ...rest] = calls.map((call) => call.args as unknown as Record<string, object>);
    for (const args of rest) {
      expect(keys(args)).to.deep.equal(keys(first));
      expect(keys(args.io)).to.deep.equal(keys(first.io));
      expect(keys((args.io as Record<string, object>).epilogue)).to.deep.equal(keys((first.io as Record<string, object>).epilogue));
      expect(keys(args.state)).to.deep.equal(keys(first.state));
    }
  });
});
