/**
 * What a forward keeps for its backward (issue 12): the parameters are copied, so changing the
 * caller's arrays between forward and backward cannot change the gradient; and a saved state
 * whose memory a later forward reused (out.saved) refuses to run a backward it would get wrong.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../lib';
import { gradientArrays } from './util/gradient-arrays';
import { makeRandom } from './util/random';

const random = makeRandom(1212);
const [N, C, H, W] = [4, 3, 2, 2];
const values = (length: number, scale = 1, offset = 0) => Float32Array.from({ length }, () => offset + scale * random.normal());

describe('saved state (issue 12)', () => {
  it('kalmanNorm on the CPU: overwriting prior, gain and gamma after the forward does not change the gradient', () => {
    const x = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const dy = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const make = () => ({
      prior: { mean: values(C), var: values(C, 0.1, 1) },
      gain: Float32Array.from({ length: C }, (_, c) => 0.2 + 0.2 * c),
      gamma: values(C, 0.2, 1),
      beta: values(C),
    });
    const given = make();
    const copy = () => ({
      prior: { mean: given.prior.mean.slice(), var: given.prior.var.slice() },
      gain: given.gain.slice(), gamma: given.gamma.slice(), beta: given.beta.slice(),
    });
    const reference = ops.kalmanNorm(x, copy());
    const expected = gradientArrays(ops.kalmanNormBackward(dy, reference.saved));
    const result = ops.kalmanNorm(x, given);
    given.prior.mean.fill(5);
    given.prior.var.fill(9);
    given.gain.fill(1);
    given.gamma.fill(-3);
    expect(gradientArrays(ops.kalmanNormBackward(dy, result.saved))).to.deep.equal(expected);
  });

  it('groupKalmanNorm on the CPU: overwriting a gamma tensor after the forward does not change the gradient', () => {
    const x = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const dy = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const gammaValues = values(C, 0.2, 1);
    const reference = ops.groupKalmanNorm(x, { groups: 1, gamma: Tensor.fromArray(gammaValues.slice(), [C]) });
    const expected = gradientArrays(ops.groupKalmanNormBackward(dy, reference.saved));
    const gamma = Tensor.fromArray(gammaValues.slice(), [C]);
    const result = ops.groupKalmanNorm(x, { groups: 1, gamma });
    gamma.writeSync(new Float32Array(C).fill(7));
    expect(gradientArrays(ops.groupKalmanNormBackward(dy, result.saved))).to.deep.equal(expected);
  });

  it('a saved state does not hold its call outputs, so out.saved cannot chain every step to the one before (npm run soak found that leak)', () => {
    const x = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    let saved = ops.kalmanNorm(x).saved;
    for (let step = 0; step < 3; step++) saved = ops.kalmanNorm(x, { out: { saved } }).saved;
    const reachable = new Set<unknown>();
    const visit = (value: unknown): void => {
      if (typeof value !== 'object' || value === null || reachable.has(value) || ArrayBuffer.isView(value)) return;
      reachable.add(value);
      Object.values(value).forEach(visit);
    };
    visit(saved);
    const others = [...reachable].filter((value) => value instanceof saved.constructor && value !== saved);
    expect(others, 'earlier saved states reachable from the latest').to.deep.equal([]);
  });

  it('a saved state reused as out.saved by a later forward: its backward throws an Error naming saved', () => {
    const x1 = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const x2 = Tensor.fromArray(values(N * C * H * W, 3, 1), [N, C, H, W]);
    const dy = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const first = ops.kalmanNorm(x1, {});
    const second = ops.kalmanNorm(x2, { out: { saved: first.saved } });
    const dx = Tensor.fromArray(new Float32Array(N * C * H * W).fill(7), [N, C, H, W]);
    let caught: unknown;
    try {
      ops.kalmanNormBackward(dy, first.saved, { out: { dx } });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(Error);
    expect((caught as Error).constructor).to.equal(Error);
    expect((caught as Error).message).to.match(/^saved: reused as out\.saved by a later forward call/);
    expect(Array.from(dx.toArray()).every((v) => v === 7), 'dx written').to.equal(true);
    // The later call's saved state is intact and gives the gradient of a call that reused nothing.
    const fresh = ops.kalmanNorm(x2, {});
    expect(gradientArrays(ops.kalmanNormBackward(dy, second.saved))).to.deep.equal(gradientArrays(ops.kalmanNormBackward(dy, fresh.saved)));
  });

  it('passing an already reused saved state as out.saved again leaves the call that reused it intact', () => {
    const x1 = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const x2 = Tensor.fromArray(values(N * C * H * W, 2), [N, C, H, W]);
    const x3 = Tensor.fromArray(values(N * C * H * W, 4, -1), [N, C, H, W]);
    const dy = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const first = ops.kalmanNorm(x1, {});
    const second = ops.kalmanNorm(x2, { out: { saved: first.saved } });
    const third = ops.kalmanNorm(x3, { out: { saved: first.saved } });
    expect(gradientArrays(ops.kalmanNormBackward(dy, second.saved))).to.deep.equal(gradientArrays(ops.kalmanNormBackward(dy, ops.kalmanNorm(x2, {}).saved)));
    expect(gradientArrays(ops.kalmanNormBackward(dy, third.saved))).to.deep.equal(gradientArrays(ops.kalmanNormBackward(dy, ops.kalmanNorm(x3, {}).saved)));
  });

  it('a layer reuses its own saved state step after step and its backward still works', () => {
    // The layers pass their last saved state as out.saved: only the newest one is ever used.
    const x = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const dy = Tensor.fromArray(values(N * C * H * W), [N, C, H, W]);
    const first = ops.kalmanNorm(x, {});
    const again = ops.kalmanNorm(x, { out: { saved: first.saved } });
    expect(() => ops.kalmanNormBackward(dy, again.saved)).not.to.throw();
  });
});
