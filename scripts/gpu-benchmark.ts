// `node dist/scripts/gpu-benchmark.js [--json FILE]`: a short GPU benchmark for the GPU runner's
// report: KN forward + backward on a few ResNet-50 shapes, float32 and bfloat16, both layouts,
// next to a device-to-device copy of the same bytes (the bandwidth ceiling). Times are the mean of
// 50 back-to-back steps after 5 warm-ups, with the stream synchronized before and after.
// (The full benchmark against cuDNN batch norm is `npm run bench`, docs/BENCHMARKS.md.)
import * as fs from 'fs';
import { DType, Layout, Tensor, cudaInfo, ops } from '../lib';
import { DeviceBuffer, native } from '../lib/binding';

const SHAPES = [
  [32, 64, 56, 56],
  [32, 256, 28, 28],
  [32, 2048, 7, 7],
  [2, 64, 112, 112],
];
const STEPS = 50;
const WARMUP = 5;

function meanMs(step: () => void): number {
  for (let i = 0; i < WARMUP; ++i) step();
  native().synchronize!(0n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < STEPS; ++i) step();
  native().synchronize!(0n);
  return Number(process.hrtime.bigint() - start) / 1e6 / STEPS;
}

function randomBits(length: number, dtype: DType): Float32Array | Uint16Array {
  const values = Float32Array.from({ length }, () => Math.random() * 2 - 1);
  if (dtype === 'float32') return values;
  // bfloat16: the upper half of the float32 bits (truncation is fine for benchmark data).
  return new Uint16Array(new Uint32Array(values.buffer).map((bits) => bits >>> 16));
}

function row(shape: number[], layout: Layout, dtype: DType) {
  const size = shape.reduce((a, b) => a * b, 1);
  const channels = shape[1];
  const x = Tensor.fromArray(randomBits(size, dtype), shape, { layout, dtype, device: 'cuda' });
  const dy = Tensor.fromArray(randomBits(size, dtype), shape, { layout, dtype, device: 'cuda' });
  const y = Tensor.zeros(shape, { layout, dtype, device: 'cuda' });
  const dx = Tensor.zeros(shape, { layout, dtype, device: 'cuda' });
  const prior = { mean: new Float32Array(channels), var: new Float32Array(channels).fill(1) };
  const gamma = Tensor.fromArray(new Float32Array(channels).fill(1), [channels], { device: 'cuda' });
  const beta = Tensor.zeros([channels], { device: 'cuda' });
  const step = () => {
    const forward = ops.kalmanNorm(x, { prior, gain: 0.1, gamma, beta, out: { y } });
    ops.kalmanNormBackward(dy, forward.saved, { out: { dx } });
  };
  const ms = meanMs(step);
  const elementBytes = dtype === 'float32' ? 4 : 2;
  const copyMs = meanMs(() => native().copyDeviceToDevice!(dx.memory() as DeviceBuffer, x.memory() as DeviceBuffer, size * elementBytes, 0n));
  const bytes = 5 * size * elementBytes; // minimal: forward reads x, writes y; backward reads x and dy, writes dx
  const copyRate = (2 * size * elementBytes) / (copyMs * 1e6);
  const rate = bytes / (ms * 1e6);
  for (const t of [x, dy, y, dx, gamma, beta]) t.dispose();
  return {
    shape: shape.join('x'),
    layout,
    dtype,
    'fwd+bwd ms': +ms.toFixed(3),
    'GB/s': +rate.toFixed(0),
    'copy GB/s': +copyRate.toFixed(0),
    '% of copy': +((100 * rate) / copyRate).toFixed(0),
  };
}

function main(): void {
  const info = cudaInfo();
  if (!info.available) {
    console.log(`no GPU benchmark: ${info.reason}`);
    return;
  }
  console.log(`GPU: ${info.devices.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ')}`);
  const rows = [];
  for (const shape of SHAPES)
    for (const layout of ['NCHW', 'NHWC'] as const)
      for (const dtype of ['float32', 'bfloat16'] as const) rows.push(row(shape, layout, dtype));
  console.table(rows);
  const jsonAt = process.argv.indexOf('--json');
  if (jsonAt > 0) fs.writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ devices: info.devices, rows }, null, 2));
}

main();
