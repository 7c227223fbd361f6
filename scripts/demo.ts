// `npm run demo`: normalizes a micro-batch of two samples with KN and with plain BN (KN without a
// prior), prints how far each one's statistics are from the population's, then times a training
// step (forward + backward) on this machine.
import { Tensor, ops, threadCount } from '../lib';
import { gigabytesPerSecond, medianMs } from './timing';

const [N, C, H, W] = [2, 64, 56, 56];
const S = H * W;

/** A seeded generator, so every run prints the same batch. */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

// Channel c has scale sigma_c = 1 + c/32 and mean c/8; each sample shifts it by its own offset
// (sigma_c times N(0, 1)), so two samples give a noisy estimate of the population's statistics.
// The prior (what the previous layer predicts) is the population's mean and variance.
const normal = gaussian(7);
const sigma = Float32Array.from({ length: C }, (_, c) => 1 + c / 32);
const populationMean = Float32Array.from({ length: C }, (_, c) => c / 8);
const populationVar = sigma.map((s) => 2 * s * s);
const data = new Float32Array(N * C * S);
for (let n = 0; n < N; ++n)
  for (let c = 0; c < C; ++c) {
    const sampleMean = populationMean[c] + sigma[c] * normal();
    for (let s = 0; s < S; ++s) data[(n * C + c) * S + s] = sampleMean + sigma[c] * normal();
  }
const x = Tensor.fromArray(data, [N, C, H, W]);

const prior = { mean: populationMean, var: populationVar };
const kn = ops.kalmanNorm(x, { prior, gain: 0.1 });
const bn = ops.kalmanNorm(x, {});

console.log(`Kalman Normalization of a micro-batch x [${x.shape.join(', ')}] (N = ${N}), gain K = 0.1`);
console.log(`guard fired: ${kn.guardFired}\n`);
const rows = [0, 16, 32, 48, 63].map((c) => ({
  channel: c,
  'population mean': +populationMean[c].toFixed(3),
  'batch mean (BN)': +bn.mean.toArray()[c].toFixed(3),
  'posterior mean (KN)': +kn.mean.toArray()[c].toFixed(3),
  'population var': +populationVar[c].toFixed(3),
  'batch var (BN)': +bn.var.toArray()[c].toFixed(3),
  'posterior var (KN)': +kn.var.toArray()[c].toFixed(3),
}));
console.table(rows);
const error = (result: typeof kn) => {
  let total = 0;
  for (let c = 0; c < C; ++c) total += Math.abs(Math.log(result.var.toArray()[c] / populationVar[c]));
  return total / C;
};
console.log(`mean |log(var / population var)| over channels: BN ${error(bn).toFixed(3)}, KN ${error(kn).toFixed(3)}`);

// One training step, allocation-free: outputs go into tensors made once.
const dy = Tensor.fromArray(new Float32Array(N * C * S).map(() => normal()), [N, C, H, W]);
const y = Tensor.zeros([N, C, H, W]);
const dx = Tensor.zeros([N, C, H, W]);
const gamma = new Float32Array(C).fill(1);
const beta = new Float32Array(C);
const step = () => {
  const forward = ops.kalmanNorm(x, { prior, gain: 0.1, gamma, beta, out: { y } });
  ops.kalmanNormBackward(dy, forward.saved, { out: { dx } });
};
const ms = medianMs(step);
const bytes = 8 * N * C * S * 4; // forward reads x twice, writes y; backward reads x and dy twice, writes dx
console.log(`\nTraining step (forward + backward), median of 20 on ${threadCount()} threads: ${ms.toFixed(2)} ms`);
console.log(`  ${gigabytesPerSecond(bytes, ms).toFixed(1)} GB/s of tensor traffic (x, y, dy, dx; see docs/BENCHMARKS.md)`);
