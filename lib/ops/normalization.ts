// The part of KN and GKN that is the same for both: option checks, the call into the addon, and
// the backward pass. kalman-norm.ts and group-kalman-norm.ts describe their units and call in.
import { NativeGainAndPrior, NativeShape, native } from '../binding';
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
} from './arguments';
import { GainValues, NormOp, SavedNormalization } from './saved-state';

export type Activation = 'identity' | 'relu';

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
  /** Guard threshold tau: when mean(u / (s2 + eps)) >= tau the prior is ignored. Default 100; Infinity disables. */
  guard?: number;
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
}

export interface NormResult {
  /** The normalized output, shaped and laid out like x. */
  y: Tensor;
  /** The posterior mean per unit (KN inference: the running mean per channel). */
  mean: Tensor;
  /** The posterior variance per unit (KN inference: the running variance per channel). */
  var: Tensor;
  /** Whether the guard fired and the prior was ignored for this call. */
  guardFired: boolean;
  /** Pass to the matching backward function. */
  saved: SavedNormalization;
}

export interface NormBackwardOptions {
  /** Gradient with respect to the posterior mean, per unit (from the next layer's transition). */
  dMean?: StatVector;
  /** Gradient with respect to the posterior variance, per unit. */
  dVar?: StatVector;
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
  /** Present when a prior was given, in the gain's own shape: a number for a scalar gain. */
  dGain?: number | Tensor;
  /** Present when a residual was given. */
  dResidual?: Tensor;
}

export const NORM_OPTION_KEYS = ['training', 'eps', 'gain', 'prior', 'guard', 'gamma', 'beta', 'residual', 'activation', 'out'];

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
export function inputDimensions(x: unknown): { data: Float32Array; samples: number; channels: number; spatial: number } {
  const data = checkTensor('x', x);
  const shape = (x as Tensor).shape;
  if (shape.length < 2) throw rangeError('x', `expected shape [N, C, ...spatial], got [${shape.join(', ')}]`);
  return { data, samples: shape[0], channels: shape[1], spatial: shape.slice(2).reduce((a, b) => a * b, 1) };
}

function checkGain(value: unknown, geometry: UnitGeometry): GainValues {
  if (value === undefined || typeof value === 'number') {
    const gain = checkNumber('gain', value ?? 0.1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
    return { data: new Float32Array([gain]), spread: 'scalar', shape: [], isNumber: true };
  }
  const cols = geometry.unitShape[1];
  const vector = checkVector('gain', value, cols, `one gain per ${geometry.columnName} [${cols}]`);
  checkVectorRange('gain', vector, 0, 1);
  return { ...vector, spread: 'column', isNumber: false };
}

function checkPrior(value: unknown, geometry: UnitGeometry): { mean: SpreadVector; var: SpreadVector } | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null) throw typeError('prior', 'an object { mean, var }', value);
  checkKnownKeys('prior', value, ['mean', 'var']);
  const { mean, var: variance } = value as { mean?: unknown; var?: unknown };
  if (mean === undefined) throw typeError('prior.mean', 'a Float32Array or a Tensor', mean);
  if (variance === undefined) throw typeError('prior.var', 'a Float32Array or a Tensor', variance);
  const prior = {
    mean: checkUnitOrColumnVector('prior.mean', mean, geometry.unitShape, geometry.columnName),
    var: checkUnitOrColumnVector('prior.var', variance, geometry.unitShape, geometry.columnName),
  };
  checkNonNegative('prior.var', prior.var);
  return prior;
}

function checkChannelVector(name: string, value: unknown, channels: number): Float32Array | null {
  if (value === undefined) return null;
  return checkVector(name, value, channels, `one value per channel [${channels}]`).data;
}

function gainAndPrior(gain: GainValues, prior: { mean: SpreadVector; var: SpreadVector } | null): NativeGainAndPrior {
  return {
    gain: gain.data,
    gainSpread: gain.spread,
    priorMean: prior?.mean.data ?? null,
    priorMeanSpread: prior?.mean.spread ?? null,
    priorVar: prior?.var.data ?? null,
    priorVarSpread: prior?.var.spread ?? null,
  };
}

/** Everything both modes of the forward pass need, checked. */
interface CheckedForward {
  x: Tensor;
  xData: Float32Array;
  eps: number;
  gamma: Float32Array | null;
  beta: Float32Array | null;
  residual: Float32Array | null;
  relu: boolean;
  y: Tensor;
}

