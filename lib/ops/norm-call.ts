// Parsing one KN/GKN forward call: every option checked once, in every mode, into a plain
// NormCall. Pure and allocation-free (nothing is uploaded or allocated here; norm-run.ts does
// that), so a bad argument throws before any memory is made. kalman-norm.ts and
// group-kalman-norm.ts say how x maps onto units and call parseNormCall.
import { LAYOUT_CODE, NativeShape } from '../binding';
import { checkBoolean, checkKnownKeys, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import {
  SpreadVector,
  Vector,
  checkActivation,
  checkEps,
  checkGuard,
  checkGuardStatistic,
  checkNonNegative,
  checkOutput,
  checkScalarGain,
  checkTensor,
  checkTensorLike,
  checkUnitOrColumnVector,
  checkVector,
  checkVectorRange,
  overlaps,
} from './arguments';
import type { Communicator } from '../distributed/communicator';
import { CallDevice } from './call-device';
import { GuardStatistic, NormBackwardOptions, NormOptions } from './normalization';
import { NormOp, SavedNormalization } from './saved-state';

const NORM_OPTION_KEYS = ['training', 'eps', 'gain', 'prior', 'guard', 'guardStatistic', 'gamma', 'beta', 'residual', 'activation', 'out', 'stream'];

/** An op's known option names: the shared ones, then its own. Made once per op, at load. */
export function normOptionKeys(opKeys: readonly string[]): readonly string[] {
  return [...NORM_OPTION_KEYS, ...opKeys];
}

// Key lists of the nested and backward options, made once (every call checks them).
const PRIOR_KEYS = ['mean', 'var'];
const OUT_KEYS = ['y', 'mean', 'var', 'saved'];
const BACKWARD_KEYS = ['dMean', 'dVar', 'out', 'stream'];
const BACKWARD_OUT_KEYS = ['dx', 'dResidual', 'dGamma', 'dBeta', 'dPriorMean', 'dPriorVar', 'dGain'];

/** x's dimensions: [N, C, ...spatial] with S = product of the spatial sizes. */
export interface Dimensions {
  samples: number;
  channels: number;
  spatial: number;
}

/** How one op maps x onto statistic units. */
export interface UnitGeometry {
  shape: NativeShape;
  /** [rows, cols]: [B, C] for KN, [N, G] for GKN, [1, C] for KN inference. */
  unitShape: readonly [number, number];
  /** What a column is called in messages: 'channel' or 'group'. */
  columnName: string;
}

/** The gain: one number (its gradient comes back as a number) or one value per column. */
export interface Gain {
  vector: Vector;
  spread: 'scalar' | 'column';
}

export interface Prior {
  mean: SpreadVector;
  var: SpreadVector;
}

/** KN's per-channel running estimates: updated by a training call, the statistics of an inference call. */
export interface RunningEstimates {
  mean: Vector;
  var: Vector;
  momentum: number;
}

/** One forward call, checked. */
export interface NormCall {
  op: NormOp;
  x: Tensor;
  device: CallDevice;
  /** 'training': batch statistics, fused with the prior when given; 'fixed': the running estimates (KN inference). */
  mode: 'training' | 'fixed';
  /** The units of this call's mode. */
  geometry: UnitGeometry;
  eps: number;
  gamma: Vector | null;
  beta: Vector | null;
  residual: Tensor | null;
  relu: boolean;
  gain: Gain;
  prior: Prior | null;
  guard: number;
  guardStatistic: GuardStatistic;
  running: RunningEstimates | null;
  /** KN: the processes whose statistics the call merges (KN-SPEC 3d); null: this process's alone. */
  sync: Communicator | null;
  /** The caller's outputs (null: allocate one) and the saved state to reuse. */
  out: { y: Tensor | null; mean: Tensor | null; var: Tensor | null; saved: SavedNormalization | null };
}

/** What an op contributes to its call: its device, its units in training and in the call's mode, and KN's running estimates. */
export interface OpUnits {
  /** x's device with the stream option checked (made once per call: KN's running estimates need it first). */
  device: CallDevice;
  training: UnitGeometry;
  active: UnitGeometry;
  mode: NormCall['mode'];
  running: RunningEstimates | null;
  sync: Communicator | null;
}

/** The options object, its keys (`knownKeys`: normOptionKeys of the op), x and the training flag: what every op checks first. */
export function parseModeAndInput(x: unknown, options: unknown, knownKeys: readonly string[]): { x: Tensor; dimensions: Dimensions; training: boolean } {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, knownKeys);
  const training = checkBoolean('training', (options as NormOptions).training ?? true);
  const tensor = checkTensor('x', x);
  const shape = tensor.shape;
  if (shape.length < 2) throw rangeError('x', `expected shape [N, C, ...spatial], got [${shape.join(', ')}]`);
  let spatial = 1;
  for (let i = 2; i < shape.length; ++i) spatial *= shape[i];
  return { x: tensor, dimensions: { samples: shape[0], channels: shape[1], spatial }, training };
}

