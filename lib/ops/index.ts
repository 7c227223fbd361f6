import { groupKalmanNorm, groupKalmanNormAsync, groupKalmanNormBackward, groupKalmanNormBackwardAsync } from './group-kalman-norm';
import {
  kalmanNorm,
  kalmanNormApply,
  kalmanNormAsync,
  kalmanNormBackward,
  kalmanNormBackwardApply,
  kalmanNormBackwardAsync,
  kalmanNormBackwardStatistics,
  kalmanNormStatistics,
} from './kalman-norm';
import * as covariance from './covariance';
import * as transitions from './transitions';

/** The functional API. */
export const ops = {
  kalmanNorm,
  kalmanNormBackward,
  groupKalmanNorm,
  groupKalmanNormBackward,
  kalmanNormAsync,
  kalmanNormBackwardAsync,
  groupKalmanNormAsync,
  groupKalmanNormBackwardAsync,
  kalmanNormStatistics,
  kalmanNormApply,
  kalmanNormBackwardStatistics,
  kalmanNormBackwardApply,
  affineMoments: transitions.affineMoments,
  affineMomentsBackward: transitions.affineMomentsBackward,
  convTransition: transitions.convTransition,
  convTransitionBackward: transitions.convTransitionBackward,
  reluMoments: transitions.reluMoments,
  reluMomentsBackward: transitions.reluMomentsBackward,
  avgPoolMoments: transitions.avgPoolMoments,
  avgPoolMomentsBackward: transitions.avgPoolMomentsBackward,
  maxPoolMoments: transitions.maxPoolMoments,
  maxPoolMomentsBackward: transitions.maxPoolMomentsBackward,
  groupMoments: transitions.groupMoments,
  groupMomentsBackward: transitions.groupMomentsBackward,
  addMoments: transitions.addMoments,
  addMomentsBackward: transitions.addMomentsBackward,
  identityMoments: transitions.identityMoments,
  identityMomentsBackward: transitions.identityMomentsBackward,
  normalizeMoments: transitions.normalizeMoments,
  normalizeMomentsBackward: transitions.normalizeMomentsBackward,
  quadraticMoments: covariance.quadraticMoments,
  quadraticMomentsBackward: covariance.quadraticMomentsBackward,
};
export type { Covariance, QuadraticGradients, QuadraticOptions } from './covariance';
export type { AffineGradients, AffineOptions, MomentRows, MomentRowsGradient, NormalizeMomentsOptions } from './transitions';
export type { PoolOptions } from './transitions';
export type { GroupOptions } from './transitions';

export type { KalmanNormOptions } from './kalman-norm';
export type { GroupKalmanNormOptions } from './group-kalman-norm';
export type { Activation, GuardStatistic, NormOptions, NormResult, NormBackwardOptions, NormGradients } from './normalization';
export type { StatVector } from './arguments';
export { SavedNormalization } from './saved-state';
export { KalmanNormBackwardStatistics, KalmanNormStatistics } from './merged-run';
export { ASYNC_MIN_ELEMENTS } from './norm-run';
