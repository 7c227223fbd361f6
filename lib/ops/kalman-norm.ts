// Kalman Normalization (KN): statistic units are (ghost batch, channel) pairs.
import { checkPositiveInteger, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { StatVector, checkMomentum, checkNonNegative, checkVector } from './arguments';
import { CallDevice } from './call-device';
import { NormCall, RunningEstimates, normOptionKeys, parseModeAndInput, parseNormBackwardCall, parseNormCall, unitGeometry } from './norm-call';
import { checkCommunicator } from '../distributed/communicator';
import type { Communicator } from '../distributed/communicator';
import { KalmanNormBackwardStatistics, KalmanNormStatistics, applyBackwardStatistics, applyStatistics } from './merged-run';
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
  /**
   * Training: merge each channel's statistics with those of the other processes of this group
   * (data-parallel training, KN-SPEC 3d, docs/DISTRIBUTED.md), so that every process computes the
   * result of one process holding the whole global batch. Needs virtualBatch = N. The backward of
   * the call is merged too. Inference reads the running estimates and exchanges nothing.
   */
  sync?: Communicator;
}

const KN_KEYS = normOptionKeys(['virtualBatch', 'runningMean', 'runningVar', 'momentum', 'sync']);

function parseRunning(options: KalmanNormOptions, channels: number, required: boolean, device: CallDevice): RunningEstimates | null {
  const { runningMean, runningVar } = options;
  const momentum = checkMomentum(options.momentum ?? 0.1);
  if (runningMean === undefined && runningVar === undefined && !required) return null;
  if (runningMean === undefined || runningVar === undefined) {
    const missing = runningMean === undefined ? 'runningMean' : 'runningVar';
    throw new TypeError(`${missing}: ${required ? 'required in inference mode (training: false)' : 'runningMean and runningVar go together'}`);
  }
  const expected = (): string => `one value per channel [${channels}]`;
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
  const device = new CallDevice(input.x, given.stream);
  const running = parseRunning(given, channels, !input.training, device);
  const givenSync = given.sync;
  const sync = givenSync === undefined ? null : checkCommunicator('sync', givenSync);
  if (sync && ghostBatch !== samples)
    throw rangeError('virtualBatch', `with sync each process's batch is its part of one global batch: expected N = ${samples}, got ${ghostBatch} (ghost batches stay within a process)`);
  return parseNormCall('kalmanNorm', input.x, given, { device, training, active, mode: input.training ? 'training' : 'fixed', running, sync });
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

/**
 * The first half of a KN training forward whose statistics you merge over processes yourself
 * (KN-SPEC 3d; `sync` does it with a Communicator): reads x and returns this process's
 * (count, mean, M2) per unit in `moments`. All-gather every process's `moments` in rank order and
 * pass the result to kalmanNormApply, which does the rest. Between the halves the process may do
 * other work (overlap the exchange); x must not change.
 */
export function kalmanNormStatistics(x: Tensor, options: Omit<KalmanNormOptions, 'sync'> = {}): KalmanNormStatistics {
  if ((options as KalmanNormOptions).sync !== undefined) throw rangeError('sync', 'not an option of kalmanNormStatistics: you exchange the moments');
  const call = parseKalmanNormCall(x, options);
  if (call.mode !== 'training') throw rangeError('training', 'kalmanNormStatistics is a training call (inference has no batch statistics)');
  return new KalmanNormStatistics(call);
}

/**
 * The second half: `gathered` is every process's `moments` in rank order (one Float64Array of
 * processes x units x 3, the same on every process); merges them per unit in that order and
 * returns what kalmanNorm returns, for this process's x. Its backward: kalmanNormBackwardStatistics
 * and kalmanNormBackwardApply.
 */
export function kalmanNormApply(statistics: KalmanNormStatistics, gathered: Float64Array): NormResult {
  return applyStatistics(statistics, gathered);
}

/**
 * The first half of the backward of a forward merged with kalmanNormApply: returns this process's
 * part of each unit's sums in `sums` (units x 4). All-gather every process's `sums` in rank order
 * and pass the result to kalmanNormBackwardApply.
 */
export function kalmanNormBackwardStatistics(dy: Tensor, saved: NormResult['saved'], options: NormBackwardOptions = {}): KalmanNormBackwardStatistics {
  const call = parseNormBackwardCall('kalmanNorm', dy, saved, options);
  if (!call.saved.merged) throw rangeError('saved', 'its forward was not merged over processes; use kalmanNormBackward');
  return new KalmanNormBackwardStatistics(call);
}

/**
 * The second half: dx for this process's elements, its dGamma and dBeta (sums over its elements),
 * and its share (1 / processes) of dPriorMean, dPriorVar and dGain, so that every gradient adds up
 * over the processes to the gradient of one process holding the whole batch (what a data-parallel
 * gradient all-reduce computes). dMean / dVar given to the first half are this process's share too.
 */
export function kalmanNormBackwardApply(statistics: KalmanNormBackwardStatistics, gathered: Float64Array): NormGradients {
  return applyBackwardStatistics(statistics, gathered);
}
