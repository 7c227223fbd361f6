// The transition ops (KN-SPEC section 3): they carry statistic rows [R, C] (R = ghost batches for
// KN, samples for GKN; C = channels or groups) from one layer's posterior to the next layer's
// prior, each with its exact backward. The per-element math is csrc/common/transition_math.h,
// csrc/common/pool_math.h and csrc/common/group_math.h, run on the rows' device.
import { Memory, SPREAD_CODE, native } from '../binding';
import { checkKnownKeys, checkNumber, checkPositiveInteger, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { StatVector, Vector, checkEps, checkNonNegative, checkTensor, checkVector, vectorMemory } from './arguments';
import { CallDevice, setScalar } from './call-device';

/** Means and variances of statistic rows, both [R, C] float32 tensors on one device. */
export interface MomentRows {
  mean: Tensor;
  var: Tensor;
}

/** [rows, columns] of a rank-2 float32 tensor. */
export function matrix(name: string, value: unknown, device?: CallDevice): [number, number] {
  const tensor = checkTensor(name, value);
  if (tensor.shape.length !== 2) throw rangeError(name, `expected a matrix [rows, columns], got shape [${tensor.shape.join(', ')}]`);
  if (tensor.dtype !== 'float32') throw rangeError(name, `expected float32, got '${tensor.dtype}'`);
  if (device && tensor.device !== device.device) throw rangeError(name, `expected a tensor on '${device.device}', got '${tensor.device}'`);
  return [tensor.shape[0], tensor.shape[1]];
}

export function sameShape(name: string, value: unknown, shape: readonly number[], device: CallDevice): Tensor {
  const [rows, columns] = matrix(name, value, device);
  if (rows !== shape[0] || columns !== shape[1]) throw rangeError(name, `expected shape [${shape.join(', ')}], got [${rows}, ${columns}]`);
  return value as Tensor;
}

type CheckedRows = { rows: MomentRows; shape: [number, number]; device: CallDevice };

/** Rejects negative variances in a CPU tensor (a device tensor's values are not read; NaN is data). */
function checkVarianceRows(name: string, variance: Tensor): void {
  checkNonNegative(name, { host: variance.device === 'cpu' ? variance.toArray() : null, tensor: variance, shape: variance.shape });
}

/** Two same-shaped matrices on one device, named as the caller's arguments are. */
function meanAndVariance(mean: unknown, variance: unknown, meanName: string, varianceName: string): CheckedRows {
  const shape = matrix(meanName, mean);
  const device = new CallDevice(mean as Tensor, undefined);
  sameShape(varianceName, variance, shape, device);
  checkVarianceRows(varianceName, variance as Tensor);
  return { rows: { mean: mean as Tensor, var: variance as Tensor }, shape, device };
}

/** A moments pair given as an object { mean, var }. */
function momentRows(name: string, value: unknown): CheckedRows {
  if (typeof value !== 'object' || value === null) throw typeError(name, 'an object { mean, var }', value);
  const { mean, var: variance } = value as Partial<MomentRows>;
  return meanAndVariance(mean, variance, `${name}.mean`, `${name}.var`);
}

/** An optional incoming gradient shaped like an output. */
export function gradient(name: string, value: unknown, shape: readonly number[], device: CallDevice): Memory | null {
  if (value === null || value === undefined) return null;
  return sameShape(name, value, shape, device).memory();
}

/** A noise (>= 0): a number or one per column. */
export interface Noise {
  vector: Vector;
  spread: 'scalar' | 'column';
}

export function checkNoise(value: unknown, columns: number, device: CallDevice): Noise | null {
  if (value === undefined) return null;
  if (typeof value === 'number') {
    checkNumber('noise', value, (v) => v >= 0, 'a number >= 0');
    return { vector: { host: new Float32Array([value]), tensor: null, shape: [] }, spread: 'scalar' };
  }
  const vector = checkVector('noise', value, columns, `one value per column [${columns}]`, device);
  checkNonNegative('noise', vector);
  return { vector, spread: 'column' };
}

// ---- affine -------------------------------------------------------------------------------

class AffineSaved {
  constructor(
    readonly device: CallDevice,
    readonly input: MomentRows,
    readonly weight: Tensor,
    readonly weightSq: Tensor | null,
    readonly hasBias: boolean,
    readonly noise: Noise | null,
  ) {}
}

export interface AffineOptions {
  /** A [Cout, Cin]: mean' = A mean + bias. */
  weight: Tensor;
  /** A2 [Cout, Cin]: var' = A2 var + noise. Default: A o A (its gradient then flows into A). */
  weightSq?: Tensor;
  bias?: StatVector;
  /** Process noise r >= 0: a number or one per output column. */
  noise?: number | StatVector;
}

/** mean' = weight . mean + bias, var' = weightSq . var + noise, row by row: [R, Cin] -> [R, Cout]. */
export function affineMoments(mean: Tensor, variance: Tensor, options: AffineOptions) {
  const { rows: input, shape, device } = meanAndVariance(mean, variance, 'mean', 'variance');
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object { weight, ... }', options);
  const [outputs, inputs] = matrix('weight', options.weight, device);
  if (inputs !== shape[1]) throw rangeError('weight', `expected [Cout, ${shape[1]}] (Cin = the rows' columns), got [${outputs}, ${inputs}]`);
  const weightSq = options.weightSq === undefined ? null : sameShape('weightSq', options.weightSq, [outputs, inputs], device);
  const bias = options.bias === undefined ? null : checkVector('bias', options.bias, outputs, `one value per output [${outputs}]`, device);
  const noise = checkNoise(options.noise, outputs, device);
  const out = { mean: device.zeros([shape[0], outputs]), var: device.zeros([shape[0], outputs]) };
  native().affineMoments({
    where: device.placement(),
    rows: shape[0], inputs, outputs,
    mean: input.mean.memory(), var: input.var.memory(),
    weight: options.weight.memory(), weightSq: weightSq?.memory() ?? null,
    bias: bias && vectorMemory(bias, device),
    noise: noise && vectorMemory(noise.vector, device), noiseSpread: noise ? SPREAD_CODE[noise.spread] : null,
    outMean: out.mean.memory(), outVar: out.var.memory(),
  });
  return { ...out, saved: new AffineSaved(device, input, options.weight, weightSq, bias !== null, noise) };
}

export interface AffineGradients {
  dMean: Tensor;
  dVar: Tensor;
  dWeight: Tensor;
  /** When weightSq was given. */
  dWeightSq?: Tensor;
  /** When a bias was given. */
  dBias?: Tensor;
  /** When a noise was given: a number for a number. */
  dNoise?: number | Tensor;
}

export function affineMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): AffineGradients {
  if (!(saved instanceof AffineSaved)) throw typeError('saved', 'the saved state returned by affineMoments', saved);
  const { device, input, weight, weightSq, noise } = saved;
  const [rows, inputs] = input.mean.shape;
  const outputs = weight.shape[0];
  const incomingMean = gradient('dMean', dMean, [rows, outputs], device);
  const incomingVar = gradient('dVar', dVar, [rows, outputs], device);
  const result: AffineGradients = {
    dMean: device.zeros([rows, inputs]),
    dVar: device.zeros([rows, inputs]),
    dWeight: device.zeros([outputs, inputs]),
  };
  if (weightSq) result.dWeightSq = device.zeros([outputs, inputs]);
  if (saved.hasBias) result.dBias = device.zeros([outputs]);
  const dNoise = noise ? device.zeros(noise.spread === 'scalar' ? [1] : [outputs]) : null;
  native().affineMomentsBackward({
    where: device.placement(),
    rows, inputs, outputs,
    mean: input.mean.memory(), var: input.var.memory(),
    weight: weight.memory(), weightSq: weightSq?.memory() ?? null,
    dMeanOut: incomingMean, dVarOut: incomingVar,
    dMean: result.dMean.memory(), dVar: result.dVar.memory(), dWeight: result.dWeight.memory(),
    dWeightSq: result.dWeightSq?.memory() ?? null, dBias: result.dBias?.memory() ?? null,
    dNoise: dNoise?.memory() ?? null, dNoiseSpread: noise ? SPREAD_CODE[noise.spread] : null,
  });
  if (dNoise && noise?.spread === 'scalar') setScalar(result, 'dNoise', dNoise, device);
  else if (dNoise) result.dNoise = dNoise;
  return result;
}

