/**
 * The ...Async ops and layer methods (issue 12): the same bits as the synchronous calls, the event
 * loop free while a large CPU call runs, bad arguments thrown at the call, and a layer that refuses
 * other calls until its promise settles.
 */
import { expect } from 'chai';
import { ASYNC_MIN_ELEMENTS, GroupKalmanNorm, KalmanNorm, NormResult, Tensor, ops } from '../lib';
import { gradientArrays } from './util/gradient-arrays';
import { makeRandom } from './util/random';

const random = makeRandom(1207);
const values = (length: number, scale = 1, offset = 0) => Float32Array.from({ length }, () => offset + scale * random.normal());
const tensor = (shape: number[], options: { layout?: 'NCHW' | 'NHWC' } = {}) =>
  Tensor.fromArray(values(shape.reduce((a, b) => a * b, 1)), shape, options);

const LARGE = [4, 16, 32, 32]; // 65,536 elements: on a worker thread
const SMALL = [2, 3, 4, 4]; // on the calling thread

function forwardArrays(result: NormResult): Record<string, number[] | boolean> {
  return {
    y: Array.from(result.y.toArray()),
    mean: Array.from(result.mean.toArray()),
    var: Array.from(result.var.toArray()),
    guardFired: result.guardFired,
  };
}

describe('async ops (issue 12)', () => {
  it('the threshold is what the large shape of these tests reaches', () => {
    expect(LARGE.reduce((a, b) => a * b, 1)).to.be.at.least(ASYNC_MIN_ELEMENTS);
    expect(SMALL.reduce((a, b) => a * b, 1)).to.be.below(ASYNC_MIN_ELEMENTS);
  });

  for (const [name, shape] of [['large', LARGE], ['small', SMALL]] as const) {
    for (const layout of ['NCHW', 'NHWC'] as const) {
      it(`kalmanNormAsync and its backward equal the synchronous calls bit for bit (${name}, ${layout}, prior, running estimates)`, async () => {
        const C = shape[1];
        const x = tensor(shape, { layout });
        const dy = tensor(shape, { layout });
        const options = () => ({
          prior: { mean: values(C), var: values(C, 0.1, 1) },
          gain: 0.3,
          gamma: values(C, 0.1, 1),
          beta: values(C),
          activation: 'relu' as const,
          runningMean: new Float32Array(C),
          runningVar: new Float32Array(C).fill(1),
        });
        const given = options();
        const expectedOptions = { ...given, runningMean: given.runningMean.slice(), runningVar: given.runningVar.slice() };
        const expected = ops.kalmanNorm(x, expectedOptions);
        const result = await ops.kalmanNormAsync(x, given);
        expect(forwardArrays(result)).to.deep.equal(forwardArrays(expected));
        expect(Array.from(given.runningVar)).to.deep.equal(Array.from(expectedOptions.runningVar));
        const dMean = tensor([1, C]);
        const gradients = await ops.kalmanNormBackwardAsync(dy, result.saved, { dMean });
        expect(gradientArrays(gradients)).to.deep.equal(gradientArrays(ops.kalmanNormBackward(dy, expected.saved, { dMean })));
        const fixed = { runningMean: given.runningMean, runningVar: given.runningVar, training: false };
        expect(forwardArrays(await ops.kalmanNormAsync(x, fixed))).to.deep.equal(forwardArrays(ops.kalmanNorm(x, fixed)));
      });
    }
  }

  it('groupKalmanNormAsync and its backward equal the synchronous calls bit for bit', async () => {
    const x = tensor(LARGE);
    const dy = tensor(LARGE);
    const options = { groups: 4, prior: { mean: values(4), var: values(4, 0.1, 1) }, gain: values(4, 0.05, 0.3) };
    const expected = ops.groupKalmanNorm(x, options);
    const result = await ops.groupKalmanNormAsync(x, options);
    expect(forwardArrays(result)).to.deep.equal(forwardArrays(expected));
    const gradients = await ops.groupKalmanNormBackwardAsync(dy, result.saved);
    expect(gradientArrays(gradients)).to.deep.equal(gradientArrays(ops.groupKalmanNormBackward(dy, expected.saved)));
  });

  it('keeps the event loop running while a large call works (timers fire before it settles)', async () => {
    const x = tensor([32, 64, 32, 32]); // 2M elements: milliseconds of work
    let ticks = 0;
    let settled = false;
    const tick = (): void => {
      ticks += 1;
      if (!settled) setImmediate(tick);
    };
    setImmediate(tick);
    const pending = ops.kalmanNormAsync(x);
    expect(ticks, 'nothing ran before the call returned').to.equal(0);
    const result = await pending;
    settled = true;
    expect(ticks).to.be.at.least(1);
    expect(forwardArrays(result)).to.deep.equal(forwardArrays(ops.kalmanNorm(x)));
  });

  it('settles below the threshold too, with the work done on the calling thread', async () => {
    const x = tensor(SMALL);
    let done = false;
    const pending = ops.kalmanNormAsync(x).then((result) => {
      done = true;
      return result;
    });
    expect(done).to.equal(false); // a promise settles in a later microtask, never inside the call
    expect(forwardArrays(await pending)).to.deep.equal(forwardArrays(ops.kalmanNorm(x)));
  });

  it('throws bad arguments at the call, naming them, before any promise exists', () => {
    const x = tensor(LARGE);
    expect(() => ops.kalmanNormAsync(x, { eps: -1 })).to.throw(RangeError, /eps/);
    expect(() => ops.groupKalmanNormAsync(x, { groups: 5 })).to.throw(RangeError, /groups/);
    expect(() => ops.kalmanNormAsync(x, { out: { y: x } })).to.throw(RangeError, /out\.y.*x/);
    const saved = ops.kalmanNorm(x).saved;
    expect(() => ops.kalmanNormBackwardAsync(tensor([1, 2, 3, 4]), saved)).to.throw(/dy/);
    expect(() => ops.groupKalmanNormBackwardAsync(tensor(LARGE), saved)).to.throw(RangeError, /saved/);
  });

  it('runs several calls at once, each with its own result', async () => {
    const inputs = [0, 1, 2, 3].map(() => tensor(LARGE));
    const results = await Promise.all(inputs.map((x) => ops.kalmanNormAsync(x, { gain: 0.2, prior: { mean: new Float32Array(16), var: new Float32Array(16).fill(1) } })));
    results.forEach((result, i) =>
      expect(forwardArrays(result)).to.deep.equal(forwardArrays(ops.kalmanNorm(inputs[i], { gain: 0.2, prior: { mean: new Float32Array(16), var: new Float32Array(16).fill(1) } }))),
    );
  });
});

