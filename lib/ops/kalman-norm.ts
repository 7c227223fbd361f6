// Kalman Normalization (KN): statistic units are (ghost batch, channel) pairs.
import { checkNumber, checkPositiveInteger, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { StatVector, checkNonNegative, checkVector } from './arguments';
import { CallDevice } from './call-device';
import {
  NormBackwardOptions,
  NormGradients,
  NormOptions,
  NormResult,
  UnitGeometry,
  checkModeOptions,
  fixedForward,
  inputDimensions,
  normBackward,
  trainingForward,
} from './normalization';

export interface KalmanNormOptions extends NormOptions {
  /** Samples per ghost batch v (must divide N). Default N. */
  virtualBatch?: number;
  /** Per-channel running estimates: updated in place in training, used in inference. */
  runningMean?: StatVector;
  runningVar?: StatVector;
  /** Weight of the new batch in the running estimates. Default 0.1. */
  momentum?: number;
}

const KN_KEYS = ['virtualBatch', 'runningMean', 'runningVar', 'momentum'];

function geometry(x: unknown, virtualBatch: unknown, training: boolean): UnitGeometry {
  const { samples, channels, spatial } = inputDimensions(x);
  const layout = (x as Tensor).layout;
  const ghostBatch = checkPositiveInteger('virtualBatch', virtualBatch ?? samples);
  if (samples % ghostBatch !== 0)
    throw rangeError('virtualBatch', `must divide the batch size N = ${samples}, got ${ghostBatch}`);
  // Inference normalizes each channel over the whole batch with the running estimates: one unit row.
  const perUnit = training ? ghostBatch : samples;
  return {
    op: 'kalmanNorm',
    shape: { samples, channels, spatial, layout, samplesPerUnit: perUnit, channelsPerUnit: 1 },
    unitShape: [samples / perUnit, channels],
    columnName: 'channel',
  };
}

function runningEstimates(options: KalmanNormOptions, channels: number, required: boolean, device: CallDevice) {
  const { runningMean, runningVar } = options;
  if (runningMean === undefined && runningVar === undefined && !required) return null;
  if (runningMean === undefined || runningVar === undefined) {
    const missing = runningMean === undefined ? 'runningMean' : 'runningVar';
    throw new TypeError(`${missing}: ${required ? 'required in inference mode (training: false)' : 'runningMean and runningVar go together'}`);
  }
  const expected = `one value per channel [${channels}]`;
  const mean = checkVector('runningMean', runningMean, channels, expected, device);
  const variance = checkVector('runningVar', runningVar, channels, expected, device);
  checkNonNegative('runningVar', variance);
  const momentum = checkNumber('momentum', options.momentum ?? 0.1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  return { mean, var: variance, momentum };
}

/**
 * KN forward (KN-SPEC section 1). Training: y, the posterior per (ghost batch, channel) unit
 * [B, C], and the running estimates updated in place when given. Inference (training: false):
 * normalizes with runningMean / runningVar, which are then returned as mean / var [C].
 */
export function kalmanNorm(x: Tensor, options: KalmanNormOptions = {}): NormResult {
  const training = checkModeOptions(options, KN_KEYS);
  const units = geometry(x, options.virtualBatch, training);
  const channels = units.shape.channels;
  const device = new CallDevice(x, options.stream);
  if (!training) return fixedForward(units, x, options, runningEstimates(options, channels, true, device)!);
  return trainingForward(units, x, options, runningEstimates(options, channels, false, device));
}

/** KN backward (KN-SPEC section 2): the exact gradient of the forward call that returned `saved`. */
export function kalmanNormBackward(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): NormGradients {
  return normBackward('kalmanNorm', dy, saved, options);
}
