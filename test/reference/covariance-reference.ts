/**
 * Plain float64 reference of the input node and the covariance transition (KN-SPEC sections 3a,
 * 3b): the patch vectors a convolution sees (zero padding, stride, NCHW or NHWC memory), their
 * batch mean and unbiased covariance, the running estimates, and u_o = w_o^T Sigma w_o. It shares
 * no code with lib/ or csrc/.
 */

export interface PatchSpec {
  kernel: [number, number];
  padding: [number, number];
  stride: [number, number];
}

/** x [N, C, H, W] in `layout` memory order; one value by logical index. */
function at(x: ArrayLike<number>, shape: readonly number[], layout: 'NCHW' | 'NHWC', n: number, c: number, y: number, xx: number): number {
  const [, channels, height, width] = shape;
  return layout === 'NCHW' ? x[((n * channels + c) * height + y) * width + xx] : x[((n * height + y) * width + xx) * channels + c];
}

/**
 * The rows [P][D] of patch vectors: for every sample and output position (row-major), the values
 * under the kernel in [c][ki][kj] order, 0 where the kernel hangs over the zero padding. Without a
 * patch spec: one row per sample, its values in logical [C, H, W] order.
 */
export function patchRows(x: ArrayLike<number>, shape: readonly number[], layout: 'NCHW' | 'NHWC', patch?: PatchSpec): number[][] {
  const full = [shape[0], shape[1], shape[2] ?? 1, shape[3] ?? 1];
  const [samples, channels, height, width] = full;
  const { kernel, padding, stride } = patch ?? { kernel: [height, width], padding: [0, 0], stride: [1, 1] };
  const outH = Math.floor((height + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const outW = Math.floor((width + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  const rows: number[][] = [];
  for (let n = 0; n < samples; n++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const row: number[] = [];
        for (let c = 0; c < channels; c++)
          for (let ki = 0; ki < kernel[0]; ki++)
            for (let kj = 0; kj < kernel[1]; kj++) {
              const y = oy * stride[0] - padding[0] + ki, xx = ox * stride[1] - padding[1] + kj;
              const inside = y >= 0 && y < height && xx >= 0 && xx < width;
              row.push(inside ? at(x, full, layout, n, c, y, xx) : 0);
            }
        rows.push(row);
      }
  return rows;
}

/** Mean [D] and unbiased covariance [D * D] of the rows (two passes). */
export function batchMoments(rows: number[][]): { mean: Float64Array; covariance: Float64Array } {
  const count = rows.length, features = rows[0].length;
  const mean = new Float64Array(features);
  for (const row of rows) row.forEach((value, i) => (mean[i] += value / count));
  const covariance = new Float64Array(features * features);
  for (const row of rows)
    for (let i = 0; i < features; i++)
      for (let j = 0; j < features; j++) covariance[i * features + j] += ((row[i] - mean[i]) * (row[j] - mean[j])) / (count - 1);
  return { mean, covariance };
}

/** The running estimates after each batch in turn: the first initializes, later ones blend with `momentum`. */
export function runningMoments(batches: number[][][], momentum: number): { mean: Float64Array; covariance: Float64Array } {
  let state: { mean: Float64Array; covariance: Float64Array } | null = null;
  for (const rows of batches) {
    const batch = batchMoments(rows);
    state = state === null ? batch : {
      mean: state.mean.map((old, i) => (1 - momentum) * old + momentum * batch.mean[i]),
      covariance: state.covariance.map((old, i) => (1 - momentum) * old + momentum * batch.covariance[i]),
    };
  }
  return state!;
}

/** The diagonal of a D x D matrix. */
export function diagonalOf(matrix: ArrayLike<number>, features: number): Float64Array {
  return Float64Array.from({ length: features }, (_, i) => matrix[i * features + i]);
}

/** L L^T + diag(d) for L [D][rank]. */
export function lowRankMatrix(factor: ArrayLike<number>, diagonal: ArrayLike<number>, features: number): Float64Array {
  const rank = factor.length / features;
  const out = new Float64Array(features * features);
  for (let i = 0; i < features; i++)
    for (let j = 0; j < features; j++) {
      let sum = i === j ? diagonal[i] : 0;
      for (let k = 0; k < rank; k++) sum += factor[i * rank + k] * factor[j * rank + k];
      out[i * features + j] = sum;
    }
  return out;
}

export interface QuadraticInput {
  mean: ArrayLike<number>; // [D]
  covariance: ArrayLike<number>; // [D * D]
  weight: ArrayLike<number>; // [O * D]
  bias?: ArrayLike<number>; // [O]
  noise?: ArrayLike<number>; // [O]
}

/** m_o = w_o . mean + bias_o, u_o = w_o^T Sigma w_o + noise_o. */
export function quadraticReference(input: QuadraticInput): { mean: Float64Array; var: Float64Array } {
  const features = input.mean.length, outputs = input.weight.length / features;
  const mean = new Float64Array(outputs), variance = new Float64Array(outputs);
  for (let o = 0; o < outputs; o++) {
    let m = input.bias ? input.bias[o] : 0, u = input.noise ? input.noise[o] : 0;
    for (let i = 0; i < features; i++) {
      m += input.weight[o * features + i] * input.mean[i];
      for (let j = 0; j < features; j++) u += input.weight[o * features + i] * input.covariance[i * features + j] * input.weight[o * features + j];
    }
    mean[o] = m;
    variance[o] = u;
  }
  return { mean, var: variance };
}
