/**
 * The CPU backend's paths, each run forward and backward in this process: a digest of every output's
 * bytes, so that processes with different vector widths (KN_CPU_VECTOR_WIDTH) or thread counts
 * (KN_NUM_THREADS) can compare bits (test/cpu-bits.test.ts). Shapes are picked by the paths they
 * take (csrc/cpu/unit_passes.cpp, element_rows.h, cell_reductions.cpp).
 */
import { createHash } from 'crypto';
import { Tensor, cpuVectorWidth, ops, threadCount } from '../../lib';
import { makeRandom } from './random';

interface PathCase {
  name: string;
  op: 'kn' | 'gkn';
  shape: [number, number, number, number];
  layout: 'NCHW' | 'NHWC';
  groups?: number;
  epilogue?: boolean;  // a residual and relu
}

export const CPU_PATH_CASES: readonly PathCase[] = [
  { name: 'KN NCHW, runs of 49 (steps, a vector and one float left), relu + residual', op: 'kn', shape: [4, 64, 7, 7], layout: 'NCHW', epilogue: true },
  { name: 'KN NCHW, one-pass forward units', op: 'kn', shape: [32, 64, 28, 28], layout: 'NCHW' },
  { name: 'KN NCHW, one-pass forward and backward, streamed outputs', op: 'kn', shape: [8, 64, 112, 112], layout: 'NCHW' },
  { name: 'KN NCHW, streamed rows of 196 (a 4-float end at width 8)', op: 'kn', shape: [16, 1024, 14, 14], layout: 'NCHW', epilogue: true },
  { name: 'GKN NCHW, one-pass backward groups', op: 'gkn', shape: [4, 256, 14, 14], layout: 'NCHW', groups: 32 },
  { name: 'GKN NCHW, short cells in one-pass forward groups, relu + residual', op: 'gkn', shape: [2, 2048, 7, 7], layout: 'NCHW', groups: 32, epilogue: true },
  { name: 'GKN NCHW, one-pass forward groups of 6272', op: 'gkn', shape: [2, 64, 56, 56], layout: 'NCHW', groups: 32 },
  { name: 'KN NHWC, 100 channels (4 left over at width 8), relu + residual', op: 'kn', shape: [4, 100, 9, 9], layout: 'NHWC', epilogue: true },
  { name: 'KN NHWC, 128 channels (rows asked for ahead)', op: 'kn', shape: [4, 128, 28, 28], layout: 'NHWC' },
  { name: 'GKN NHWC, chunks of a sample over the threads', op: 'gkn', shape: [2, 96, 15, 15], layout: 'NHWC', groups: 8 },
  { name: 'KN NHWC, streamed outputs, a sample an item', op: 'kn', shape: [32, 64, 56, 56], layout: 'NHWC', epilogue: true },
];

function digest(values: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}

/** Every output of one training step (forward with a prior, backward) of `c`, as digests by name. */
function caseDigests(c: PathCase, seed: number): Record<string, string> {
  const random = makeRandom(seed);
  const [n, channels, h, w] = c.shape;
  const columns = c.op === 'kn' ? channels : c.groups!;
  // Normal values; a large tensor repeats a block of them (a prime count, so the repeats fall at
  // other places in each row), which keeps the test's JavaScript short next to the kernels.
  const block = Float32Array.from({ length: 65_521 }, () => random.normal());
  const values = (length: number, scale = 1, offset = 0) => {
    const start = Math.floor(random.uniform() * block.length);
    const out = new Float32Array(length);
    for (let i = 0, k = start; i < length; ++i, k = k + 1 === block.length ? 0 : k + 1) out[i] = offset + scale * block[k];
    return out;
  };
  const elements = n * channels * h * w;
  const x = Tensor.fromArray(values(elements, 1, 3), c.shape, { layout: c.layout });
  const dy = Tensor.fromArray(values(elements), c.shape, { layout: c.layout });
  const residual = c.epilogue ? Tensor.fromArray(values(elements), c.shape, { layout: c.layout }) : undefined;
  const common = {
    gamma: values(channels, 0.2, 1),
    beta: values(channels, 0.5),
    gain: Float32Array.from({ length: columns }, (_, k) => 0.1 + (0.8 * k) / columns),
    prior: { mean: values(columns, 0.5, 3), var: Float32Array.from({ length: columns }, () => 0.5 + random.uniform()) },
    residual,
    activation: c.epilogue ? ('relu' as const) : ('identity' as const),
  };
  const forward = c.op === 'kn' ? ops.kalmanNorm(x, common) : ops.groupKalmanNorm(x, { ...common, groups: c.groups! });
  const gradients = c.op === 'kn' ? ops.kalmanNormBackward(dy, forward.saved) : ops.groupKalmanNormBackward(dy, forward.saved);
  const outputs: Record<string, Tensor | undefined> = {
    y: forward.y, mean: forward.mean, var: forward.var, dx: gradients.dx, dResidual: gradients.dResidual,
    dGamma: gradients.dGamma, dBeta: gradients.dBeta, dGain: gradients.dGain instanceof Tensor ? gradients.dGain : undefined,
    dPriorMean: gradients.dPriorMean, dPriorVar: gradients.dPriorVar,
  };
  const digests: Record<string, string> = {};
  for (const [name, tensor] of Object.entries(outputs)) if (tensor) digests[name] = digest(tensor.toArray());
  return digests;
}

export interface PathDigests {
  width: number;
  threads: number;
  /** Per case, the digests of its outputs by name. */
  cases: Record<string, Record<string, string>>;
}

/** This process's vector width, thread count and digests. */
export function cpuPathDigests(): PathDigests {
  const cases: Record<string, Record<string, string>> = {};
  CPU_PATH_CASES.forEach((c, i) => (cases[c.name] = caseDigests(c, 700 + i)));
  return { width: cpuVectorWidth(), threads: threadCount(), cases };
}