describe('async layer methods (issue 12)', () => {
  for (const make of [() => new KalmanNorm(16), () => new GroupKalmanNorm(16, 4)]) {
    it(`${make().constructor.name}: forwardAsync / backwardAsync equal forward / backward, and the layer is busy until they settle`, async () => {
      const [sync, later] = [make(), make()];
      const x = tensor(LARGE);
      const dy = tensor(LARGE);
      for (let step = 0; step < 2; ++step) {
        const expected = forwardArrays(sync.forward(x));
        const pending = later.forwardAsync(x);
        expect(() => later.backward(dy)).to.throw(Error, /backward: the layer's forwardAsync has not settled/);
        expect(() => later.forward(x)).to.throw(Error, /forward: .*forwardAsync/);
        expect(() => later.loadStateDict(later.stateDict())).to.throw(Error, /loadStateDict: .*forwardAsync/);
        expect(forwardArrays(await pending)).to.deep.equal(expected);
        const expectedGradients = gradientArrays(sync.backward(dy));
        const pendingBackward = later.backwardAsync(dy);
        expect(() => later.forwardAsync(x)).to.throw(Error, /backwardAsync/);
        expect(gradientArrays(await pendingBackward)).to.deep.equal(expectedGradients);
        expect(later.stateDict()).to.deep.equal(sync.stateDict());
      }
    });
  }

  it('a forwardAsync that throws leaves the layer usable', async () => {
    const layer = new KalmanNorm(16);
    expect(() => layer.forwardAsync(tensor([4, 8, 32, 32]))).to.throw(RangeError, /x/);
    const result = await layer.forwardAsync(tensor(LARGE));
    expect(result.y.shape).to.deep.equal(LARGE);
  });
});
