// Group Kalman Normalization (GKN): statistic units are (sample, group) pairs.
import { checkPositiveInteger, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { CallDevice } from './call-device';
import { NormCall, normOptionKeys, parseModeAndInput, parseNormBackwardCall, parseNormCall, unitGeometry } from './norm-call';
import { runNormBackward, runNormBackwardAsync, runNormForward, runNormForwardAsync } from './norm-run';
import { NormBackwardOptions, NormGradients, NormOptions, NormResult } from './normalization';

export interface GroupKalmanNormOptions extends NormOptions {
  /** Number of channel groups G (must divide C). */
  groups: number;
}

const GKN_KEYS = normOptionKeys(['groups']);

/**
 * Checks a GKN forward call. Inference is the same computation (each sample has its own
 * statistics), so `training` changes nothing.
 */
export function parseGroupKalmanNormCall(x: unknown, options: unknown): NormCall {
  const input = parseModeAndInput(x, options, GKN_KEYS);
  const given = options as GroupKalmanNormOptions;
  const channels = input.dimensions.channels;
  const groups = checkPositiveInteger('groups', given.groups);
  if (channels % groups !== 0) throw rangeError('groups', `must divide the channel count C = ${channels}, got ${groups}`);
  const units = unitGeometry(input.x, input.dimensions, 1, channels / groups, 'group');
  const device = new CallDevice(input.x, given.stream);
  return parseNormCall('groupKalmanNorm', input.x, given, { device, training: units, active: units, mode: 'training', running: null, sync: null });
}

/** GKN forward (KN-SPEC section 1): y and the posterior per (sample, group) unit [N, G]. */
export function groupKalmanNorm(x: Tensor, options: GroupKalmanNormOptions): NormResult {
  return runNormForward(parseGroupKalmanNormCall(x, options));
}

/** GKN backward (KN-SPEC section 2): the exact gradient of the forward call that returned `saved`. */
export function groupKalmanNormBackward(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): NormGradients {
  return runNormBackward(parseNormBackwardCall('groupKalmanNorm', dy, saved, options));
}

/**
 * groupKalmanNorm without blocking the event loop: on the CPU, from `ASYNC_MIN_ELEMENTS` elements of x,
 * the work runs on a libuv worker thread. Bad arguments throw here, before a promise exists. Until
 * the promise settles, write neither x nor the outputs and running estimates the call writes, and
 * read none of them (docs/RELIABILITY.md).
 */
export function groupKalmanNormAsync(x: Tensor, options: GroupKalmanNormOptions): Promise<NormResult> {
  return runNormForwardAsync(parseGroupKalmanNormCall(x, options));
}

/** groupKalmanNormBackward without blocking the event loop (as groupKalmanNormAsync). */
export function groupKalmanNormBackwardAsync(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): Promise<NormGradients> {
  return runNormBackwardAsync(parseNormBackwardCall('groupKalmanNorm', dy, saved, options));
}
