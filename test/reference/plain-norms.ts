/**
 * Textbook BatchNorm and GroupNorm forward in float64. Deliberately written apart from the Kalman
 * reference (its own indexing, its own statistics), so that "no prior" and "K = 1" are checked
 * against code that never saw the Kalman formulas.
 */
import type { Layout } from './kalman-norm-reference';

/** One element of a normalization set: where it lives in memory and which channel's affine it takes. */
interface Member {
  offset: number;
  channel: number;
}

function sizesOf(shape: number[]): { batch: number; channels: number; spatial: number } {
  const [batch, channels, ...spatialDims] = shape;
  return { batch, channels, spatial: spatialDims.reduce((product, dim) => product * dim, 1) };
}

function memoryOffset(shape: number[], layout: Layout, n: number, c: number, s: number): number {
  const { channels, spatial } = sizesOf(shape);
  return layout === 'NCHW' ? (n * channels + c) * spatial + s : (n * spatial + s) * channels + c;
}

/** Normalizes the members with their own biased mean and variance and writes gamma * xhat + beta into y. */
function normalizeSet(
  x: Float64Array,
  members: Member[],
  eps: number,
  gamma: Float64Array | undefined,
  beta: Float64Array | undefined,
  y: Float64Array,
): void {
  let sum = 0;
  for (const { offset } of members) sum += x[offset];
  const mean = sum / members.length;
  let squaredDeviations = 0;
  for (const { offset } of members) squaredDeviations += (x[offset] - mean) ** 2;
  const variance = squaredDeviations / members.length;
  for (const { offset, channel } of members) {
    const xhat = (x[offset] - mean) / Math.sqrt(variance + eps);
    y[offset] = (gamma ? gamma[channel] : 1) * xhat + (beta ? beta[channel] : 0);
  }
}

/** BatchNorm over ghost batches of `virtualBatch` consecutive samples (default: the whole batch). */
export function batchNorm(
  x: Float64Array,
  shape: number[],
  layout: Layout,
  eps: number,
  virtualBatch?: number,
  gamma?: Float64Array,
  beta?: Float64Array,
): Float64Array {
  const { batch, channels, spatial } = sizesOf(shape);
  const ghostBatch = virtualBatch ?? batch;
  const y = new Float64Array(x.length);
  for (let first = 0; first < batch; first += ghostBatch) {
    for (let c = 0; c < channels; c++) {
      const members: Member[] = [];
      for (let n = first; n < first + ghostBatch; n++) {
        for (let s = 0; s < spatial; s++) members.push({ offset: memoryOffset(shape, layout, n, c, s), channel: c });
      }
      normalizeSet(x, members, eps, gamma, beta, y);
    }
  }
  return y;
}

/** GroupNorm: each sample's channels are split into `groups` runs of consecutive channels. */
export function groupNorm(
  x: Float64Array,
  shape: number[],
  layout: Layout,
  groups: number,
  eps: number,
  gamma?: Float64Array,
  beta?: Float64Array,
): Float64Array {
  const { batch, channels, spatial } = sizesOf(shape);
  const channelsPerGroup = channels / groups;
  const y = new Float64Array(x.length);
  for (let n = 0; n < batch; n++) {
    for (let g = 0; g < groups; g++) {
      const members: Member[] = [];
      for (let c = g * channelsPerGroup; c < (g + 1) * channelsPerGroup; c++) {
        for (let s = 0; s < spatial; s++) members.push({ offset: memoryOffset(shape, layout, n, c, s), channel: c });
      }
      normalizeSet(x, members, eps, gamma, beta, y);
    }
  }
  return y;
}