// ---- convolution ------------------------------------------------------------------------------

/** The affine transition of a convolution kernel [Cout, Cin, kh, kw]: sums over its taps. */
export function convTransition(kernel: Tensor): { weight: Tensor; weightSq: Tensor } {
  const tensor = checkTensor('kernel', kernel);
  if (tensor.shape.length < 2) throw rangeError('kernel', `expected [Cout, Cin, ...taps], got [${tensor.shape.join(', ')}]`);
  const device = new CallDevice(tensor, undefined);
  const [outputs, inputs] = tensor.shape;
  const taps = tensor.size / (outputs * inputs);
  const weight = device.zeros([outputs, inputs]);
  const weightSq = device.zeros([outputs, inputs]);
  native().convTransition({ where: device.placement(), pairs: outputs * inputs, taps, kernel: tensor.memory(), weight: weight.memory(), weightSq: weightSq.memory() });
  return { weight, weightSq };
}

/** Maps the gradients of convTransition's weight and weightSq onto the kernel. */
export function convTransitionBackward(dWeight: Tensor | null, dWeightSq: Tensor | null, kernel: Tensor): Tensor {
  const tensor = checkTensor('kernel', kernel);
  const device = new CallDevice(tensor, undefined);
  const [outputs, inputs] = tensor.shape;
  const dKernel = Tensor.zeros(tensor.shape, { device: tensor.device });
  native().convTransitionBackward({
    where: device.placement(), pairs: outputs * inputs, taps: tensor.size / (outputs * inputs), kernel: tensor.memory(),
    dWeight: gradient('dWeight', dWeight, [outputs, inputs], device),
    dWeightSq: gradient('dWeightSq', dWeightSq, [outputs, inputs], device),
    dKernel: dKernel.memory(),
  });
  return dKernel;
}

