/**
 * The GPU suite's cases: seeded inputs held as float64 arrays whose values the tensors store
 * exactly (float32; float16 / bfloat16 for x, residual and dy in 16-bit cases), so that the float64
 * reference, the CPU backend and the GPU all see the same numbers. runCase runs one case's forward
 * and backward on one device and brings every result back to the host; referenceResults computes
 * the same results with test/reference; expectAgrees compares them within the tolerances.
 */
import { expect } from 'chai';
import { Tensor, ops } from '../../lib';
import type { NormGradients, NormOptions, NormResult, StatVector } from '../../lib';
import { referenceBackward } from '../reference/kalman-norm-gradients';
import { Layout, ReferenceInput, geometryOf, referenceForward, unitCount } from '../reference/kalman-norm-reference';
import { assertClose } from '../util/assert-close';
import { decodeHalf, encodeHalf, halfEpsilon, roundToHalf } from '../util/half';
import { makeRandom, randomArray } from '../util/random';

export type Device = Tensor['device'];
export type DType = Tensor['dtype'];
export type Op = 'kn' | 'gkn';

export const OPS: readonly Op[] = ['kn', 'gkn'];
export const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];

/** float32 results against the float64 reference, normwise (the bounds). */
const FORWARD_RTOL = 1e-5;
const BACKWARD_RTOL = 1e-4;
/** Results the forward pass returns; every other result is a gradient. */
const FORWARD_RESULTS = new Set(['y', 'mean', 'var', 'runningMean', 'runningVar']);
/** A gradient that is analytically zero (a prior's when K = 1 or the guard fired) must stay below this. */
const ZERO_GRADIENT = 1e-6;
/** Every relu pre-activation is kept at least this far from the kink at 0, where the mask could flip. */
const KINK_MARGIN = 1e-3;

/** Everything that picks one case; absent fields take the op's defaults. */
export interface CaseSpec {
  op: Op;
  layout: Layout;
  shape: number[]; // logical [N, C, ...spatial]
  virtualBatch?: number; // KN ghost batch v; default N
  groups?: number; // GKN's G; required for GKN
  prior?: { placement: 'per unit' | 'per column'; as: 'Float32Array' | 'Tensor'; varScale?: number };
  gain?: number | 'per column'; // default 0.1
  guard?: number; // default 100
  affine?: boolean; // gamma and beta given
  epilogue?: 'none' | 'residual' | 'relu + residual';
  training?: boolean; // false: KN normalizes with running estimates; GKN computes the same as in training
  momentum?: number; // KN training: running estimates are given and updated with this momentum
  statisticGradients?: boolean; // dMean and dVar flow back as well as dy
  dtype?: DType; // of x, residual, y, dy, dx and dResidual on the GPU; default 'float32'
  seed: number;
}

export interface GpuCase {
  spec: CaseSpec;
  dtype: DType;
  input: ReferenceInput;
  upstream: { dy: Float64Array; dMean?: Float64Array; dVar?: Float64Array };
}

/** What a device returned, copied to the host as it was stored. */
export interface HostArray {
  dtype: DType;
  data: Float32Array | Uint16Array;
}

export interface DeviceResult {
  guardFired: boolean;
  /** y, mean, var, the running estimates when given, and every gradient returned (a scalar dGain as one value). */
  arrays: Map<string, HostArray>;
}

/** Results as plain numbers: the reference's, or a device's decoded. */
export interface Results {
  guardFired: boolean;
  values: Map<string, ArrayLike<number>>;
}

function product(values: readonly number[]): number {
  return values.reduce((result, value) => result * value, 1);
}

function maxAbs(values: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]));
  return largest;
}

/** The numbers a tensor of `dtype` made from `values` holds. */
function storable(values: ArrayLike<number>, dtype: DType): Float64Array {
  return dtype === 'float32' ? Float64Array.from(values, Math.fround) : roundToHalf(values, dtype);
}

