// Turning the public API's arguments into checked values. Memory is resolved only when the
// addon is called (see CallDevice), so that every check runs before anything is allocated.
import { Memory, Spread } from '../binding';
import { checkNumber, checkOneOf, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { CallDevice } from './call-device';
import type { Activation, GuardStatistic } from './normalization';

/** A vector of statistics or parameters: a Float32Array or a float32 Tensor holding one. */
export type StatVector = Float32Array | Tensor;

// Scalar options that ops and layers share: one check each, so a layer rejects in its
// constructor exactly what the op would reject at the next forward.

/**
 * The smallest positive normal float32 (FLT_MIN, 2^-126). eps is read as a float32: a smaller eps
 * is subnormal or rounds to 0, and a GPU that flushes subnormals reads it as 0, so a constant
 * input would give 0/0 = NaN.
 */
export const FLOAT32_MIN_NORMAL = 2 ** -126;

// The tests and choices of the checks below, made once: every op call runs these checks.
const isEps = (v: number): boolean => Math.fround(v) >= FLOAT32_MIN_NORMAL && Number.isFinite(Math.fround(v));
const isPositive = (v: number): boolean => v > 0;
const isFraction = (v: number): boolean => v >= 0 && v <= 1;
const ACTIVATIONS = ['identity', 'relu'] as const;
const GUARD_STATISTICS = ['geometric', 'mean'] as const;

/** eps > 0 that stays a positive normal float32 (>= 2^-126) and finite once rounded to float32. */
export function checkEps(value: unknown): number {
  return checkNumber('eps', value, isEps, 'a finite number >= 2^-126 (the smallest normal float32; a smaller eps reads as 0)');
}

/** The guard threshold: > 0 (Infinity disables the guard). */
export function checkGuard(value: unknown): number {
  return checkNumber('guard', value, isPositive, 'a number > 0 (Infinity disables the guard)');
}

/** One gain for every unit: in [0, 1]. */
export function checkScalarGain(value: unknown): number {
  return checkNumber('gain', value, isFraction, 'a number in [0, 1]');
}

/** The weight of a new batch in KN's running estimates: in [0, 1]. */
export function checkMomentum(value: unknown): number {
  return checkNumber('momentum', value, isFraction, 'a number in [0, 1]');
}

export function checkActivation(value: unknown): Activation {
  return checkOneOf('activation', value, ACTIVATIONS);
}

export function checkGuardStatistic(value: unknown): GuardStatistic {
  return checkOneOf('guardStatistic', value, GUARD_STATISTICS);
}

/** A checked, live tensor (not disposed). */
export function checkTensor(name: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) throw typeError(name, 'a Tensor', value);
  if (value.disposed) throw new Error(`${name}: the tensor has been disposed`);
  return value;
}

/** A tensor that must have exactly the shape, layout, dtype and device of `like`. */
export function checkTensorLike(name: string, value: unknown, like: Tensor, likeName: string): Tensor {
  const tensor = checkTensor(name, value);
  if (tensor.device !== like.device)
    throw rangeError(name, `expected a tensor on ${likeName}'s device '${like.device}', got '${tensor.device}'`);
  if (!equalShapes(tensor.shape, like.shape))
    throw rangeError(name, `expected shape [${like.shape.join(', ')}] like ${likeName}, got [${tensor.shape.join(', ')}]`);
  if (tensor.layout !== like.layout)
    throw rangeError(name, `expected layout '${like.layout}' like ${likeName}, got '${tensor.layout}'`);
  if (tensor.dtype !== like.dtype) throw rangeError(name, `expected dtype '${like.dtype}' like ${likeName}, got '${tensor.dtype}'`);
  return tensor;
}

function equalShapes(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; ++i) if (a[i] !== b[i]) return false;
  return true;
}

/** A checked StatVector: host values (a Float32Array, or a CPU tensor's) or a device tensor. */
export interface Vector {
  host: Float32Array | null;
  tensor: Tensor | null;
  /** The shape to give gradients flowing back into it. */
  shape: readonly number[];
}

/** The vector's memory on the call's device (a Float32Array is uploaded on CUDA). */
export function vectorMemory(vector: Vector, device: CallDevice): Memory {
  return vector.tensor?.device === 'cuda' ? vector.tensor.memory() : device.upload(vector.host!);
}

/**
 * What a vector should hold, in its message ("one value per channel [64]"): the text, or a function
 * that makes it, called only to throw (ops pass one: the text would be built on every call).
 */
export type Expected = string | (() => string);

function expectedText(expected: Expected): string {
  return typeof expected === 'string' ? expected : expected();
}

