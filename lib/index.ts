/**
 * kalman-norm: Kalman Normalization (KN) and Group Kalman Normalization (GKN) for Node.js.
 *
 * @packageDocumentation
 */
export { Tensor, cudaInfo } from './tensor';
export type { DType, Device, Layout, TensorOptions } from './tensor';
export type { CudaDevice, CudaInfo, EmulatorCounters } from './binding';
export { ASYNC_MIN_ELEMENTS, KalmanNormBackwardStatistics, KalmanNormStatistics, ops, SavedNormalization } from './ops';
export type {
  Activation,
  GuardStatistic,
  GroupKalmanNormOptions,
  KalmanNormOptions,
  NormBackwardOptions,
  NormGradients,
  NormOptions,
  NormResult,
  StatVector,
  AffineGradients,
  AffineOptions,
  MomentRows,
  MomentRowsGradient,
  NormalizeMomentsOptions,
  PoolOptions,
  GroupOptions,
  Covariance,
  QuadraticGradients,
  QuadraticOptions,
} from './ops';
export { KalmanNorm } from './layers/kalman-norm-layer';
export type { KalmanNormLayerOptions } from './layers/kalman-norm-layer';
export { GroupKalmanNorm } from './layers/group-kalman-norm-layer';
export type { LayerForwardInputs, LayerGradients, LayerOptions } from './layers/normalization-layer';
export { cpuVectorWidth, diagnostics, threadCount } from './runtime';
export { MomentNode } from './layers/moment-graph';
export type { RowsGradient, TiedWeight } from './layers/moment-graph';
export { activationOf, linkFeedForward, linkResNetBasicBlock, linkStack, moments } from './layers/links';
export type { BasicBlock, Stack, StackPool } from './layers/links';
export { NormalizationLayer } from './layers/normalization-layer';
export { InputStatistics } from './layers/input-statistics';
export type { CovarianceOption, InputStatisticsOptions, PatchOptions } from './layers/input-statistics';
export * as distributed from './distributed';
export type { Communicator } from './distributed';
