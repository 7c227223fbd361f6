// `node dist/scripts/gpu-benchmark.js [--json FILE]`: a short GPU benchmark for the GPU runner's
// report: KN forward + backward on a few ResNet-50 shapes, float32 and bfloat16, both layouts, as
// a training layer runs it (every output given and reused, bench/layer-calls.ts; one persistent
// launch a pass where it fits) and in two launches a pass, next to a device-to-device copy of the
// same bytes (the bandwidth ceiling) and, where cuDNN loads, cuDNN batch norm forward-training +
// backward (the tools addon, tools/binding.ts; the bundle carries it). For the per-call floor it
// also gives the host time spent queueing a step, and the step as a plain op call that makes its
// outputs and uploads host arrays each time. Times are the mean of 50 back-to-back steps after 5
// warm-ups, all on one stream of the product's streamCreate(), synchronized before and after.
// (The full benchmark against cuDNN batch norm is `npm run bench`, docs/BENCHMARKS.md.)
import * as fs from 'fs';
import { DType, Layout, Tensor, cudaInfo, ops } from '../lib';
import { DeviceBuffer, native } from '../lib/binding';
import { tools } from '../tools/binding';
import { layerCalls, layerParameters } from './bench/layer-calls';

const SHAPES = [
  [32, 64, 56, 56],
  [32, 256, 28, 28],
  [32, 2048, 7, 7],
  [2, 64, 112, 112],
  [2, 64, 56, 56], // micro-batches: persistent passes
  [4, 256, 14, 14],
  [2, 2048, 7, 7],
];
const STEPS = 50;
const WARMUP = 5;

function meanMs(stream: bigint, step: () => void): number {
  native().synchronize!(0n); // the inputs' uploads, queued on the product's own stream
  for (let i = 0; i < WARMUP; ++i) step();
  native().synchronize!(stream);
  const start = process.hrtime.bigint();
  for (let i = 0; i < STEPS; ++i) step();
  native().synchronize!(stream);
  return Number(process.hrtime.bigint() - start) / 1e6 / STEPS;
}

/** cuDNN BN forward-training + backward on the same tensors, or null where cuDNN is not there. */
function cudnnStep(x: Tensor, dy: Tensor, y: Tensor, dx: Tensor, layout: Layout, dtype: DType, stream: bigint): { step: () => void; free: () => void } | null {
  const cudnn = tools();
  if (!cudnn.cudnnBatchNorm || !cudnn.cudnnInfo?.().available) return null;
  const [n, c, h, w] = x.shape;
  const vectors = [1, 0, 0, 1, 0, 1, 0, 0].map((value) => Tensor.fromArray(new Float32Array(c).fill(value), [c], { device: 'cuda' }));
  const [scale, bias, runningMean, runningVar, saveMean, saveInvVar, dScale, dBias] = vectors.map((t) => t.memory() as DeviceBuffer);
  const memory = (t: Tensor) => t.memory() as DeviceBuffer;
  const common = { layout, dtype, n, c, h, w, eps: 1e-5, stream, x: memory(x), scale, saveMean, saveInvVar };
  return {
    step: () => {
      cudnn.cudnnBatchNorm!({ ...common, pass: 'forward', y: memory(y), bias, runningMean, runningVar });
      cudnn.cudnnBatchNorm!({ ...common, pass: 'backward', dy: memory(dy), dx: memory(dx), dScale, dBias });
    },
    free: () => vectors.forEach((t) => t.dispose()),
  };
}

function randomBits(length: number, dtype: DType): Float32Array | Uint16Array {
  const values = Float32Array.from({ length }, () => Math.random() * 2 - 1);
  if (dtype === 'float32') return values;
  // bfloat16: the upper half of the float32 bits (truncation is fine for benchmark data).
  return new Uint16Array(new Uint32Array(values.buffer).map((bits) => bits >>> 16));
}

/** Mean milliseconds of host time spent inside `step` alone (queueing; the GPU runs behind it). */
function hostMs(stream: bigint, step: () => void): number {
  native().synchronize!(stream);
  for (let i = 0; i < WARMUP; ++i) step();
  let total = 0n;
  for (let i = 0; i < STEPS; ++i) {
    const start = process.hrtime.bigint();
    step();
    total += process.hrtime.bigint() - start;
  }
  native().synchronize!(stream);
  return Number(total) / 1e6 / STEPS;
}

