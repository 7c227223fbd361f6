// Group Kalman Normalization (GKN): statistic units are (sample, group) pairs.
import { checkPositiveInteger, rangeError } from '../errors';
import { Tensor } from '../tensor';
import {
  NormBackwardOptions,
  NormGradients,
  NormOptions,
  NormResult,
  UnitGeometry,
  checkModeOptions,
  inputDimensions,
  normBackward,
  trainingForward,
} from './normalization';

export interface GroupKalmanNormOptions extends NormOptions {
  /** Number of channel groups G (must divide C). */
  groups: number;
}

function geometry(x: unknown, groups: unknown): UnitGeometry {
  const { samples, channels, spatial } = inputDimensions(x);
  const groupCount = checkPositiveInteger('groups', groups);
  if (channels % groupCount !== 0)
    throw rangeError('groups', `must divide the channel count C = ${channels}, got ${groupCount}`);
  return {
    op: 'groupKalmanNorm',
    shape: { samples, channels, spatial, layout: (x as Tensor).layout, samplesPerUnit: 1, channelsPerUnit: channels / groupCount },
    unitShape: [samples, groupCount],
    columnName: 'group',
  };
}

/**
 * GKN forward (KN-SPEC section 1): y and the posterior per (sample, group) unit [N, G]. Inference
 * is the same computation (each sample has its own statistics), so `training` changes nothing.
 */
export function groupKalmanNorm(x: Tensor, options: GroupKalmanNormOptions): NormResult {
  checkModeOptions(options, ['groups']);
  return trainingForward(geometry(x, options.groups), x, options, null);
}

/** GKN backward (KN-SPEC section 2): the exact gradient of the forward call that returned `saved`. */
export function groupKalmanNormBackward(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): NormGradients {
  return normBackward('groupKalmanNorm', dy, saved, options);
}
