// The CPU peer: @tensorflow/tfjs with its CPU backend doing the same training step (moments,
// batchNorm and their gradient), the path a Node user has without this package.
import { Layout } from '../../lib';
import { BenchShape } from './shapes';

type Tf = typeof import('@tensorflow/tfjs');

let tf: Tf | null | undefined;

/** tfjs with the CPU backend, or null when it is not installed (a devDependency). */
async function loadTf(): Promise<Tf | null> {
  if (tf !== undefined) return tf;
  try {
    const silenceBanner = console.warn;
    console.warn = () => undefined; // tfjs prints an advertisement for tfjs-node on load
    tf = require('@tensorflow/tfjs') as Tf;
    console.warn = silenceBanner;
    await tf.setBackend('cpu');
    await tf.ready();
  } catch {
    tf = null;
  }
  return tf;
}

export interface PeerTimes {
  forward: number;
  'forward+backward': number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median ms of tfjs's BN forward and forward+backward (GN for GKN shapes), or null. */
export async function measureTfjs(shape: BenchShape, layout: Layout, runs: number): Promise<PeerTimes | null> {
  const t = await loadTf();
  if (!t) return null;
  const nhwc = layout === 'NHWC';
  const dims = nhwc ? [shape.n, shape.hw, shape.hw, shape.c] : [shape.n, shape.c, shape.hw, shape.hw];
  const channelAxis = nhwc ? 3 : 1;
  const x = t.randomNormal(dims);
  const dy = t.randomNormal(dims);
  const parameterShape = dims.map((size, axis) => (axis === channelAxis ? size : 1));
  const gamma = t.ones(parameterShape);
  const beta = t.zeros(parameterShape);
  const normalize = (input: import('@tensorflow/tfjs').Tensor, g: import('@tensorflow/tfjs').Tensor, b: import('@tensorflow/tfjs').Tensor) => {
    if (shape.op === 'kn') {
      const axes = [0, 1, 2, 3].filter((axis) => axis !== channelAxis);
      const { mean, variance } = t.moments(input, axes, true);
      return t.add(t.mul(t.div(t.sub(input, mean), t.sqrt(t.add(variance, 1e-5))), g), b);
    }
    // GroupNorm: split channels into groups, normalize over (group channels, positions) per sample.
    const groups = shape.groups!;
    const grouped = nhwc
      ? t.reshape(input, [shape.n, shape.hw * shape.hw, groups, shape.c / groups])
      : t.reshape(input, [shape.n, groups, (shape.c / groups) * shape.hw * shape.hw]);
    const axes = nhwc ? [1, 3] : [2];
    const { mean, variance } = t.moments(grouped, axes, true);
    const normalized = t.reshape(t.div(t.sub(grouped, mean), t.sqrt(t.add(variance, 1e-5))), dims);
    return t.add(t.mul(normalized, g), b);
  };
  const gradients = t.grads((input, g, b) => normalize(input, g, b));
  const forwardTimes: number[] = [];
  const stepTimes: number[] = [];
  for (let run = 0; run < runs + 1; ++run) {
    let start = process.hrtime.bigint();
    t.tidy(() => normalize(x, gamma, beta).dataSync());
    const forwardMs = Number(process.hrtime.bigint() - start) / 1e6;
    start = process.hrtime.bigint();
    t.tidy(() => gradients([x, gamma, beta], dy).forEach((g) => g.dataSync()));
    const stepMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (run > 0) {
      forwardTimes.push(forwardMs);
      stepTimes.push(stepMs);
    }
  }
  t.dispose([x, dy, gamma, beta]);
  return { forward: median(forwardTimes), 'forward+backward': median(stepTimes) };
}