function row(shape: number[], layout: Layout, dtype: DType, stream: bigint) {
  const size = shape.reduce((a, b) => a * b, 1);
  const channels = shape[1];
  const x = Tensor.fromArray(randomBits(size, dtype), shape, { layout, dtype, device: 'cuda' });
  const dy = Tensor.fromArray(randomBits(size, dtype), shape, { layout, dtype, device: 'cuda' });
  const y = Tensor.zeros(shape, { layout, dtype, device: 'cuda' });
  const dx = Tensor.zeros(shape, { layout, dtype, device: 'cuda' });
  const benchShape = { op: 'kn' as const, n: shape[0], c: channels, hw: shape[2] };
  const parameters = layerParameters(benchShape, 'cuda', true);
  const { gamma, beta } = parameters.options;
  // As a training layer runs it: every output given and reused (no allocation, no upload).
  const layer = layerCalls(benchShape, x, dy, { y, dx }, parameters.options, stream);
  const layerStep = () => {
    layer.forward();
    layer.backward();
  };
  // As a plain op call leaves it: host arrays for the prior, a number for the gain, outputs made each call.
  const hostPrior = { mean: new Float32Array(channels), var: new Float32Array(channels).fill(1) };
  const opStep = () => {
    const forward = ops.kalmanNorm(x, { prior: hostPrior, gain: 0.1, gamma, beta, out: { y }, stream });
    ops.kalmanNormBackward(dy, forward.saved, { out: { dx }, stream });
  };
  const ms = meanMs(stream, layerStep);
  const queueMs = hostMs(stream, layerStep);
  const opMs = meanMs(stream, opStep);
  native().cudaPersistentPasses!(false);
  const twoLaunchMs = meanMs(stream, layerStep);
  native().cudaPersistentPasses!(true);
  const elementBytes = dtype === 'float32' ? 4 : 2;
  const copyMs = meanMs(stream, () => native().copyDeviceToDevice!(dx.memory() as DeviceBuffer, x.memory() as DeviceBuffer, size * elementBytes, stream));
  const cudnn = shape.length === 4 ? cudnnStep(x, dy, y, dx, layout, dtype, stream) : null;
  const cudnnMs = cudnn ? meanMs(stream, cudnn.step) : null;
  cudnn?.free();
  const bytes = 5 * size * elementBytes; // minimal: forward reads x, writes y; backward reads x and dy, writes dx
  const copyRate = (2 * size * elementBytes) / (copyMs * 1e6);
  const rate = bytes / (ms * 1e6);
  layer.dispose();
  parameters.dispose();
  for (const t of [x, dy, y, dx]) t.dispose();
  return {
    shape: shape.join('x'),
    layout,
    dtype,
    'fwd+bwd ms': +ms.toFixed(3),
    'host queue ms': +queueMs.toFixed(3),
    'op call ms': +opMs.toFixed(3),
    'two-launch ms': +twoLaunchMs.toFixed(3),
    'GB/s': +rate.toFixed(0),
    'copy GB/s': +copyRate.toFixed(0),
    '% of copy': +((100 * rate) / copyRate).toFixed(0),
    'cuDNN fwd+bwd ms': cudnnMs === null ? null : +cudnnMs.toFixed(3),
  };
}

function main(): void {
  const info = cudaInfo();
  if (!info.available) {
    console.log(`no GPU benchmark: ${info.reason}`);
    return;
  }
  console.log(`GPU: ${info.devices.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ')}`);
  const cudnn = tools().cudnnInfo?.() ?? { available: false, reason: 'the tools addon was built without CUDA', version: 0 };
  console.log(cudnn.available ? `cuDNN ${cudnn.version}` : `no cuDNN column: ${cudnn.reason}`);
  const stream = native().streamCreate!();
  const rows = [];
  for (const shape of SHAPES)
    for (const layout of ['NCHW', 'NHWC'] as const)
      for (const dtype of ['float32', 'bfloat16'] as const) rows.push(row(shape, layout, dtype, stream));
  native().streamDestroy!(stream);
  console.table(rows);
  const jsonAt = process.argv.indexOf('--json');
  if (jsonAt > 0) fs.writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ devices: info.devices, cudnn, rows }, null, 2));
}

main();