// ---- relu ---------------------------------------------------------------------------------------

/** An elementwise op's four local derivatives dmean/dm, dmean/du, dvar/dm, dvar/du, for chainRule. */
class LocalDerivatives {
  constructor(readonly device: CallDevice, readonly shape: [number, number], readonly derivatives: Tensor[]) {}
}

class ReluSaved extends LocalDerivatives {}

/** The Gaussian moments of max(0, z), z ~ N(mean, var), elementwise. */
export function reluMoments(mean: Tensor, variance: Tensor) {
  const { rows, shape, device } = meanAndVariance(mean, variance, 'mean', 'variance');
  const out = { mean: device.zeros(shape), var: device.zeros(shape) };
  const derivatives = [0, 1, 2, 3].map(() => device.zeros(shape));
  const [dmeanDm, dmeanDu, dvarDm, dvarDu] = derivatives.map((t) => t.memory());
  native().reluMoments({
    where: device.placement(), count: shape[0] * shape[1], mean: rows.mean.memory(), var: rows.var.memory(),
    outMean: out.mean.memory(), outVar: out.var.memory(), dmeanDm, dmeanDu, dvarDm, dvarDu,
  });
  return { ...out, saved: new ReluSaved(device, shape, derivatives) };
}

export function reluMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): MomentRowsGradient {
  if (!(saved instanceof ReluSaved)) throw typeError('saved', 'the saved state returned by reluMoments', saved);
  return chainRule(dMean, dVar, saved);
}

