// `npm run soak [-- --steps N] [--every K] [--bound-mb M]`: trains a linked two-layer network
// (KN - relu - linear - KN, the second layer's prior through the tied weight) for N steps
// (default 100,000) and samples the process's memory every K steps (default 10,000): resident set,
// memory outside the JS heap (the addon's and tensors' buffers) and ArrayBuffers. The first sample
// is the baseline; the run fails when any of them grows past it by more than the bound (default
// 32 MiB). On an emulated CUDA build the device memory is host memory, so the resident set covers it.
import { KalmanNorm, Tensor, linkFeedForward } from '../lib';

const [BATCH, WIDTH] = [4, 16];
const MiB = 1024 * 1024;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!(value > 0) || !Number.isInteger(value)) throw new RangeError(`${name}: expected a positive integer, got ${process.argv[at + 1]}`);
  return value;
}

/** A seeded sequence in [-1, 1). */
function values(length: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length }, () => ((state = (state * 1103515245 + 12345) % 2147483648) / 1073741824) - 1);
}

/** out[b][o] = sum_i a[b][i] w[o][i] (transposed: out[b][i] = sum_o a[b][o] w[o][i]). */
function multiply(a: Float32Array, w: Float32Array, transposed: boolean): Float32Array {
  const out = new Float32Array(BATCH * WIDTH);
  for (let b = 0; b < BATCH; b++)
    for (let o = 0; o < WIDTH; o++)
      for (let i = 0; i < WIDTH; i++) {
        if (transposed) out[b * WIDTH + i] += a[b * WIDTH + o] * w[o * WIDTH + i];
        else out[b * WIDTH + o] += a[b * WIDTH + i] * w[o * WIDTH + i];
      }
  return out;
}

interface Sample {
  step: number;
  heapMiB: number;
  rssMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

function sample(step: number): Sample {
  (globalThis as { gc?: () => void }).gc?.(); // with --expose-gc: what is still held, not what awaits collection
  const usage = process.memoryUsage();
  return { step, heapMiB: usage.heapUsed / MiB, rssMiB: usage.rss / MiB, externalMiB: usage.external / MiB, arrayBuffersMiB: usage.arrayBuffers / MiB };
}

function main(): void {
  const steps = option('--steps', 100000);
  const every = option('--every', 10000);
  const bound = option('--bound-mb', 32);
  const layers = [new KalmanNorm(WIDTH, { activation: 'relu', momentum: 0.01 }), new KalmanNorm(WIDTH, { activation: 'relu', momentum: 0.01 })];
  const weight = Tensor.fromArray(values(WIDTH * WIDTH, 7).map((v) => v / 4), [WIDTH, WIDTH]);
  const weightGrad = Tensor.zeros([WIDTH, WIDTH]);
  linkFeedForward(layers, [{ value: weight, grad: weightGrad }]);
  const inputs = Array.from({ length: 8 }, (_, k) => values(BATCH * WIDTH, 100 + k));
  const samples: Sample[] = [];
  const started = Date.now();
  for (let step = 1; step <= steps; step++) {
    const first = layers[0].forward(Tensor.fromArray(inputs[step % inputs.length], [BATCH, WIDTH]));
    const h = multiply(first.y.toArray(), weight.toArray(), false);
    const second = layers[1].forward(Tensor.fromArray(h, [BATCH, WIDTH]));
    const dh = layers[1].backward(second.y).dx.toArray(); // the loss sum(y^2) / 2
    layers[0].backward(Tensor.fromArray(multiply(dh, weight.toArray(), true), [BATCH, WIDTH]));
    weightGrad.toArray().fill(0);
    if (step % every === 0) {
      samples.push(sample(step));
      const last = samples[samples.length - 1];
      console.log(`[${step} / ${steps}, ${((Date.now() - started) / 1000).toFixed(0)} s] rss ${last.rssMiB.toFixed(1)} MiB, external ${last.externalMiB.toFixed(1)} MiB, array buffers ${last.arrayBuffersMiB.toFixed(1)} MiB`);
    }
  }
  console.table(samples.map((s) => ({ step: s.step, 'heap MiB': +s.heapMiB.toFixed(1), 'rss MiB': +s.rssMiB.toFixed(1), 'external MiB': +s.externalMiB.toFixed(1), 'array buffers MiB': +s.arrayBuffersMiB.toFixed(1) })));
  const [base, end] = [samples[0], samples[samples.length - 1]];
  const growth = { rss: end.rssMiB - base.rssMiB, external: end.externalMiB - base.externalMiB, arrayBuffers: end.arrayBuffersMiB - base.arrayBuffersMiB };
  const peak = Math.max(...samples.map((s) => s.rssMiB)) - base.rssMiB;
  console.log(`growth from step ${base.step} to ${end.step}: rss ${growth.rss.toFixed(1)} MiB (peak ${peak.toFixed(1)}), external ${growth.external.toFixed(1)} MiB, array buffers ${growth.arrayBuffers.toFixed(1)} MiB; bound ${bound} MiB`);
  if ([peak, growth.external, growth.arrayBuffers].some((value) => value > bound)) {
    console.error('soak: memory grew past the bound');
    process.exitCode = 1;
  }
}

main();
