/**
 * The input node and the covariance transition on the GPU against the CPU backend: the tiled
 * product behind observe()'s covariance and W Sigma (sizes that are not multiples of the 16 x 16
 * tile), the patch gather in both layouts, the chunked low-rank update, quadraticMoments and its
 * backward in every form, and a KN layer linked to an input node. The CPU results are checked
 * against the float64 reference in test/covariance.test.ts, so agreement here covers the GPU.
 */
import { Device, InputStatistics, KalmanNorm, Tensor, moments, ops } from '../../lib';
import type { Covariance, InputStatisticsOptions } from '../../lib';
import { lowRankMatrix } from '../reference/covariance-reference';
import { assertClose } from '../util/assert-close';
import { makeRandom } from '../util/random';
import { describeGpu } from './gpu-suite';

const TOLERANCE = 1e-5;

function values(seed: number, length: number, scale = 1, offset = 0): Float32Array {
  const random = makeRandom(seed);
  return Float32Array.from({ length }, () => offset + scale * random.normal());
}

async function host(tensor: Tensor): Promise<Float32Array> {
  return (await tensor.toArrayAsync()) as Float32Array;
}

/** Observes the same batches on `device` and returns the estimates (a low-rank form as its dense matrix). */
async function observe(device: Device, featureShape: number[], options: InputStatisticsOptions, batches: Array<{ data: Float32Array; shape: number[]; layout: 'NCHW' | 'NHWC' }>) {
  const statistics = new InputStatistics(featureShape, { ...options, device });
  for (const { data, shape, layout } of batches) statistics.observe(Tensor.fromArray(data.slice(), shape, { device, layout }));
  const form = statistics.covariance();
  const dense =
    form.kind === 'full' ? await host(form.matrix)
      : form.kind === 'lowRank' ? Float32Array.from(lowRankMatrix(await host(form.factor), await host(form.diagonal), statistics.features))
        : await host(form.diagonal);
  return { mean: await host(statistics.mean), var: await host(statistics.var), dense };
}

describeGpu('GPU input statistics and covariance transition vs the CPU backend', function () {
  const cases: Array<{ name: string; featureShape: number[]; options: InputStatisticsOptions; shape: number[]; layout: 'NCHW' | 'NHWC' }> = [
    { name: 'whole samples, full covariance (D = 50)', featureShape: [50], options: { covariance: 'full' }, shape: [4, 50], layout: 'NCHW' },
    { name: 'conv patches 3x3 padding 1, NHWC, full', featureShape: [3, 9, 9], options: { patch: { kernel: 3, padding: 1 } }, shape: [2, 3, 9, 9], layout: 'NHWC' },
    { name: 'conv patches 5x5 stride 2, NCHW, diagonal', featureShape: [2, 11, 11], options: { covariance: 'diagonal', patch: { kernel: 5, stride: 2 } }, shape: [3, 2, 11, 11], layout: 'NCHW' },
    { name: 'conv patches, low rank 4 (several chunks)', featureShape: [2, 8, 8], options: { covariance: { rank: 4 }, patch: { kernel: 3, padding: 1 } }, shape: [3, 2, 8, 8], layout: 'NCHW' },
  ];
  for (const { name, featureShape, options, shape, layout } of cases)
    it(`observe: ${name}`, async () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const batches = [1, 2, 3].map((seed) => ({ data: values(seed, size, 1, 0.5), shape, layout }));
      const cpu = await observe('cpu', featureShape, { ...options, momentum: 0.3 }, batches);
      const cuda = await observe('cuda', featureShape, { ...options, momentum: 0.3 }, batches);
      assertClose(cuda.mean, cpu.mean, TOLERANCE, 'mean');
      assertClose(cuda.var, cpu.var, TOLERANCE, 'var');
      assertClose(cuda.dense, cpu.dense, options.covariance && typeof options.covariance === 'object' ? 1e-4 : TOLERANCE, 'covariance');
    });

  const [features, outputs, rank] = [100, 40, 6];
  const forms: Array<{ name: string; make: (device: Device) => Covariance }> = [
    {
      name: 'full',
      make: (device) => {
        const a = values(11, features * features, 0.1);
        const symmetric = a.map((_, index) => a[index] + a[(index % features) * features + Math.floor(index / features)]);
        return { kind: 'full', matrix: Tensor.fromArray(symmetric, [features, features], { device }) };
      },
    },
    { name: 'diagonal', make: (device) => ({ kind: 'diagonal', diagonal: Tensor.fromArray(values(12, features).map((v) => v * v), [features], { device }) }) },
    {
      name: 'low rank',
      make: (device) => ({
        kind: 'lowRank',
        factor: Tensor.fromArray(values(13, features * rank, 0.3), [features, rank], { device }),
        diagonal: Tensor.fromArray(values(14, features).map((v) => v * v), [features], { device }),
      }),
    },
  ];
  for (const form of forms)
    it(`quadraticMoments and its backward (${form.name}, D = ${features}, Cout = ${outputs})`, async () => {
      const run = async (device: Device) => {
        const on = (data: Float32Array, shape: number[]) => Tensor.fromArray(data.slice(), shape, { device });
        const forward = ops.quadraticMoments(on(values(15, features), [1, features]), form.make(device), {
          weight: on(values(16, outputs * features, 0.1), [outputs, features]), bias: values(17, outputs), noise: 0.25,
        });
        const backward = ops.quadraticMomentsBackward(on(values(18, outputs), [1, outputs]), on(values(19, outputs), [1, outputs]), forward.saved);
        return { mean: await host(forward.mean), var: await host(forward.var), dWeight: await host(backward.dWeight), dBias: await host(backward.dBias!) };
      };
      const cpu = await run('cpu');
      const cuda = await run('cuda');
      for (const key of Object.keys(cpu) as Array<keyof typeof cpu>) assertClose(cuda[key], cpu[key], TOLERANCE, key);
    });

  it('a KN layer linked to an input node: output and the gradient into the first weight', async () => {
    const run = async (device: Device) => {
      const statistics = new InputStatistics([20], { device });
      for (const seed of [21, 22]) statistics.observe(Tensor.fromArray(values(seed, 8 * 20), [8, 20], { device }));
      const weight = Tensor.fromArray(values(23, 12 * 20, 0.2), [12, 20], { device });
      const grad = Tensor.zeros([12, 20], { device });
      const layer = new KalmanNorm(12, { device, virtualBatch: 2 }).linkPrior(moments.affine(moments.input(statistics), { value: weight, grad }));
      const y = layer.forward(Tensor.fromArray(values(24, 8 * 12), [8, 12], { device })).y;
      layer.backward(Tensor.fromArray(values(25, 8 * 12), [8, 12], { device }));
      return { y: await host(y), dWeight: await host(grad), dGain: await host(layer.grad.gain) };
    };
    const cpu = await run('cpu');
    const cuda = await run('cuda');
    for (const key of Object.keys(cpu) as Array<keyof typeof cpu>) assertClose(cuda[key], cpu[key], 1e-4, key);
  });
});