/** dm = dMean dmean/dm + dVar dvar/dm, du = dMean dmean/du + dVar dvar/du through saved local derivatives. */
function chainRule(dMean: Tensor | null, dVar: Tensor | null, saved: LocalDerivatives): MomentRowsGradient {
  const { device, shape, derivatives } = saved;
  const result = { dMean: device.zeros(shape), dVar: device.zeros(shape) };
  const [dmeanDm, dmeanDu, dvarDm, dvarDu] = derivatives.map((t) => t.memory());
  native().localChain({
    where: device.placement(), count: shape[0] * shape[1],
    dMeanOut: gradient('dMean', dMean, shape, device), dVarOut: gradient('dVar', dVar, shape, device),
    dmeanDm, dmeanDu, dvarDm, dvarDu, dMean: result.dMean.memory(), dVar: result.dVar.memory(),
  });
  return result;
}

// ---- pooling (KN-SPEC 3c) -------------------------------------------------------------------------

/**
 * The default tap correlation. With independent inputs, two neighbours in a 2x2 window after a
 * 3x3 stride-1 convolution share 6/9 (side) or 4/9 (diagonal) of their inputs, about 0.6 on
 * average, before the image's own smoothness adds to it and a relu lowers it (docs/LINKED-LAYERS.md).
 */
export const DEFAULT_TAP_CORRELATION = 0.5;
/** The most taps a window may have (the max pool's recursion runs over them, once per call). */
export const MAX_POOL_TAPS = 1 << 20;

export interface PoolOptions {
  /** The activations in one window: 4 for a 2x2 pool. */
  taps: number;
  /** The pairwise correlation of a window's activations, in [0, 1]; default DEFAULT_TAP_CORRELATION. */
  correlation?: number;
}

/** A checked pool window, parsed once and passed on unchanged. */
export interface PoolWindow {
  readonly taps: number;
  readonly correlation: number;
}

export function poolWindow(options: unknown): PoolWindow {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object { taps, correlation? }', options);
  checkKnownKeys('options', options, ['taps', 'correlation']);
  const { taps, correlation = DEFAULT_TAP_CORRELATION } = options as Partial<PoolOptions>;
  return {
    taps: checkNumber('taps', taps, (v) => Number.isInteger(v) && v >= 1 && v <= MAX_POOL_TAPS, `a positive integer up to ${MAX_POOL_TAPS}`),
    correlation: checkNumber('correlation', correlation, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
  };
}

class AvgPoolSaved {
  constructor(readonly device: CallDevice, readonly shape: [number, number], readonly window: PoolWindow) {}
}

function avgPoolCall(device: CallDevice, shape: [number, number], window: PoolWindow, mean: Memory | null, variance: Memory | null) {
  const out = { mean: device.zeros(shape), var: device.zeros(shape) };
  native().avgPoolMoments({
    where: device.placement(), count: shape[0] * shape[1], ...window,
    mean, var: variance, outMean: out.mean.memory(), outVar: out.var.memory(),
  });
  return out;
}

/** The average of `taps` activations N(mean, var) with pairwise correlation rho: var (1 + (taps - 1) rho) / taps. */
export function avgPoolMoments(mean: Tensor, variance: Tensor, options: PoolOptions) {
  const { rows, shape, device } = meanAndVariance(mean, variance, 'mean', 'variance');
  const window = poolWindow(options);
  const out = avgPoolCall(device, shape, window, rows.mean.memory(), rows.var.memory());
  return { ...out, saved: new AvgPoolSaved(device, shape, window) };
}

export function avgPoolMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): MomentRowsGradient {
  if (!(saved instanceof AvgPoolSaved)) throw typeError('saved', 'the saved state returned by avgPoolMoments', saved);
  const { device, shape, window } = saved;
  const out = avgPoolCall(device, shape, window, gradient('dMean', dMean, shape, device), gradient('dVar', dVar, shape, device));
  return { dMean: out.mean, dVar: out.var };
}

class MaxPoolSaved extends LocalDerivatives {}