/** A tensor of `dtype` on `device` holding `values` (rounded to the dtype). */
export function tensorOf(
  values: ArrayLike<number>,
  shape: readonly number[],
  options: { device: Device; dtype?: DType; layout?: Layout },
): Tensor {
  const dtype = options.dtype ?? 'float32';
  const data = dtype === 'float32' ? Float32Array.from(values) : encodeHalf(values, dtype);
  return Tensor.fromArray(data, shape, { layout: options.layout, device: options.device, dtype });
}

/** A tensor's values on the host, as stored. */
export async function readTensor(tensor: Tensor): Promise<HostArray> {
  return { dtype: tensor.dtype, data: await tensor.toArrayAsync() };
}

/** The numbers a host array holds. */
export function valuesOf(array: HostArray): ArrayLike<number> {
  return array.dtype === 'float32' ? array.data : decodeHalf(array.data as Uint16Array, array.dtype);
}

export function decodedResults(result: DeviceResult): Results {
  const values = new Map<string, ArrayLike<number>>();
  for (const [name, array] of result.arrays) values.set(name, valuesOf(array));
  return { guardFired: result.guardFired, values };
}

export function caseName(spec: CaseSpec): string {
  const parts = [`${spec.op.toUpperCase()} ${spec.layout} [${spec.shape.join(', ')}]`];
  parts.push(spec.op === 'kn' ? `v = ${spec.virtualBatch ?? spec.shape[0]}` : `G = ${spec.groups}`);
  if (spec.training === false) parts.push(spec.op === 'kn' ? 'inference with running estimates' : 'inference');
  else if (spec.op === 'kn' && spec.momentum !== undefined) parts.push(`running estimates, momentum ${spec.momentum}`);
  if (spec.prior) {
    const scale = spec.prior.varScale === undefined ? '' : `, variance x${spec.prior.varScale}`;
    parts.push(`prior ${spec.prior.placement} as ${spec.prior.as}${scale}`, `gain ${spec.gain ?? 0.1}`, `guard ${spec.guard ?? 100}`);
  } else {
    parts.push('no prior');
  }
  parts.push(spec.affine ? 'affine' : 'no affine', `epilogue ${spec.epilogue ?? 'none'}`);
  parts.push(spec.statisticGradients ? 'dy, dMean, dVar' : 'dy only');
  parts.push(spec.dtype ?? 'float32');
  return parts.join(', ');
}

/**
 * Moves residual entries whose relu pre-activation lies within KINK_MARGIN of 0 up until, rounded
 * to the dtype, they put it at least 10 margins above 0. The statistics depend on x alone, so this
 * moves exactly those pre-activations.
 */
function keepAwayFromReluKink(input: ReferenceInput, dtype: DType): void {
  const residual = input.residual;
  if (input.activation !== 'relu' || !residual) return;
  const preActivation = referenceForward({ ...input, activation: 'identity' }).y;
  preActivation.forEach((value, i) => {
    if (Math.abs(value) >= KINK_MARGIN) return;
    let moved = residual[i];
    for (let shift = 10 * KINK_MARGIN; value + (moved - residual[i]) < 10 * KINK_MARGIN; shift *= 2)
      moved = storable([residual[i] + shift], dtype)[0];
    residual[i] = moved;
  });
}