/** A unit geometry of x: units of `samplesPerUnit` samples by `channelsPerUnit` channels. */
export function unitGeometry(x: Tensor, dimensions: Dimensions, samplesPerUnit: number, channelsPerUnit: number, columnName: string): UnitGeometry {
  const { samples, channels, spatial } = dimensions;
  return {
    shape: { samples, channels, spatial, layout: LAYOUT_CODE[x.layout], samplesPerUnit, channelsPerUnit },
    unitShape: [samples / samplesPerUnit, channels / channelsPerUnit],
    columnName,
  };
}

function parseGain(value: unknown, geometry: UnitGeometry, device: CallDevice): Gain {
  if (value === undefined || typeof value === 'number') {
    const gain = checkScalarGain(value ?? 0.1);
    return { vector: { host: new Float32Array([gain]), tensor: null, shape: [] }, spread: 'scalar' };
  }
  const cols = geometry.unitShape[1];
  const vector = checkVector('gain', value, cols, () => `one gain per ${geometry.columnName} [${cols}]`, device);
  checkVectorRange('gain', vector, 0, 1);
  return { vector, spread: 'column' };
}

function parsePrior(value: unknown, geometry: UnitGeometry, device: CallDevice): Prior | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null) throw typeError('prior', 'an object { mean, var }', value);
  checkKnownKeys('prior', value, PRIOR_KEYS);
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

function parseChannelVector(name: string, value: unknown, channels: number, device: CallDevice): Vector | null {
  if (value === undefined) return null;
  return checkVector(name, value, channels, () => `one value per channel [${channels}]`, device);
}

function parseOutputs(value: unknown, x: Tensor, geometry: UnitGeometry, mode: NormCall['mode'], device: CallDevice): NormCall['out'] {
  const out = value ?? {};
  if (typeof out !== 'object' || out === null) throw typeError('out', 'an object', out);
  checkKnownKeys('out', out, OUT_KEYS);
  // Each property read once (a caller's object built with a leading spread gets a new hidden
  // class on every call in V8, and then every read misses its cache).
  const given = out as { y?: unknown; mean?: unknown; var?: unknown; saved?: unknown };
  const givenY = given.y;
  const saved = given.saved;
  let y: Tensor | null = null;
  if (givenY !== undefined) {
    y = checkTensorLike('out.y', givenY, x, 'x');
    if (overlaps(y, x)) throw rangeError('out.y', 'must not share memory with x (the backward pass reads x)');
  }
  if (saved !== undefined && !(saved instanceof SavedNormalization)) throw typeError('out.saved', 'the saved state of an earlier call', saved);
  const perUnit = mode === 'fixed' ? [geometry.unitShape[1]] : geometry.unitShape;
  return {
    y,
    mean: checkOutput('out.mean', given.mean, perUnit, device),
    var: checkOutput('out.var', given.var, perUnit, device),
    saved: saved ?? null,
  };
}

function parseResidual(value: unknown, x: Tensor): Tensor | null {
  return value === undefined ? null : checkTensorLike('residual', value, x, 'x');
}

