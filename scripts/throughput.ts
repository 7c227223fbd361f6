// `npm run throughput`: CPU throughput of KN on a [32, 64, 56, 56] float32 tensor (ResNet-50's
// first stage), forward-train, backward and both, in both layouts, next to this package's own BN
// path (no prior) and a multi-threaded memory copy of the same bytes, measured in the same run.
import { Layout, Tensor, ops, threadCount } from '../lib';
import { copyBandwidth, gigabytesPerSecond, medianMs } from './timing';

const shape = [32, 64, 56, 56];
const elements = shape.reduce((a, b) => a * b, 1);
const tensorBytes = elements * 4;
const channels = shape[1];

// Tensor passes each pass makes (the minimal count when a unit does not fit in cache): forward
// reads x for the statistics, reads it again and writes y; backward reads x and dy for the sums,
// again for dx, and writes dx.
const TRAFFIC = { forward: 3, backward: 5, 'forward+backward': 8 } as const;
type Pass = keyof typeof TRAFFIC;

function random(length: number): Float32Array {
  const data = new Float32Array(length);
  for (let i = 0; i < length; ++i) data[i] = Math.random() * 2 - 1 + Math.random();
  return data;
}

function measure(layout: Layout, withPrior: boolean): Record<Pass, number> {
  const x = Tensor.fromArray(random(elements), shape, { layout });
  const dy = Tensor.fromArray(random(elements), shape, { layout });
  const y = Tensor.zeros(shape, { layout });
  const dx = Tensor.zeros(shape, { layout });
  const options = {
    gamma: new Float32Array(channels).fill(1),
    beta: new Float32Array(channels),
    prior: withPrior ? { mean: new Float32Array(channels), var: new Float32Array(channels).fill(0.5) } : undefined,
    gain: 0.1,
    out: { y },
  };
  const saved = ops.kalmanNorm(x, options).saved;
  return {
    forward: medianMs(() => ops.kalmanNorm(x, options)),
    backward: medianMs(() => ops.kalmanNormBackward(dy, saved, { out: { dx } })),
    'forward+backward': medianMs(() => ops.kalmanNormBackward(dy, ops.kalmanNorm(x, options).saved, { out: { dx } })),
  };
}

const copy = copyBandwidth(elements);
console.log(`KN on x [${shape.join(', ')}] float32 (${(tensorBytes / 1e6).toFixed(1)} MB per tensor), ${threadCount()} threads`);
console.log(`memory copy of the same bytes: ${copy.toFixed(1)} GB/s (read + write)\n`);
const rows = [];
for (const layout of ['NCHW', 'NHWC'] as const) {
  const kn = measure(layout, true);
  const bn = measure(layout, false);
  for (const pass of Object.keys(TRAFFIC) as Pass[]) {
    const rate = gigabytesPerSecond(TRAFFIC[pass] * tensorBytes, kn[pass]);
    rows.push({
      layout,
      pass,
      'KN ms': +kn[pass].toFixed(2),
      'BN ms': +bn[pass].toFixed(2),
      'KN / BN': +(kn[pass] / bn[pass]).toFixed(3),
      'KN GB/s': +rate.toFixed(1),
      '% of copy': +((100 * rate) / copy).toFixed(0),
      tensors: TRAFFIC[pass],
    });
  }
}
console.table(rows);