/** Seeded data for `spec`: x ~ N(2, 3^2), a prior away from the data, relu pre-activations away from 0. */
export function makeCase(spec: CaseSpec): GpuCase {
  const rng = makeRandom(spec.seed);
  const dtype = spec.dtype ?? 'float32';
  const kn = spec.op === 'kn';
  const training = spec.training ?? true;
  const [batch, channels] = spec.shape;
  const size = product(spec.shape);
  const rows = kn ? batch / (spec.virtualBatch ?? batch) : batch;
  const columns = kn ? channels : spec.groups ?? 0;
  const priorLength = spec.prior?.placement === 'per unit' ? rows * columns : columns;
  const varScale = spec.prior?.varScale ?? 1;
  const epilogue = spec.epilogue ?? 'none';
  const running = kn && (!training || spec.momentum !== undefined);

  const normal = (length: number, mean: number, std: number) => randomArray(rng, length, { mean, std });
  const uniform = (length: number, low: number, high: number) =>
    Float64Array.from({ length }, () => low + (high - low) * rng.uniform());
  const float32 = (values: Float64Array) => storable(values, 'float32');

  const input: ReferenceInput = {
    kind: spec.op,
    x: storable(normal(size, 2, 3), dtype),
    shape: spec.shape,
    layout: spec.layout,
    training,
    eps: 1e-5,
    virtualBatch: kn ? spec.virtualBatch ?? batch : undefined,
    groups: kn ? undefined : spec.groups,
    gain: spec.gain === 'per column' ? float32(uniform(columns, 0.05, 0.95)) : spec.gain ?? 0.1,
    // The prior mean sits away from the data mean, so the innovation d is far from zero.
    prior: spec.prior && {
      mean: float32(normal(priorLength, -1, 2)),
      var: float32(uniform(priorLength, varScale, 10 * varScale)),
    },
    guard: spec.guard ?? 100,
    gamma: spec.affine ? float32(normal(channels, 1, 0.5)) : undefined,
    beta: spec.affine ? float32(normal(channels, 0.5, 1)) : undefined,
    residual: epilogue === 'none' ? undefined : storable(normal(size, -1, 2), dtype),
    activation: epilogue === 'relu + residual' ? 'relu' : 'identity',
    runningMean: running ? float32(normal(channels, 0, 1)) : undefined,
    runningVar: running ? float32(uniform(channels, 0.5, 2)) : undefined,
    momentum: spec.momentum ?? 0.1,
  };
  keepAwayFromReluKink(input, dtype);
  const units = unitCount(geometryOf(input));
  const upstream: GpuCase['upstream'] = { dy: storable(normal(size, 0, 1), dtype) };
  if (spec.statisticGradients) {
    upstream.dMean = float32(normal(units, 0, 1));
    upstream.dVar = float32(normal(units, 0, 1));
  }
  return { spec, dtype, input, upstream };
}

/**
 * Forward then backward of one case on `device`, every result copied back. The CPU backend gets
 * float32 copies of the same values; the GPU gets x, residual and dy in the case's dtype.
 */
export async function runCase(testCase: GpuCase, device: Device, stream?: bigint): Promise<DeviceResult> {
  const { input, upstream, spec } = testCase;
  const dtype = device === 'cuda' ? testCase.dtype : 'float32';
  const { rows, columns, channels } = geometryOf(input);
  const dataTensor = (values: Float64Array) => tensorOf(values, input.shape, { device, dtype, layout: input.layout });
  const vectorTensor = (values: Float64Array, shape: number[]) => tensorOf(values, shape, { device });
  const priorVector = (values: Float64Array): StatVector =>
    spec.prior?.as === 'Tensor' ? vectorTensor(values, values.length === columns ? [columns] : [rows, columns]) : Float32Array.from(values);
  const optional = (values: Float64Array | undefined) => values && Float32Array.from(values);

  const common: NormOptions = {
    training: input.training,
    eps: input.eps,
    gain: typeof input.gain === 'number' ? input.gain : Float32Array.from(input.gain),
    prior: input.prior && { mean: priorVector(input.prior.mean), var: priorVector(input.prior.var) },
    guard: input.guard,
    gamma: optional(input.gamma),
    beta: optional(input.beta),
    residual: input.residual && dataTensor(input.residual),
    activation: input.activation,
  };
  if (stream !== undefined) common.stream = stream;
  const x = dataTensor(input.x);
  // Running estimates go in as tensors on the device (CUDA requires it) and are updated in place.
  const runningMean = input.runningMean && vectorTensor(input.runningMean, [channels]);
  const runningVar = input.runningVar && vectorTensor(input.runningVar, [channels]);
  const forward: NormResult =
    input.kind === 'kn'
      ? ops.kalmanNorm(x, { ...common, virtualBatch: input.virtualBatch, runningMean, runningVar, momentum: input.momentum })
      : ops.groupKalmanNorm(x, { ...common, groups: input.groups! });

  const backwardOptions = { dMean: optional(upstream.dMean), dVar: optional(upstream.dVar), stream };
  const dy = dataTensor(upstream.dy);
  const gradients: NormGradients =
    input.kind === 'kn'
      ? ops.kalmanNormBackward(dy, forward.saved, backwardOptions)
      : ops.groupKalmanNormBackward(dy, forward.saved, backwardOptions);

  const arrays = new Map<string, HostArray>();
  const tensors: [string, Tensor | undefined][] = [
    ['y', forward.y], ['mean', forward.mean], ['var', forward.var], ['runningMean', runningMean], ['runningVar', runningVar],
  ];
  const { dGain, ...gradientTensors } = gradients;
  for (const [name, tensor] of Object.entries(gradientTensors)) tensors.push([name, tensor]);
  for (const [name, tensor] of tensors) if (tensor) arrays.set(name, await readTensor(tensor));
  if (typeof dGain === 'number') arrays.set('dGain', { dtype: 'float32', data: Float32Array.of(dGain) });
  else if (dGain) arrays.set('dGain', await readTensor(dGain));
  return { guardFired: forward.guardFired, arrays };
}