/** A StatVector of exactly `length` float32 values; a Tensor must be on the call's device. */
export function checkVector(name: string, value: unknown, length: number, expected: Expected, device: CallDevice): Vector {
  if (value instanceof Float32Array) {
    if (value.length !== length) throw rangeError(name, `expected ${expectedText(expected)} (${length} values), got ${value.length}`);
    return { host: value, tensor: null, shape: [length] };
  }
  if (value instanceof Tensor) {
    checkTensor(name, value);
    if (value.device !== device.device)
      throw rangeError(name, `expected a tensor on x's device '${device.device}' or a Float32Array, got a '${value.device}' tensor`);
    if (value.dtype !== 'float32') throw rangeError(name, `expected a float32 tensor, got '${value.dtype}'`);
    if (value.size !== length)
      throw rangeError(name, `expected ${expectedText(expected)} (${length} values), got shape [${value.shape.join(', ')}]`);
    return { host: value.device === 'cpu' ? value.toArray() : null, tensor: value, shape: value.shape };
  }
  throw typeError(name, 'a Float32Array or a Tensor', value);
}

/** A StatVector given either per unit ([rows, cols]) or per column ([cols], broadcast over rows). */
export interface SpreadVector extends Vector {
  spread: Spread;
}

export function checkUnitOrColumnVector(
  name: string,
  value: unknown,
  unitShape: readonly [number, number],
  columnName: string,
  device: CallDevice,
): SpreadVector {
  const [rows, cols] = unitShape;
  const expected = (): string => `per unit [${rows}, ${cols}] or per ${columnName} [${cols}]`;
  const length = value instanceof Float32Array ? value.length : value instanceof Tensor ? value.size : -1;
  const perColumn = length === cols && !(value instanceof Tensor && value.shape.length === 2);
  const vector = checkVector(name, value, perColumn ? cols : rows * cols, expected, device);
  // Built field by field: a spread of `vector` gives the result a new hidden class on every call.
  return { host: vector.host, tensor: vector.tensor, shape: vector.shape, spread: perColumn ? 'column' : 'unit' };
}

// Value checks read host memory; a device tensor's values are not inspected (that would wait for
// the GPU), and bad values there propagate like NaN would.

// Both loop without a test function (no closure per call, no call per element) and build their
// message only to throw, with the text checkElements would give.

/** Rejects NaN and values outside [low, high]. */
export function checkVectorRange(name: string, vector: Vector, low: number, high: number): void {
  const values = vector.host;
  if (values === null) return;
  for (let i = 0; i < values.length; ++i)
    if (!(values[i] >= low && values[i] <= high)) throw rangeError(name, `expected values in [${low}, ${high}], got ${values[i]} at index ${i}`);
}

/** Rejects negative values (NaN is data and passes through, like arithmetic would). */
export function checkNonNegative(name: string, vector: Vector): void {
  const values = vector.host;
  if (values === null) return;
  for (let i = 0; i < values.length; ++i)
    if (values[i] < 0) throw rangeError(name, `expected non-negative variances, got ${values[i]} at index ${i}`);
}

/** A caller-provided float32 output tensor of exactly `shape`'s size on the call's device, or a new one. */
export function outputVector(name: string, value: unknown, shape: readonly number[], device: CallDevice): Tensor {
  return checkOutput(name, value, shape, device) ?? device.zeros(shape);
}

/** A caller-provided float32 output tensor of exactly `shape`'s size on the call's device, checked; null when not given. */
export function checkOutput(name: string, value: unknown, shape: readonly number[], device: CallDevice): Tensor | null {
  if (value === undefined) return null;
  const tensor = checkTensor(name, value);
  let size = 1;
  for (let i = 0; i < shape.length; ++i) size *= shape[i];
  if (tensor.device !== device.device) throw rangeError(name, `expected a tensor on x's device '${device.device}', got '${tensor.device}'`);
  if (tensor.dtype !== 'float32') throw rangeError(name, `expected a float32 tensor, got '${tensor.dtype}'`);
  if (tensor.size !== size)
    throw rangeError(name, `expected ${size} values (shape [${shape.join(', ')}]), got shape [${tensor.shape.join(', ')}]`);
  return tensor;
}

/** True when two tensors share any byte of memory. */
export function overlaps(a: Tensor, b: Tensor): boolean {
  const first = a.memory();
  const second = b.memory();
  if (first instanceof Float32Array && second instanceof Float32Array) {
    if (first.buffer !== second.buffer) return false;
    return first.byteOffset < second.byteOffset + second.byteLength && second.byteOffset < first.byteOffset + first.byteLength;
  }
  if (first instanceof Float32Array || second instanceof Float32Array) return false;
  return first.pointer < second.pointer + BigInt(second.bytes) && second.pointer < first.pointer + BigInt(first.bytes);
}