/** The max of `taps` activations N(mean, var) with pairwise correlation rho, by Clark's (1961) recursion. */
export function maxPoolMoments(mean: Tensor, variance: Tensor, options: PoolOptions) {
  const { rows, shape, device } = meanAndVariance(mean, variance, 'mean', 'variance');
  const window = poolWindow(options);
  const out = { mean: device.zeros(shape), var: device.zeros(shape) };
  const derivatives = [0, 1, 2, 3].map(() => device.zeros(shape));
  const [dmeanDm, dmeanDu, dvarDm, dvarDu] = derivatives.map((t) => t.memory());
  native().maxPoolMoments({
    where: device.placement(), count: shape[0] * shape[1], ...window, mean: rows.mean.memory(), var: rows.var.memory(),
    outMean: out.mean.memory(), outVar: out.var.memory(), dmeanDm, dmeanDu, dvarDm, dvarDu,
  });
  return { ...out, saved: new MaxPoolSaved(device, shape, derivatives) };
}

export function maxPoolMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): MomentRowsGradient {
  if (!(saved instanceof MaxPoolSaved)) throw typeError('saved', 'the saved state returned by maxPoolMoments', saved);
  return chainRule(dMean, dVar, saved);
}

// ---- groups: per-channel rows to GKN units -------------------------------------------------------

export interface GroupOptions {
  /** G: the columns (channels) split into G groups of consecutive channels, as a GKN layer's. */
  groups: number;
}

/** A checked group count, parsed once and passed on unchanged. */
export function groupCount(options: unknown): number {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object { groups }', options);
  checkKnownKeys('options', options, ['groups']);
  return checkPositiveInteger('groups', (options as Partial<GroupOptions>).groups);
}

class GroupSaved {
  constructor(readonly device: CallDevice, readonly input: MomentRows, readonly shape: [number, number], readonly groups: number) {}
}

/**
 * The moments of one GKN unit (a sample's values in one group of C / G channels) from per-channel
 * rows [R, C]: m_g = mean_c m_c, u_g = mean_c u_c + mean_c (m_c - m_g)^2 (the group is an equal
 * mixture of its channels, so the spread of their means counts): [R, C] -> [R, G].
 */
export function groupMoments(mean: Tensor, variance: Tensor, options: GroupOptions) {
  const { rows, shape, device } = meanAndVariance(mean, variance, 'mean', 'variance');
  const groups = groupCount(options);
  if (shape[1] % groups !== 0) throw rangeError('groups', `must divide the rows' columns C = ${shape[1]}, got ${groups}`);
  const out = { mean: device.zeros([shape[0], groups]), var: device.zeros([shape[0], groups]) };
  native().groupMoments({
    where: device.placement(), rows: shape[0], channels: shape[1], groups,
    mean: rows.mean.memory(), var: rows.var.memory(), outMean: out.mean.memory(), outVar: out.var.memory(),
  });
  return { ...out, saved: new GroupSaved(device, rows, shape, groups) };
}

/** dm_c = (dm_g + 2 du_g (m_c - m_g)) / (C / G), du_c = du_g / (C / G). */
export function groupMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown): MomentRowsGradient {
  if (!(saved instanceof GroupSaved)) throw typeError('saved', 'the saved state returned by groupMoments', saved);
  const { device, input, shape, groups } = saved;
  const outShape = [shape[0], groups];
  const dMeanOut = gradient('dMean', dMean, outShape, device);
  const dVarOut = gradient('dVar', dVar, outShape, device);
  const result = { dMean: device.zeros(shape), dVar: device.zeros(shape) };
  native().groupMomentsBackward({
    where: device.placement(), rows: shape[0], channels: shape[1], groups, mean: input.mean.memory(),
    dMeanOut, dVarOut, dMean: result.dMean.memory(), dVar: result.dVar.memory(),
  });
  return result;
}

// ---- add and identity --------------------------------------------------------------------------

class AddSaved {
  constructor(readonly device: CallDevice, readonly shape: [number, number], readonly bColumns: number | null, readonly noise: Noise | null) {}
}

