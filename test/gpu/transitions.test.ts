/**
 * The transition ops on the GPU against the CPU backend: every op's forward and backward, on rows
 * shaped like real layers' statistics ([ghost batches, channels]), including relu's tails, the
 * pools' limits, the group transition and the padded residual join. The CPU results are
 * themselves checked against the float64 reference in test/transitions.test.ts,
 * test/pool-transitions.test.ts and test/group-transitions.test.ts, so agreement here to 1e-5
 * covers the GPU too.
 */
import { Tensor, ops } from '../../lib';
import { assertClose } from '../util/assert-close';
import { makeRandom } from '../util/random';
import { describeGpu } from './gpu-suite';

type Device = 'cpu' | 'cuda';
const TOLERANCE = 1e-5;

function values(seed: number, length: number, scale = 1, offset = 0): Float32Array {
  const random = makeRandom(seed);
  return Float32Array.from({ length }, () => offset + scale * random.normal());
}

function on(device: Device, data: Float32Array, shape: number[]): Tensor {
  return Tensor.fromArray(data.slice(), shape, { device });
}

/** Runs `op` on both devices with the same inputs and compares every returned tensor. */
async function expectSameOnBothDevices(name: string, op: (device: Device) => Record<string, Tensor>): Promise<void> {
  const cpu = op('cpu');
  const cuda = op('cuda');
  for (const key of Object.keys(cpu)) assertClose(await cuda[key].toArrayAsync(), cpu[key].toArray(), TOLERANCE, `${name}: ${key}`);
}