/** The float64 reference's results for exactly the results a device returns for this case. */
export function referenceResults({ input, upstream }: GpuCase): Results {
  const forward = referenceForward(input);
  const values = new Map<string, ArrayLike<number>>([
    ['y', forward.y],
    ['mean', forward.mean],
    ['var', forward.var],
  ]);
  // Inference must leave the running estimates as they were; training updates them.
  if (input.runningMean) values.set('runningMean', forward.runningMean ?? input.runningMean);
  if (input.runningVar) values.set('runningVar', forward.runningVar ?? input.runningVar);
  const gradients = referenceBackward(input, upstream.dy, upstream.dMean, upstream.dVar);
  values.set('dx', gradients.dx);
  if (input.gamma) values.set('dGamma', gradients.dGamma);
  if (input.beta) values.set('dBeta', gradients.dBeta);
  for (const name of ['dPriorMean', 'dPriorVar', 'dGain', 'dResidual'] as const) {
    const gradient = gradients[name];
    if (gradient) values.set(name, gradient);
  }
  return { guardFired: forward.guardFired, values };
}

/**
 * How far a result may be from the expected one, normwise relative: float32 per the issue (1e-5
 * forward, 1e-4 backward); a 16-bit result two units in the last place of its format (rounding the
 * result to the format alone costs up to half of one).
 */
function toleranceOf(name: string, dtype: DType): number {
  if (dtype !== 'float32') return 2 * halfEpsilon(dtype);
  return FORWARD_RESULTS.has(name) ? FORWARD_RTOL : BACKWARD_RTOL;
}

/** The device returned exactly the expected results, each within its tolerance, and the same guard decision. */
export function expectAgrees(actual: DeviceResult, expected: Results, against: string): void {
  expect(actual.guardFired, `guardFired vs ${against}`).to.equal(expected.guardFired);
  expect([...actual.arrays.keys()].sort(), `results returned vs ${against}`).to.deep.equal([...expected.values.keys()].sort());
  for (const [name, array] of actual.arrays) {
    const label = `${name} (${array.dtype}) vs ${against}`;
    const values = valuesOf(array);
    const wanted = expected.values.get(name)!;
    if (maxAbs(wanted) <= ZERO_GRADIENT) {
      expect(values.length, `${label}: length`).to.equal(wanted.length);
      expect(maxAbs(values), `${label}: the expected values are zero`).to.be.at.most(ZERO_GRADIENT);
    } else {
      assertClose(values, wanted, toleranceOf(name, array.dtype), label);
    }
  }
}

/** -1 when two host arrays hold the same bits, else the first index where they differ. */
export function firstBitwiseDifference(a: HostArray, b: HostArray): number {
  if (a.dtype !== b.dtype || a.data.length !== b.data.length) return 0;
  const bits = (array: HostArray) =>
    array.data instanceof Float32Array ? new Uint32Array(array.data.buffer, array.data.byteOffset, array.data.length) : array.data;
  const aBits = bits(a);
  const bBits = bits(b);
  return aBits.findIndex((value, i) => value !== bBits[i]);
}
