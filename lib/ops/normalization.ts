// The options and results that KN and GKN share (the public types). A call goes
// parse (norm-call.ts) -> run (norm-run.ts): one native call (csrc/addon/kalman_norm_binding.cpp).
import { Tensor } from '../tensor';
import { StatVector } from './arguments';
import type { SavedNormalization } from './saved-state';

export type Activation = 'identity' | 'relu';

/**
 * The statistic of the prior-to-observation ratios u / s2 that the guard compares with its
 * threshold (KN-SPEC 1.4): 'geometric' (default) exp(mean log((u + eps) / (s2 + eps))), or 'mean'
 * (the official implementation's) mean u / (s2 + eps), which has no finite mean at 2 samples per
 * unit and fires on most micro-batch calls.
 */
export type GuardStatistic = 'geometric' | 'mean';

/** Options shared by kalmanNorm and groupKalmanNorm. */
export interface NormOptions {
  /** Training mode (batch statistics fused with the prior). Default true. */
  training?: boolean;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Kalman gain K in [0, 1]: a number, or one per channel (KN) / group (GKN). Default 0.1. */
  gain?: number | StatVector;
  /** The prediction from the previous layer, per unit or per channel (KN) / group (GKN). Without it the op is BN (GN). */
  prior?: { mean: StatVector; var: StatVector };
  /** Guard threshold tau: when the guard statistic r >= tau the prior is ignored for the call. Default 100; Infinity disables. */
  guard?: number;
  /** Which statistic r the guard uses. Default 'geometric'. */
  guardStatistic?: GuardStatistic;
  /** Per-channel scale; absent = 1. */
  gamma?: StatVector;
  /** Per-channel shift; absent = 0. */
  beta?: StatVector;
  /** Added before the activation: y = act(gamma xhat + beta + residual). */
  residual?: Tensor;
  /** Default 'identity'. */
  activation?: Activation;
  /** Caller-owned outputs to write into instead of allocating (the posterior is per unit). */
  out?: { y?: Tensor; mean?: Tensor; var?: Tensor; saved?: SavedNormalization };
  /** CUDA: the stream to queue the work on (a cudaStream_t); default: this package's stream. */
  stream?: bigint;
}

export interface NormResult {
  /** The normalized output, shaped and laid out like x. */
  y: Tensor;
  /** The posterior mean per unit (KN inference: the running mean per channel). */
  mean: Tensor;
  /** The posterior variance per unit (KN inference: the running variance per channel). */
  var: Tensor;
  /** Whether the guard fired and the prior was ignored for this call (on CUDA, reading it waits for the GPU). */
  readonly guardFired: boolean;
  /**
   * KN training with running estimates: the channels whose running estimates this call left
   * unchanged because their statistics were not finite (NaN or Inf in x); otherwise empty. On
   * CUDA, reading it waits for the GPU.
   */
  readonly skippedChannels: number[];
  /** Pass to the matching backward function. */
  saved: SavedNormalization;
}

export interface NormBackwardOptions {
  /** Gradient with respect to the posterior mean, per unit (from the next layer's transition). */
  dMean?: StatVector;
  /** Gradient with respect to the posterior variance, per unit. */
  dVar?: StatVector;
  /** CUDA: the stream to queue the work on; default: this package's stream. */
  stream?: bigint;
  /** Caller-owned outputs to write into. */
  out?: { dx?: Tensor; dResidual?: Tensor; dGamma?: Tensor; dBeta?: Tensor; dPriorMean?: Tensor; dPriorVar?: Tensor; dGain?: Tensor };
}

export interface NormGradients {
  dx: Tensor;
  /** Present when gamma was given. */
  dGamma?: Tensor;
  /** Present when beta was given. */
  dBeta?: Tensor;
  /** Present when a prior was given, in the prior's own shape (zero when the guard fired). */
  dPriorMean?: Tensor;
  dPriorVar?: Tensor;
  /** Present when a prior was given, in the gain's own shape: a number for a scalar gain (on CUDA, reading it waits for the GPU). */
  dGain?: number | Tensor;
  /** Present when a residual was given. */
  dResidual?: Tensor;
}