function checkForwardCommon(x: Tensor, options: NormOptions): CheckedForward {
  const xData = checkTensor('x', x);
  const eps = checkNumber('eps', options.eps ?? 1e-5, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const channels = x.shape[1];
  const gamma = checkChannelVector('gamma', options.gamma, channels);
  const beta = checkChannelVector('beta', options.beta, channels);
  const residual = options.residual === undefined ? null : checkTensorLike('residual', options.residual, x, 'x');
  const relu = checkOneOf('activation', options.activation ?? 'identity', ['identity', 'relu'] as const) === 'relu';
  const out = options.out ?? {};
  if (typeof out !== 'object' || out === null) throw typeError('out', 'an object', out);
  checkKnownKeys('out', out, ['y', 'mean', 'var', 'saved']);
  let y: Tensor;
  if (out.y === undefined) {
    y = Tensor.zeros(x.shape, { layout: x.layout, device: x.device });
  } else {
    const yData = checkTensorLike('out.y', out.y, x, 'x');
    if (overlaps(yData, xData)) throw rangeError('out.y', 'must not share memory with x (the backward pass reads x)');
    y = out.y;
  }
  return { x, xData, eps, gamma, beta, residual, relu, y };
}

/** Per-unit state arrays: reused from out.saved when it has the right size. */
function stateArrays(units: number, reuse: unknown): Float32Array[] {
  if (reuse instanceof SavedNormalization && reuse.units === units)
    return [reuse.observedMean, reuse.observedVar, reuse.posteriorMean, reuse.rstd];
  if (reuse !== undefined && !(reuse instanceof SavedNormalization))
    throw typeError('out.saved', 'the saved state of an earlier call', reuse);
  return [0, 1, 2, 3].map(() => new Float32Array(units));
}

/** Training mode: batch statistics, fused with the prior when one is given. */
export function trainingForward(
  geometry: UnitGeometry,
  x: Tensor,
  options: NormOptions,
  running: { mean: Float32Array; var: Float32Array; momentum: number } | null,
): NormResult {
  const common = checkForwardCommon(x, options);
  const gain = checkGain(options.gain, geometry);
  const prior = checkPrior(options.prior, geometry);
  const guard = checkNumber('guard', options.guard ?? 100, (v) => v > 0, 'a number > 0 (Infinity disables the guard)');
  const units = geometry.unitShape[0] * geometry.unitShape[1];
  const mean = outputVector('out.mean', options.out?.mean, geometry.unitShape);
  const variance = outputVector('out.var', options.out?.var, geometry.unitShape);
  const [observedMean, observedVar, posteriorMean, rstd] = stateArrays(units, options.out?.saved);
  const guardFired = native().forwardTraining({
    shape: geometry.shape,
    x: common.xData,
    gamma: common.gamma,
    beta: common.beta,
    residual: common.residual,
    relu: common.relu,
    eps: common.eps,
    ...gainAndPrior(gain, prior),
    guard,
    y: common.y.toArray(),
    posteriorMean,
    posteriorVar: variance.toArray(),
    observedMean,
    observedVar,
    rstd,
    runningMean: running?.mean ?? null,
    runningVar: running?.var ?? null,
    momentum: running?.momentum ?? 0,
  });
  mean.toArray().set(posteriorMean);
  const saved = new SavedNormalization(
    geometry.op, geometry.shape, geometry.unitShape, x, common.relu ? common.y.toArray() : null,
    common.residual !== null, common.gamma, common.beta !== null, gain, prior,
    prior !== null && !guardFired, false, observedMean, observedVar, posteriorMean, rstd,
  );
  return { y: common.y, mean, var: variance, guardFired, saved };
}

/** Inference with fixed statistics, one per column of `geometry` (KN: the running estimates; one unit row). */
export function fixedForward(geometry: UnitGeometry, x: Tensor, options: NormOptions, statistics: { mean: Vector; var: Vector }): NormResult {
  const common = checkForwardCommon(x, options);
  const units = geometry.unitShape[1];
  const mean = outputVector('out.mean', options.out?.mean, [units]);
  const variance = outputVector('out.var', options.out?.var, [units]);
  const [observedMean, observedVar, posteriorMean, rstd] = stateArrays(units, options.out?.saved);
  native().forwardFixed({
    shape: geometry.shape,
    x: common.xData,
    gamma: common.gamma,
    beta: common.beta,
    residual: common.residual,
    relu: common.relu,
    eps: common.eps,
    mean: statistics.mean.data,
    var: statistics.var.data,
    y: common.y.toArray(),
    rstd,
  });
  for (const state of [observedMean, posteriorMean, mean.toArray()]) state.set(statistics.mean.data);
  for (const state of [observedVar, variance.toArray()]) state.set(statistics.var.data);
  const gain: GainValues = { data: new Float32Array([1]), spread: 'scalar', shape: [], isNumber: true };
  const saved = new SavedNormalization(
    geometry.op, geometry.shape, geometry.unitShape, x, common.relu ? common.y.toArray() : null,
    common.residual !== null, common.gamma, common.beta !== null, gain, null,
    false, true, observedMean, observedVar, posteriorMean, rstd,
  );
  return { y: common.y, mean, var: variance, guardFired: false, saved };
}

/** The backward pass of either op (KN-SPEC section 2). */
export function normBackward(op: NormOp, dy: unknown, saved: unknown, options: NormBackwardOptions): NormGradients {
  if (!(saved instanceof SavedNormalization)) throw typeError('saved', `the saved state returned by ${op}`, saved);
  if (saved.op !== op) throw rangeError('saved', `produced by ${saved.op}; pass it to ${saved.op}Backward`);
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, ['dMean', 'dVar', 'out']);
  const x = saved.x;
  const xData = checkTensor('saved.x', x);
  const dyData = checkTensorLike('dy', dy, x, 'x');
  const units = saved.units;
  if (saved.constantStatistics && (options.dMean !== undefined || options.dVar !== undefined))
    throw rangeError(options.dMean !== undefined ? 'dMean' : 'dVar', 'not accepted after an inference-mode forward: its statistics are constants');
  const dMean = options.dMean === undefined ? null : checkVector('dMean', options.dMean, units, `one value per unit [${saved.unitShape.join(', ')}]`).data;
  const dVar = options.dVar === undefined ? null : checkVector('dVar', options.dVar, units, `one value per unit [${saved.unitShape.join(', ')}]`).data;
  const out = options.out ?? {};
  if (typeof out !== 'object' || out === null) throw typeError('out', 'an object', out);
  checkKnownKeys('out', out, ['dx', 'dResidual', 'dGamma', 'dBeta', 'dPriorMean', 'dPriorVar', 'dGain']);
  const like = (name: string, value: Tensor | undefined): Tensor => {
    if (value === undefined) return Tensor.zeros(x.shape, { layout: x.layout, device: x.device });
    checkTensorLike(name, value, x, 'x');
    return value;
  };
  const channels = x.shape[1];
  const dx = like('out.dx', out.dx);
  const dResidual = saved.hasResidual ? like('out.dResidual', out.dResidual) : undefined;
  const dGamma = saved.gamma ? outputVector('out.dGamma', out.dGamma, [channels]) : undefined;
  const dBeta = saved.hasBeta ? outputVector('out.dBeta', out.dBeta, [channels]) : undefined;
  const prior = saved.prior;
  const dPriorMean = prior ? outputVector('out.dPriorMean', out.dPriorMean, prior.mean.shape) : undefined;
  const dPriorVar = prior ? outputVector('out.dPriorVar', out.dPriorVar, prior.var.shape) : undefined;
  const gain = saved.gain;
  const dGain = prior ? (gain.isNumber ? Tensor.zeros([1]) : outputVector('out.dGain', out.dGain, gain.shape)) : undefined;
  native().backward({
    shape: saved.shape,
    x: xData,
    dy: dyData,
    reluOutput: saved.reluOutput,
    gamma: saved.gamma,
    observedMean: saved.observedMean,
    observedVar: saved.observedVar,
    posteriorMean: saved.posteriorMean,
    rstd: saved.rstd,
    ...gainAndPrior(gain, prior),
    fused: saved.fused,
    constantStatistics: saved.constantStatistics,
    dMean,
    dVar,
    dx: dx.toArray(),
    dResidual: dResidual?.toArray() ?? null,
    dGamma: dGamma?.toArray() ?? null,
    dBeta: dBeta?.toArray() ?? null,
    dPriorMean: dPriorMean?.toArray() ?? null,
    dPriorVar: dPriorVar?.toArray() ?? null,
    dGain: dGain?.toArray() ?? null,
  });
  const gradients: NormGradients = { dx };
  if (dGamma) gradients.dGamma = dGamma;
  if (dBeta) gradients.dBeta = dBeta;
  if (dPriorMean) gradients.dPriorMean = dPriorMean;
  if (dPriorVar) gradients.dPriorVar = dPriorVar;
  if (dGain) gradients.dGain = gain.isNumber ? dGain.toArray()[0] : dGain;
  if (dResidual) gradients.dResidual = dResidual;
  return gradients;
}

/** Checks the training flag and the top-level option names of a forward call. */
export function checkModeOptions(options: unknown, extraKeys: readonly string[]): boolean {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, [...NORM_OPTION_KEYS, ...extraKeys]);
  return checkBoolean('training', (options as NormOptions).training ?? true);
}