function addOrIdentity(a: CheckedRows, b: MomentRows | null, noiseValue: unknown) {
  const { rows, shape, device } = a;
  let bColumns: number | null = null;
  if (b) {
    const checked = momentRows('b', b);
    if (checked.device.device !== device.device) throw rangeError('b', `expected tensors on '${device.device}'`);
    if (checked.shape[0] !== shape[0]) throw rangeError('b', `expected ${shape[0]} rows like a, got ${checked.shape[0]}`);
    bColumns = checked.shape[1];
    if (bColumns > shape[1] || (shape[1] - bColumns) % 2 !== 0)
      throw rangeError('b', `expected at most ${shape[1]} columns, fewer by an even number (zero-padded on both sides), got ${bColumns}`);
  }
  const noise = checkNoise(noiseValue, shape[1], device);
  const out = { mean: device.zeros(shape), var: device.zeros(shape) };
  native().addMoments({
    where: device.placement(), rows: shape[0], columns: shape[1], bColumns: bColumns ?? shape[1],
    aMean: rows.mean.memory(), aVar: rows.var.memory(), bMean: b?.mean.memory() ?? null, bVar: b?.var.memory() ?? null,
    noise: noise && vectorMemory(noise.vector, device), noiseSpread: noise ? SPREAD_CODE[noise.spread] : null,
    outMean: out.mean.memory(), outVar: out.var.memory(),
  });
  return { ...out, saved: new AddSaved(device, shape, bColumns, noise) };
}

/** A residual join: means add and variances add; b may have fewer columns (zero-padded on both sides). */
export function addMoments(a: MomentRows, b: MomentRows, options: { noise?: number | StatVector } = {}) {
  if (b === undefined || b === null) throw typeError('b', 'an object { mean, var }', b);
  return addOrIdentity(momentRows('a', a), b, options.noise);
}

/** The identity with process noise: mean' = mean, var' = var + noise. */
export function identityMoments(mean: Tensor, variance: Tensor, options: { noise: number | StatVector }) {
  if (typeof options !== 'object' || options === null || options.noise === undefined) throw typeError('noise', 'a number or a vector', options?.noise);
  return addOrIdentity(meanAndVariance(mean, variance, 'mean', 'variance'), null, options.noise);
}

/** Copies (or, for a narrower b, gathers) columns of an incoming gradient on the device. */
function gather(device: CallDevice, shape: [number, number], narrow: number, values: Memory | null): Tensor {
  const out = device.zeros([shape[0], narrow]);
  native().gatherColumns({ where: device.placement(), rows: shape[0], columns: shape[1], narrow, values, out: out.memory() });
  return out;
}

function noiseGradient(saved: AddSaved, incomingVar: Memory | null): number | Tensor | undefined {
  const { device, shape, noise } = saved;
  if (!noise) return undefined;
  const total = noise.spread === 'scalar';
  const out = device.zeros([total ? 1 : shape[1]]);
  native().columnSums({ where: device.placement(), rows: shape[0], columns: shape[1], values: incomingVar, total, out: out.memory() });
  if (!total) return out;
  const holder: { value?: number } = {};
  setScalar(holder, 'value', out, device);
  return holder.value;
}

export function addMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown) {
  if (!(saved instanceof AddSaved) || saved.bColumns === null) throw typeError('saved', 'the saved state returned by addMoments', saved);
  const { device, shape, bColumns } = saved;
  const incomingMean = gradient('dMean', dMean, shape, device);
  const incomingVar = gradient('dVar', dVar, shape, device);
  const result = {
    a: { dMean: gather(device, shape, shape[1], incomingMean), dVar: gather(device, shape, shape[1], incomingVar) },
    b: { dMean: gather(device, shape, bColumns, incomingMean), dVar: gather(device, shape, bColumns, incomingVar) },
  };
  const dNoise = noiseGradient(saved, incomingVar);
  return dNoise === undefined ? result : { ...result, dNoise };
}

export function identityMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown) {
  if (!(saved instanceof AddSaved) || saved.bColumns !== null) throw typeError('saved', 'the saved state returned by identityMoments', saved);
  const { device, shape } = saved;
  const incomingMean = gradient('dMean', dMean, shape, device);
  const incomingVar = gradient('dVar', dVar, shape, device);
  return {
    dMean: gather(device, shape, shape[1], incomingMean),
    dVar: gather(device, shape, shape[1], incomingVar),
    dNoise: noiseGradient(saved, incomingVar)!,
  };
}

