// The part of KN and GKN that is the same for both: option checks, the call into the addon, and
// the backward pass. kalman-norm.ts and group-kalman-norm.ts describe their units and call in.
import { Memory, NativeGainAndPrior, NativeShape, native } from '../binding';
import { checkBoolean, checkKnownKeys, checkNumber, checkOneOf, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import {
  SpreadVector,
  StatVector,
  Vector,
  checkNonNegative,
  checkTensor,
  checkTensorLike,
  checkUnitOrColumnVector,
  checkVector,
  checkVectorRange,
  outputVector,
  overlaps,
  vectorMemory,
} from './arguments';
import { CallDevice, readFlag, setScalar } from './call-device';
import { GainValues, NormOp, SavedNormalization, UnitState } from './saved-state';

export type Activation = 'identity' | 'relu';

/**
 * The statistic of the prior-to-observation ratios u / s2 that the guard compares with its
 * threshold (KN-SPEC 1.4): 'geometric' (default) exp(mean log((u + eps) / (s2 + eps))), or 'mean'
 * (the official implementation's) mean u / (s2 + eps), which has no finite mean at 2 samples per
 * unit and fires on most micro-batch calls.
 */
export type GuardStatistic = 'geometric' | 'mean';

/** The addon's numbers for GuardStatistic (kalman_norm_math.h). */
const GUARD_STATISTIC_CODES: Record<GuardStatistic, number> = { geometric: 0, mean: 1 };

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

export const NORM_OPTION_KEYS = ['training', 'eps', 'gain', 'prior', 'guard', 'guardStatistic', 'gamma', 'beta', 'residual', 'activation', 'out', 'stream'];

/** How one op maps x onto statistic units. */
export interface UnitGeometry {
  op: NormOp;
  shape: NativeShape;
  /** [rows, cols]: [B, C] for KN, [N, G] for GKN. */
  unitShape: readonly [number, number];
  /** What a column is called in messages: 'channel' or 'group'. */
  columnName: string;
}

/** x's dimensions: [N, C, ...spatial] with S = product of the spatial sizes. */
export function inputDimensions(x: unknown): { samples: number; channels: number; spatial: number } {
  const shape = checkTensor('x', x).shape;
  if (shape.length < 2) throw rangeError('x', `expected shape [N, C, ...spatial], got [${shape.join(', ')}]`);
  return { samples: shape[0], channels: shape[1], spatial: shape.slice(2).reduce((a, b) => a * b, 1) };
}

/** The gain, checked: a number, or one per column. */
interface CheckedGain {
  vector: Vector;
  spread: 'scalar' | 'column';
  isNumber: boolean;
}

function checkGain(value: unknown, geometry: UnitGeometry, device: CallDevice): CheckedGain {
  if (value === undefined || typeof value === 'number') {
    const gain = checkNumber('gain', value ?? 0.1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
    return { vector: { host: new Float32Array([gain]), tensor: null, shape: [] }, spread: 'scalar', isNumber: true };
  }
  const cols = geometry.unitShape[1];
  const vector = checkVector('gain', value, cols, `one gain per ${geometry.columnName} [${cols}]`, device);
  checkVectorRange('gain', vector, 0, 1);
  return { vector, spread: 'column', isNumber: false };
}

type Prior = { mean: SpreadVector; var: SpreadVector };

function checkPrior(value: unknown, geometry: UnitGeometry, device: CallDevice): Prior | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null) throw typeError('prior', 'an object { mean, var }', value);
  checkKnownKeys('prior', value, ['mean', 'var']);
  const { mean, var: variance } = value as { mean?: unknown; var?: unknown };
  if (mean === undefined) throw typeError('prior.mean', 'a Float32Array or a Tensor', mean);
  if (variance === undefined) throw typeError('prior.var', 'a Float32Array or a Tensor', variance);
  const prior = {
    mean: checkUnitOrColumnVector('prior.mean', mean, geometry.unitShape, geometry.columnName, device),
    var: checkUnitOrColumnVector('prior.var', variance, geometry.unitShape, geometry.columnName, device),
  };
  checkNonNegative('prior.var', prior.var);
  return prior;
}

function checkChannelVector(name: string, value: unknown, channels: number, device: CallDevice): Vector | null {
  if (value === undefined) return null;
  return checkVector(name, value, channels, `one value per channel [${channels}]`, device);
}

