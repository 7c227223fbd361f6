// Kalman Normalization (KN): statistic units are (ghost batch, channel) pairs.
import { checkPositiveInteger, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { StatVector, checkMomentum, checkNonNegative, checkVector } from './arguments';
import { CallDevice } from './call-device';
import { NormCall, RunningEstimates, parseModeAndInput, parseNormBackwardCall, parseNormCall, unitGeometry } from './norm-call';
import { runNormBackward, runNormBackwardAsync, runNormForward, runNormForwardAsync } from './norm-run';
import { NormBackwardOptions, NormGradients, NormOptions, NormResult } from './normalization';

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

function parseRunning(options: KalmanNormOptions, channels: number, required: boolean, device: CallDevice): RunningEstimates | null {
  const { runningMean, runningVar } = options;
  const momentum = checkMomentum(options.momentum ?? 0.1);
  if (runningMean === undefined && runningVar === undefined && !required) return null;
  if (runningMean === undefined || runningVar === undefined) {
    const missing = runningMean === undefined ? 'runningMean' : 'runningVar';
    throw new TypeError(`${missing}: ${required ? 'required in inference mode (training: false)' : 'runningMean and runningVar go together'}`);
  }
  const expected = `one value per channel [${channels}]`;
  const mean = checkVector('runningMean', runningMean, channels, expected, device);
  const variance = checkVector('runningVar', runningVar, channels, expected, device);
  checkNonNegative('runningVar', variance);
  return { mean, var: variance, momentum };
}

/**
 * Checks a KN forward call: units are (ghost batch, channel) pairs in training, and in inference
 * each channel over the whole batch, normalized with the running estimates.
 */
export function parseKalmanNormCall(x: unknown, options: unknown): NormCall {
  const input = parseModeAndInput(x, options, KN_KEYS);
  const given = options as KalmanNormOptions;
  const { samples, channels } = input.dimensions;
  const ghostBatch = checkPositiveInteger('virtualBatch', given.virtualBatch ?? samples);
  if (samples % ghostBatch !== 0)
    throw rangeError('virtualBatch', `must divide the batch size N = ${samples}, got ${ghostBatch}`);
  const training = unitGeometry(input.x, input.dimensions, ghostBatch, 1, 'channel');
  const active = input.training ? training : unitGeometry(input.x, input.dimensions, samples, 1, 'channel');
  const running = parseRunning(given, channels, !input.training, new CallDevice(input.x, given.stream));
  return parseNormCall('kalmanNorm', input.x, given, { training, active, mode: input.training ? 'training' : 'fixed', running });
}

/**
 * KN forward (KN-SPEC section 1). Training: y, the posterior per (ghost batch, channel) unit
 * [B, C], and the running estimates updated in place when given. Inference (training: false):
 * normalizes with runningMean / runningVar, which are then returned as mean / var [C].
 */
export function kalmanNorm(x: Tensor, options: KalmanNormOptions = {}): NormResult {
  return runNormForward(parseKalmanNormCall(x, options));
}

/** KN backward (KN-SPEC section 2): the exact gradient of the forward call that returned `saved`. */
export function kalmanNormBackward(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): NormGradients {
  return runNormBackward(parseNormBackwardCall('kalmanNorm', dy, saved, options));
}

/**
 * kalmanNorm without blocking the event loop: on the CPU, from `ASYNC_MIN_ELEMENTS` elements of x,
 * the work runs on a libuv worker thread. Bad arguments throw here, before a promise exists. Until
 * the promise settles, write neither x nor the outputs and running estimates the call writes, and
 * read none of them (docs/RELIABILITY.md).
 */
export function kalmanNormAsync(x: Tensor, options: KalmanNormOptions = {}): Promise<NormResult> {
  return runNormForwardAsync(parseKalmanNormCall(x, options));
}

/** kalmanNormBackward without blocking the event loop (as kalmanNormAsync). */
export function kalmanNormBackwardAsync(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): Promise<NormGradients> {
  return runNormBackwardAsync(parseNormBackwardCall('kalmanNorm', dy, saved, options));
}
