// One observation of the input node's running estimates (KN-SPEC section 3a), on x's device: the
// patch vectors a linear map or a convolution sees, their batch mean and unbiased covariance, and
// the exponential moving averages. InputStatistics (lib/layers/input-statistics.ts) checks the
// arguments; the math is csrc/common/covariance_math.h.
import { native } from '../binding';
import { Tensor } from '../tensor';
import { CallDevice } from './call-device';

/** What the native ops read: x [N, channels, height, width] cut into kernel-sized patches. */
export interface PatchGeometry {
  channels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  padH: number;
  padW: number;
  strideH: number;
  strideW: number;
}

/** The running estimates, on one device. */
export interface InputMomentsState {
  /** [1, D] */
  mean: Tensor;
  /** [1, D]: the exact running variances, whatever the covariance's form. */
  var: Tensor;
  /** Full: [D, D]. */
  covariance: Tensor | null;
  /** Low rank: L [D, rank] and d [D], Sigma = L L^T + diag(d). */
  factor: Tensor | null;
  diagonal: Tensor | null;
}

/** Patch columns merged per low-rank truncation (bounds the host eigenproblem at rank + 64). */
const CHUNK = 64;

/**
 * Blends one batch into the estimates: new = keep * old + take * batch (keep = 0, take = 1 on the
 * first observation). `patches` = N * positions patch vectors of `features` values each.
 */
export function updateInputMoments(x: Tensor, geometry: PatchGeometry, patches: number, state: InputMomentsState, keep: number, take: number): void {
  const device = new CallDevice(x, undefined);
  const features = state.mean.size;
  const centered = device.zeros([patches, features]);
  const batchMean = device.zeros([features]);
  native().observeInput({
    where: device.placement(), geometry: { ...geometry, channelsLast: x.layout === 'NHWC' }, samples: x.shape[0],
    keep, take, x: x.memory(), patches: centered.memory(), batchMean: batchMean.memory(),
    mean: state.mean.memory(), var: state.var.memory(), covariance: state.covariance?.memory() ?? null,
  });
  if (state.factor && state.diagonal) lowRankUpdate(device, centered, state.factor, state.diagonal, keep, take / (patches - 1));
  centered.dispose();
  batchMean.dispose();
}

/**
 * The truncated incremental update of Sigma = L L^T + diag(d) by scale * X^T X, chunk by chunk:
 * F = [sqrt(keep) L, sqrt(scale) X_chunk^T], L <- F V_k with V_k the leading eigenvectors of F^T F
 * (so L L^T is the best rank-k part of F F^T), and d <- keep d + what the truncation dropped from
 * the diagonal. The eigenproblem ((rank + chunk) square) is solved on the host: on CUDA one small
 * copy per chunk waits for the GPU.
 */
function lowRankUpdate(device: CallDevice, centered: Tensor, factor: Tensor, diagonal: Tensor, keep: number, scale: number): void {
  const [patches, features] = centered.shape;
  const rank = factor.shape[1];
  for (let start = 0; start < patches; start += CHUNK) {
    const chunk = Math.min(CHUNK, patches - start);
    const width = rank + chunk;
    const chunkKeep = start === 0 ? keep : 1;
    const stacked = device.zeros([features, width]);
    const gram = device.zeros([width, width]);
    native().lowRankStack({
      where: device.placement(), features, rank, patches, chunkStart: start, chunk, keep: chunkKeep, scale,
      centered: centered.memory(), factor: factor.memory(), stacked: stacked.memory(), gram: gram.memory(),
    });
    const vectors = new Float32Array(width * rank);
    native().topEigenvectors({ size: width, rank, matrix: gram.readSync(), vectors });
    native().lowRankApply({
      where: device.placement(), features, rank, width, keep: chunkKeep, stacked: stacked.memory(),
      vectors: device.upload(vectors), factor: factor.memory(), diagonal: diagonal.memory(),
    });
    stacked.dispose();
    gram.dispose();
  }
}