describeGpu('GPU transition ops vs the CPU backend', function () {
  const [rows, inputs, outputs] = [4, 64, 128];
  const mean = values(1, rows * inputs);
  const variance = values(2, rows * inputs).map((v) => v * v + 0.1);
  const weight = values(3, outputs * inputs, 0.1);
  const dMean = values(4, rows * outputs);
  const dVar = values(5, rows * outputs);

  it('affineMoments and its backward, weightSq defaulted (tied) and with bias and noise', async () => {
    await expectSameOnBothDevices('affine', (device) => {
      const forward = ops.affineMoments(on(device, mean, [rows, inputs]), on(device, variance, [rows, inputs]), {
        weight: on(device, weight, [outputs, inputs]), bias: values(6, outputs), noise: values(7, outputs).map(Math.abs),
      });
      const backward = ops.affineMomentsBackward(on(device, dMean, [rows, outputs]), on(device, dVar, [rows, outputs]), forward.saved);
      return { mean: forward.mean, var: forward.var, dMean: backward.dMean, dVar: backward.dVar, dWeight: backward.dWeight, dBias: backward.dBias!, dNoise: backward.dNoise as Tensor };
    });
  });

  it('convTransition and its backward', async () => {
    const kernel = values(8, outputs * inputs * 9, 0.1);
    await expectSameOnBothDevices('conv', (device) => {
      const k = on(device, kernel, [outputs, inputs, 3, 3]);
      const { weight: a, weightSq } = ops.convTransition(k);
      const dKernel = ops.convTransitionBackward(on(device, values(9, outputs * inputs), [outputs, inputs]), on(device, values(10, outputs * inputs), [outputs, inputs]), k);
      return { weight: a, weightSq, dKernel };
    });
  });

  it('reluMoments and its backward, from t = -8 to t = 8 and at var = 0', async () => {
    const count = rows * inputs;
    const means = Float32Array.from({ length: count }, (_, i) => -8 + (16 * i) / (count - 1));
    const variances = Float32Array.from({ length: count }, (_, i) => (i % 17 === 0 ? 0 : 1));
    await expectSameOnBothDevices('relu', (device) => {
      const forward = ops.reluMoments(on(device, means, [rows, inputs]), on(device, variances, [rows, inputs]));
      const backward = ops.reluMomentsBackward(on(device, values(11, count), [rows, inputs]), on(device, values(12, count), [rows, inputs]), forward.saved);
      return { mean: forward.mean, var: forward.var, dMean: backward.dMean, dVar: backward.dVar };
    });
  });

  for (const [taps, correlation] of [[4, 0.5], [9, 0], [4, 1]]) {
    it(`avgPoolMoments and maxPoolMoments and their backwards, ${taps} taps, rho ${correlation}, t from -8 to 8 and at var = 0`, async () => {
      const count = rows * inputs;
      const means = Float32Array.from({ length: count }, (_, i) => -8 + (16 * i) / (count - 1));
      const variances = Float32Array.from({ length: count }, (_, i) => (i % 17 === 0 ? 0 : 0.5 + (i % 5)));
      await expectSameOnBothDevices(`pool ${taps} ${correlation}`, (device) => {
        const input = [on(device, means, [rows, inputs]), on(device, variances, [rows, inputs])] as const;
        const upstream = [on(device, values(23, count), [rows, inputs]), on(device, values(24, count), [rows, inputs])] as const;
        const avg = ops.avgPoolMoments(...input, { taps, correlation });
        const avgBackward = ops.avgPoolMomentsBackward(...upstream, avg.saved);
        const max = ops.maxPoolMoments(...input, { taps, correlation });
        const maxBackward = ops.maxPoolMomentsBackward(...upstream, max.saved);
        return {
          avgMean: avg.mean, avgVar: avg.var, avgDMean: avgBackward.dMean, avgDVar: avgBackward.dVar,
          maxMean: max.mean, maxVar: max.var, maxDMean: maxBackward.dMean, maxDVar: maxBackward.dVar,
        };
      });
    });
  }

  for (const groups of [1, 8, 64]) {
    it(`groupMoments and its backward, ${inputs} channels in ${groups} groups, means around 100`, async () => {
      await expectSameOnBothDevices(`groups ${groups}`, (device) => {
        const forward = ops.groupMoments(on(device, mean.map((v) => 100 + v), [rows, inputs]), on(device, variance, [rows, inputs]), { groups });
        const backward = ops.groupMomentsBackward(on(device, values(25, rows * groups), [rows, groups]), on(device, values(26, rows * groups), [rows, groups]), forward.saved);
        return { mean: forward.mean, var: forward.var, dMean: backward.dMean, dVar: backward.dVar };
      });
    });
  }

  it('addMoments with a zero-padded narrower b, and its backward', async () => {
    const narrow = inputs / 2;
    await expectSameOnBothDevices('add', (device) => {
      const a = { mean: on(device, mean, [rows, inputs]), var: on(device, variance, [rows, inputs]) };
      const b = { mean: on(device, values(13, rows * narrow), [rows, narrow]), var: on(device, values(14, rows * narrow).map(Math.abs), [rows, narrow]) };
      const forward = ops.addMoments(a, b);
      const backward = ops.addMomentsBackward(on(device, values(15, rows * inputs), [rows, inputs]), on(device, values(16, rows * inputs), [rows, inputs]), forward.saved);
      return { mean: forward.mean, var: forward.var, aMean: backward.a.dMean, bMean: backward.b.dMean, bVar: backward.b.dVar };
    });
  });

  it('normalizeMoments and its backward, with gamma and beta', async () => {
    await expectSameOnBothDevices('normalize', (device) => {
      const x = { mean: on(device, mean, [rows, inputs]), var: on(device, variance, [rows, inputs]) };
      const stats = { mean: on(device, values(17, rows * inputs), [rows, inputs]), var: on(device, values(18, rows * inputs).map((v) => v * v), [rows, inputs]) };
      const forward = ops.normalizeMoments(x, stats, { gamma: values(19, inputs), beta: values(20, inputs) });
      const backward = ops.normalizeMomentsBackward(on(device, values(21, rows * inputs), [rows, inputs]), on(device, values(22, rows * inputs), [rows, inputs]), forward.saved);
      return { mean: forward.mean, var: forward.var, dxMean: backward.x.dMean, dxVar: backward.x.dVar, dStatVar: backward.stats.dVar, dGamma: backward.dGamma!, dBeta: backward.dBeta! };
    });
  });
});