/** Everything both modes of the forward pass need, checked. */
interface CheckedForward {
  device: CallDevice;
  eps: number;
  gamma: Vector | null;
  beta: Vector | null;
  residual: Tensor | null;
  relu: boolean;
  /** The caller's out.y, checked (null: allocate one). */
  y: Tensor | null;
}

function checkForwardCommon(x: Tensor, options: NormOptions): CheckedForward {
  checkTensor('x', x);
  const device = new CallDevice(x, options.stream);
  const eps = checkNumber('eps', options.eps ?? 1e-5, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const channels = x.shape[1];
  const gamma = checkChannelVector('gamma', options.gamma, channels, device);
  const beta = checkChannelVector('beta', options.beta, channels, device);
  const residual = options.residual === undefined ? null : checkTensorLike('residual', options.residual, x, 'x');
  const relu = checkOneOf('activation', options.activation ?? 'identity', ['identity', 'relu'] as const) === 'relu';
  const out = options.out ?? {};
  if (typeof out !== 'object' || out === null) throw typeError('out', 'an object', out);
  checkKnownKeys('out', out, ['y', 'mean', 'var', 'saved']);
  let y: Tensor | null = null;
  if (out.y !== undefined) {
    y = checkTensorLike('out.y', out.y, x, 'x');
    if (overlaps(y, x)) throw rangeError('out.y', 'must not share memory with x (the backward pass reads x)');
  }
  if (out.saved !== undefined && !(out.saved instanceof SavedNormalization))
    throw typeError('out.saved', 'the saved state of an earlier call', out.saved);
  return { device, eps, gamma, beta, residual, relu, y };
}

/** Per-unit state buffers: reused from out.saved when it has the right size and device. */
function unitState(units: number, device: CallDevice, reuse: SavedNormalization | undefined): UnitState {
  if (reuse && reuse.units === units && reuse.x.device === device.device) return reuse.state;
  return { observedMean: device.floats(units), observedVar: device.floats(units), posteriorMean: device.floats(units), rstd: device.floats(units) };
}

/** The addon's fields for the forward's common part. */
function commonFields(x: Tensor, common: CheckedForward, y: Tensor, gamma: Memory | null) {
  const device = common.device;
  return {
    ...device.placement(),
    x: x.memory(),
    gamma,
    beta: common.beta && vectorMemory(common.beta, device),
    residual: common.residual?.memory() ?? null,
    relu: common.relu,
    eps: common.eps,
    y: y.memory(),
  };
}

function gainAndPrior(gain: GainValues, prior: SavedNormalization['prior']): NativeGainAndPrior {
  return {
    gain: gain.memory,
    gainSpread: gain.spread,
    priorMean: prior?.mean.memory ?? null,
    priorMeanSpread: prior?.mean.spread ?? null,
    priorVar: prior?.var.memory ?? null,
    priorVarSpread: prior?.var.spread ?? null,
  };
}

/** Channel indices whose flag in `skipped` (1 per channel, see NativeTrainingForward) is set. */
function skippedIndices(skipped: Float32Array): number[] {
  const indices: number[] = [];
  skipped.forEach((flag, channel) => flag !== 0 && indices.push(channel));
  return indices;
}

/** The result object; on CUDA `guardFired` and `skippedChannels` read the device when asked. */
function normResult(y: Tensor, mean: Tensor, variance: Tensor, saved: SavedNormalization, guardFired: boolean, skipped: Memory | null, stream: bigint): NormResult {
  const flag = saved.guardFlag;
  const readSkipped = (): number[] => {
    if (skipped === null) return [];
    if (skipped instanceof Float32Array) return skippedIndices(skipped);
    const host = new Float32Array(skipped.bytes / 4);
    native().copyToHost!(host, skipped, stream);
    return skippedIndices(host);
  };
  if (!flag) return { y, mean, var: variance, guardFired, skippedChannels: readSkipped(), saved };
  return {
    y,
    mean,
    var: variance,
    saved,
    get guardFired() {
      return readFlag(flag, stream);
    },
    get skippedChannels() {
      return readSkipped();
    },
  };
}

/** Training mode: batch statistics, fused with the prior when one is given. */
export function trainingForward(
  geometry: UnitGeometry,
  x: Tensor,
  options: NormOptions,
  running: { mean: Vector; var: Vector; momentum: number } | null,
): NormResult {
  const common = checkForwardCommon(x, options);
  const device = common.device;
  const checkedGain = checkGain(options.gain, geometry, device);
  const checkedPrior = checkPrior(options.prior, geometry, device);
  const guard = checkNumber('guard', options.guard ?? 100, (v) => v > 0, 'a number > 0 (Infinity disables the guard)');
  const guardStatistic = checkOneOf('guardStatistic', options.guardStatistic ?? 'geometric', ['geometric', 'mean'] as const);
  if (running && (running.mean.tensor?.device ?? 'cpu') !== device.device)
    throw rangeError('runningMean', `expected a tensor on x's device '${device.device}'`);
  if (running && (running.var.tensor?.device ?? 'cpu') !== device.device)
    throw rangeError('runningVar', `expected a tensor on x's device '${device.device}'`);
  const units = geometry.unitShape[0] * geometry.unitShape[1];
  const mean = outputVector('out.mean', options.out?.mean, geometry.unitShape, device);
  const variance = outputVector('out.var', options.out?.var, geometry.unitShape, device);
  // Every check has passed: from here on, memory is made and the addon writes.
  const y = common.y ?? device.like(x);
  const state = unitState(units, device, options.out?.saved);
  const gain: GainValues = { memory: vectorMemory(checkedGain.vector, device), spread: checkedGain.spread, shape: checkedGain.vector.shape, isNumber: checkedGain.isNumber };
  const prior = checkedPrior && {
    mean: { ...checkedPrior.mean, memory: vectorMemory(checkedPrior.mean, device) },
    var: { ...checkedPrior.var, memory: vectorMemory(checkedPrior.var, device) },
  };
  const guardFlag = device.guardFlag();
  const skipped = running ? device.floats(geometry.unitShape[1]) : null;
  const gamma = common.gamma && vectorMemory(common.gamma, device);
  const guardFired = native().forwardTraining({
    ...commonFields(x, common, y, gamma),
    shape: geometry.shape,
    ...gainAndPrior(gain, prior),
    guard,
    guardStatistic: GUARD_STATISTIC_CODES[guardStatistic],
    guardFlag,
    posteriorMean: state.posteriorMean,
    posteriorVar: variance.memory(),
    observedMean: state.observedMean,
    observedVar: state.observedVar,
    rstd: state.rstd,
    runningMean: running ? vectorMemory(running.mean, device) : null,
    runningVar: running ? vectorMemory(running.var, device) : null,
    momentum: running?.momentum ?? 0,
    runningSkipped: skipped,
  });
  device.copyFloats(mean.memory(), state.posteriorMean, units);
  const saved = new SavedNormalization(
    geometry.op, geometry.shape, geometry.unitShape, units, x, common.relu ? y : null,
    common.residual !== null, gamma, common.beta !== null, gain, prior,
    prior !== null && !guardFired, guardFlag, false, state,
  );
  return normResult(y, mean, variance, saved, guardFired, skipped, device.stream);
}

/** Inference with fixed statistics, one per column of `geometry` (KN: the running estimates; one unit row). */
export function fixedForward(geometry: UnitGeometry, x: Tensor, options: NormOptions, statistics: { mean: Vector; var: Vector }): NormResult {
  const common = checkForwardCommon(x, options);
  const device = common.device;
  const units = geometry.unitShape[1];
  const mean = outputVector('out.mean', options.out?.mean, [units], device);
  const variance = outputVector('out.var', options.out?.var, [units], device);
  const y = common.y ?? device.like(x);
  const state = unitState(units, device, options.out?.saved);
  const statisticsMean = vectorMemory(statistics.mean, device);
  const statisticsVar = vectorMemory(statistics.var, device);
  const gamma = common.gamma && vectorMemory(common.gamma, device);
  native().forwardFixed({
    ...commonFields(x, common, y, gamma),
    shape: geometry.shape,
    mean: statisticsMean,
    var: statisticsVar,
    rstd: state.rstd,
  });
  for (const target of [state.observedMean, state.posteriorMean, mean.memory()]) device.copyFloats(target, statisticsMean, units);
  for (const target of [state.observedVar, variance.memory()]) device.copyFloats(target, statisticsVar, units);
  const gain: GainValues = { memory: device.upload(new Float32Array([1])), spread: 'scalar', shape: [], isNumber: true };
  const saved = new SavedNormalization(
    geometry.op, geometry.shape, geometry.unitShape, units, x, common.relu ? y : null,
    common.residual !== null, gamma, common.beta !== null, gain, null,
    false, null, true, state,
  );
  return normResult(y, mean, variance, saved, false, null, device.stream);
}

/** The backward pass of either op (KN-SPEC section 2). */
export function normBackward(op: NormOp, dy: unknown, saved: unknown, options: NormBackwardOptions): NormGradients {
  if (!(saved instanceof SavedNormalization)) throw typeError('saved', `the saved state returned by ${op}`, saved);
  if (saved.op !== op) throw rangeError('saved', `produced by ${saved.op}; pass it to ${saved.op}Backward`);
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, ['dMean', 'dVar', 'out', 'stream']);
  const x = saved.x;
  if (x.disposed) throw new Error('saved.x: the tensor has been disposed');
  const device = new CallDevice(x, options.stream);
  checkTensorLike('dy', dy, x, 'x');
  const units = saved.units;
  if (saved.constantStatistics && (options.dMean !== undefined || options.dVar !== undefined))
    throw rangeError(options.dMean !== undefined ? 'dMean' : 'dVar', 'not accepted after an inference-mode forward: its statistics are constants');
  const perUnit = `one value per unit [${saved.unitShape.join(', ')}]`;
  const dMean = options.dMean === undefined ? null : checkVector('dMean', options.dMean, units, perUnit, device);
  const dVar = options.dVar === undefined ? null : checkVector('dVar', options.dVar, units, perUnit, device);
  const out = options.out ?? {};
  if (typeof out !== 'object' || out === null) throw typeError('out', 'an object', out);
  checkKnownKeys('out', out, ['dx', 'dResidual', 'dGamma', 'dBeta', 'dPriorMean', 'dPriorVar', 'dGain']);
  const likeX = (name: string, value: Tensor | undefined): Tensor | undefined =>
    value === undefined ? undefined : checkTensorLike(name, value, x, 'x');
  const channels = x.shape[1];
  const prior = saved.prior;
  const gain = saved.gain;
  const outDx = likeX('out.dx', out.dx);
  const outDResidual = saved.hasResidual ? likeX('out.dResidual', out.dResidual) : undefined;
  const dGamma = saved.gamma ? outputVector('out.dGamma', out.dGamma, [channels], device) : undefined;
  const dBeta = saved.hasBeta ? outputVector('out.dBeta', out.dBeta, [channels], device) : undefined;
  const dPriorMean = prior ? outputVector('out.dPriorMean', out.dPriorMean, prior.mean.shape, device) : undefined;
  const dPriorVar = prior ? outputVector('out.dPriorVar', out.dPriorVar, prior.var.shape, device) : undefined;
  const dGain = prior ? (gain.isNumber ? device.zeros([1]) : outputVector('out.dGain', out.dGain, gain.shape, device)) : undefined;
  // Every check has passed: from here on, memory is made and the addon writes.
  const dx = outDx ?? device.like(x);
  const dResidual = saved.hasResidual ? outDResidual ?? device.like(x) : undefined;
  native().backward({
    ...device.placement(),
    guardFlag: saved.guardFlag,
    shape: saved.shape,
    x: x.memory(),
    dy: (dy as Tensor).memory(),
    reluOutput: saved.reluOutput?.memory() ?? null,
    gamma: saved.gamma,
    ...saved.state,
    ...gainAndPrior(gain, prior),
    fused: saved.fused,
    constantStatistics: saved.constantStatistics,
    dMean: dMean && vectorMemory(dMean, device),
    dVar: dVar && vectorMemory(dVar, device),
    dx: dx.memory(),
    dResidual: dResidual?.memory() ?? null,
    dGamma: dGamma?.memory() ?? null,
    dBeta: dBeta?.memory() ?? null,
    dPriorMean: dPriorMean?.memory() ?? null,
    dPriorVar: dPriorVar?.memory() ?? null,
    dGain: dGain?.memory() ?? null,
  });
  const gradients: NormGradients = { dx };
  if (dGamma) gradients.dGamma = dGamma;
  if (dBeta) gradients.dBeta = dBeta;
  if (dPriorMean) gradients.dPriorMean = dPriorMean;
  if (dPriorVar) gradients.dPriorVar = dPriorVar;
  if (dGain && gain.isNumber) setScalar(gradients, 'dGain', dGain, device);
  else if (dGain) gradients.dGain = dGain;
  if (dResidual) gradients.dResidual = dResidual;
  return gradients;
}

/** Checks the training flag and the top-level option names of a forward call. */
export function checkModeOptions(options: unknown, extraKeys: readonly string[]): boolean {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, [...NORM_OPTION_KEYS, ...extraKeys]);
  return checkBoolean('training', (options as NormOptions).training ?? true);
}