/** Every option of a forward call, checked against the op's units (options.stream was checked into units.device). */
export function parseNormCall(op: NormOp, x: Tensor, options: NormOptions, units: OpUnits): NormCall {
  const device = units.device;
  const channels = x.shape[1];
  return {
    op,
    x,
    device,
    mode: units.mode,
    geometry: units.active,
    eps: checkEps(options.eps ?? 1e-5),
    gamma: parseChannelVector('gamma', options.gamma, channels, device),
    beta: parseChannelVector('beta', options.beta, channels, device),
    residual: parseResidual(options.residual, x),
    relu: checkActivation(options.activation ?? 'identity') === 'relu',
    gain: parseGain(options.gain, units.training, device),
    prior: parsePrior(options.prior, units.training, device),
    guard: checkGuard(options.guard ?? 100),
    guardStatistic: checkGuardStatistic(options.guardStatistic ?? 'geometric'),
    running: units.running,
    sync: units.sync,
    out: parseOutputs(options.out, x, units.active, units.mode, device),
  };
}

/** One backward call, checked. */
export interface NormBackwardCall {
  saved: SavedNormalization;
  dy: Tensor;
  dMean: Vector | null;
  dVar: Vector | null;
  device: CallDevice;
  /** The caller's outputs (null: allocate one). */
  out: { dx: Tensor | null; dResidual: Tensor | null; dGamma: Tensor | null; dBeta: Tensor | null; dPriorMean: Tensor | null; dPriorVar: Tensor | null; dGain: Tensor | null };
}

/** Every argument of a backward call, checked against the forward call that returned `saved`. */
export function parseNormBackwardCall(op: NormOp, dy: unknown, saved: unknown, options: unknown): NormBackwardCall {
  if (!(saved instanceof SavedNormalization)) throw typeError('saved', `the saved state returned by ${op}`, saved);
  if (saved.call.op !== op) throw rangeError('saved', `produced by ${saved.call.op}; pass it to ${saved.call.op}Backward`);
  if (saved.reused)
    throw new Error('saved: reused as out.saved by a later forward call, which overwrote its state; pass that call\'s saved to the backward');
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, BACKWARD_KEYS);
  const given = options as NormBackwardOptions;
  const forward = saved.call;
  const x = forward.x;
  if (x.disposed) throw new Error('saved.x: the tensor has been disposed');
  const device = new CallDevice(x, given.stream);
  const dyTensor = checkTensorLike('dy', dy, x, 'x');
  const constant = forward.mode === 'fixed';
  const dMean = given.dMean;
  const dVar = given.dVar;
  if (constant && (dMean !== undefined || dVar !== undefined))
    throw rangeError(dMean !== undefined ? 'dMean' : 'dVar', 'not accepted after an inference-mode forward: its statistics are constants');
  const units = saved.units;
  const out = given.out ?? {};
  if (typeof out !== 'object' || out === null) throw typeError('out', 'an object', out);
  checkKnownKeys('out', out, BACKWARD_OUT_KEYS);
  const channels = [x.shape[1]];
  const prior = constant ? null : forward.prior;
  return {
    saved,
    dy: dyTensor,
    dMean: dMean === undefined ? null : checkVector('dMean', dMean, units, () => perUnit(forward.geometry), device),
    dVar: dVar === undefined ? null : checkVector('dVar', dVar, units, () => perUnit(forward.geometry), device),
    device,
    out: {
      dx: likeX('out.dx', out.dx, x),
      dResidual: forward.residual ? likeX('out.dResidual', out.dResidual, x) : null,
      dGamma: forward.gamma ? checkOutput('out.dGamma', out.dGamma, channels, device) : null,
      dBeta: forward.beta ? checkOutput('out.dBeta', out.dBeta, channels, device) : null,
      dPriorMean: prior ? checkOutput('out.dPriorMean', out.dPriorMean, prior.mean.shape, device) : null,
      dPriorVar: prior ? checkOutput('out.dPriorVar', out.dPriorVar, prior.var.shape, device) : null,
      dGain: prior && forward.gain.spread === 'column' ? checkOutput('out.dGain', out.dGain, forward.gain.vector.shape, device) : null,
    },
  };
}

/** What dMean and dVar hold, for their message. */
function perUnit(geometry: UnitGeometry): string {
  return `one value per unit [${geometry.unitShape.join(', ')}]`;
}

/** A backward output shaped like x, checked; null when not given. */
function likeX(name: string, value: unknown, x: Tensor): Tensor | null {
  return value === undefined ? null : checkTensorLike(name, value, x, 'x');
}