// ---- normalize ---------------------------------------------------------------------------------

class NormalizeSaved {
  constructor(
    readonly device: CallDevice,
    readonly shape: [number, number],
    readonly x: MomentRows,
    readonly stats: MomentRows,
    readonly eps: number,
    readonly gamma: Memory | null,
    readonly hasBeta: boolean,
  ) {}
}

export interface NormalizeMomentsOptions {
  eps?: number;
  gamma?: StatVector;
  beta?: StatVector;
}

/** The distribution of gamma (x - mu) / sqrt(v + eps) + beta for x ~ N(x.mean, x.var), (mu, v) = stats. */
export function normalizeMoments(x: MomentRows, stats: MomentRows, options: NormalizeMomentsOptions = {}) {
  const checked = momentRows('x', x);
  const { shape, device } = checked;
  sameShape('stats.mean', stats?.mean, shape, device);
  sameShape('stats.var', stats?.var, shape, device);
  checkVarianceRows('stats.var', stats.var);
  const eps = checkEps(options.eps ?? 1e-5);
  const columns = shape[1];
  const gamma = options.gamma === undefined ? null : vectorMemory(checkVector('gamma', options.gamma, columns, `one value per column [${columns}]`, device), device);
  const beta = options.beta === undefined ? null : vectorMemory(checkVector('beta', options.beta, columns, `one value per column [${columns}]`, device), device);
  const out = { mean: device.zeros(shape), var: device.zeros(shape) };
  native().normalizeMoments({
    where: device.placement(), rows: shape[0], columns, mean: x.mean.memory(), var: x.var.memory(),
    statMean: stats.mean.memory(), statVar: stats.var.memory(), gamma, beta, eps,
    outMean: out.mean.memory(), outVar: out.var.memory(),
  });
  return { ...out, saved: new NormalizeSaved(device, shape, checked.rows, stats, eps, gamma, beta !== null) };
}

export function normalizeMomentsBackward(dMean: Tensor | null, dVar: Tensor | null, saved: unknown) {
  if (!(saved instanceof NormalizeSaved)) throw typeError('saved', 'the saved state returned by normalizeMoments', saved);
  const { device, shape, x, stats, eps, gamma } = saved;
  const zeros = () => device.zeros(shape);
  const result: {
    x: MomentRowsGradient;
    stats: MomentRowsGradient;
    dGamma?: Tensor;
    dBeta?: Tensor;
  } = { x: { dMean: zeros(), dVar: zeros() }, stats: { dMean: zeros(), dVar: zeros() } };
  if (gamma) result.dGamma = device.zeros([shape[1]]);
  if (saved.hasBeta) result.dBeta = device.zeros([shape[1]]);
  native().normalizeMomentsBackward({
    where: device.placement(), rows: shape[0], columns: shape[1], mean: x.mean.memory(), var: x.var.memory(),
    statMean: stats.mean.memory(), statVar: stats.var.memory(), gamma, eps,
    dMeanOut: gradient('dMean', dMean, shape, device), dVarOut: gradient('dVar', dVar, shape, device),
    dMean: result.x.dMean.memory(), dVar: result.x.dVar.memory(),
    dStatMean: result.stats.dMean.memory(), dStatVar: result.stats.dVar.memory(),
    dGamma: result.dGamma?.memory() ?? null, dBeta: result.dBeta?.memory() ?? null,
  });
  return result;
}

export interface MomentRowsGradient {
  dMean: Tensor;
  dVar: Tensor;
}

/** target += source, elementwise, on their device (gradient accumulation; same sizes). */
export function accumulateInto(target: Tensor, source: Tensor): void {
  if (target.size !== source.size || target.device !== source.device)
    throw rangeError('source', `expected ${target.size} values on '${target.device}', got ${source.size} on '${source.device}'`);
  const device = new CallDevice(target, undefined);
  native().accumulate({ where: device.placement(), count: target.size, source: source.memory(), target: target.memory() });
}
