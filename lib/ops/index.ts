import { groupKalmanNorm, groupKalmanNormBackward } from './group-kalman-norm';
import { kalmanNorm, kalmanNormBackward } from './kalman-norm';

/** The functional API. */
export const ops = { kalmanNorm, kalmanNormBackward, groupKalmanNorm, groupKalmanNormBackward };

export type { KalmanNormOptions } from './kalman-norm';
export type { GroupKalmanNormOptions } from './group-kalman-norm';
export type { Activation, NormOptions, NormResult, NormBackwardOptions, NormGradients } from './normalization';
export type { StatVector } from './arguments';
export { SavedNormalization } from './saved-state';
